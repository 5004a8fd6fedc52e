create unique index concurrently notes_id_folder_key on public.notes (id, folder_id);
