alter table public.notes alter column folder_id set not null;
