create table public.notes (id bigint primary key);
revoke all on public.notes from anon, authenticated;
