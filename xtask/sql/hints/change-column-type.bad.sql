alter table public.notes alter column folder_id type numeric;
