alter table public.notes add constraint notes_folder_fk foreign key (folder_id) references public.folders (id);
