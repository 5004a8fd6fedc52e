create function public.bump() returns int language sql security definer set search_path = '' as 'select 1';
revoke execute on function public.bump() from public, anon;
grant execute on function public.bump() to authenticated;
-- A trigger function keeps its default EXECUTE grant, yet nobody can call it directly.
create function public.stamp() returns trigger language plpgsql security definer set search_path = '' as $$
begin
  return new;
end
$$;
