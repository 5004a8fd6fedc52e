create table public.notes (id bigint primary key, owner uuid);
alter table public.notes enable row level security;
create materialized view public.notes_per_owner as select owner, count(*) from public.notes group by owner;
grant select on public.notes_per_owner to authenticated;
