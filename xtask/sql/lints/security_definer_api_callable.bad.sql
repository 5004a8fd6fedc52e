create function public.whoami() returns uuid language sql security definer set search_path = '' as 'select auth.uid()';
