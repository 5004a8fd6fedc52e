create table public.folders (id bigint primary key, owner_id uuid not null references auth.users (id));
create table public.notes (id bigint primary key, folder_id bigint not null references public.folders (id),
  owner_id uuid not null references auth.users (id));
