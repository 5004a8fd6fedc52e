create table public.notes (id bigint primary key);
