create index concurrently notes_folder_id on public.notes (folder_id);
