alter table public.notes add column archived boolean;
