alter table public.notes add constraint notes_folder_id_not_null check (folder_id is not null) not valid;
