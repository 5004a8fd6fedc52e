create table public.notes (id bigint primary key, owner uuid, shared boolean);
alter table public.notes enable row level security;
create policy notes_owner on public.notes for select to authenticated using (owner = (select auth.uid()));
create policy notes_shared on public.notes for select to authenticated using (shared);
