create table public.notes (id bigint primary key, owner uuid);
alter table public.notes enable row level security;
create policy own on public.notes for select to authenticated using (owner = (select auth.uid()));
create function public.all_notes() returns setof public.notes language sql security invoker set search_path = ''
  as 'select * from public.notes';
grant execute on function public.all_notes() to authenticated;
