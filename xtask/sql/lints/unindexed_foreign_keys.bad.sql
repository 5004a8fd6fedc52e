create table public.folders (id bigint primary key);
create table public.notes (id bigint primary key, folder_id bigint references public.folders (id));
