create table public.folders (id bigint primary key);
create table public.notes (id bigint primary key, folder_id bigint references public.folders (id));
create index notes_folder_id on public.notes (folder_id);
