alter table public.notes add constraint notes_id_folder_key unique (id, folder_id);
