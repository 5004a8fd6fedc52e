create function public.bump() returns int language sql security definer as 'select 1';
