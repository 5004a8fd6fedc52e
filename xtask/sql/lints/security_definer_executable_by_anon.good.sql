create function public.bump() returns int language sql security definer set search_path = '' as 'select 1';
revoke execute on function public.bump() from public, anon;
grant execute on function public.bump() to authenticated;
