create table public.notes (id bigint primary key, owner uuid not null);
alter table public.notes enable row level security;
create policy notes_owner on public.notes for select to authenticated using (owner = auth.uid());
