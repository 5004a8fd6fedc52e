create function public.whoami() returns uuid language sql security definer set search_path = '' as 'select auth.uid()';
revoke execute on function public.whoami() from public, anon, authenticated;
