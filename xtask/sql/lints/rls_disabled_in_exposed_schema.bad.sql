create table public.notes (id bigint primary key);
grant select on public.notes to anon;
