create table public.notes (id bigint primary key, owner uuid);
alter table public.notes enable row level security;
create policy own on public.notes for select to authenticated using (owner = (select auth.uid()));
create view public.recent_notes with (security_invoker = true) as select id from public.notes;
grant select on public.recent_notes to authenticated;
