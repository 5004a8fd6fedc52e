create function public.bump() returns int language sql security definer set search_path = '' as 'select 1';
