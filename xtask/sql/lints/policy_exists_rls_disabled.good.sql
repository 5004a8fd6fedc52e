create table public.notes (id bigint primary key, owner uuid);
alter table public.notes enable row level security;
create policy notes_owner on public.notes for select using (owner = (select auth.uid()));
