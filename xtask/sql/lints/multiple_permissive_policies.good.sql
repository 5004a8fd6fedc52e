create table public.notes (id bigint primary key, owner uuid, shared boolean);
alter table public.notes enable row level security;
create policy notes_visible on public.notes for select to authenticated using (shared or owner = (select auth.uid()));
