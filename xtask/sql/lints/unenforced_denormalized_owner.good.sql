create table public.folders (id bigint primary key, owner_id uuid not null, unique (id, owner_id));
create table public.notes (id bigint primary key, folder_id bigint not null references public.folders (id), owner_id uuid not null,
  foreign key (folder_id, owner_id) references public.folders (id, owner_id));
-- Same name, nothing showing a copy (no shared reference, no policy on it): not a finding.
create table public.tags (id bigint primary key, owner_id uuid);
create table public.note_tags (id bigint primary key, tag_id bigint references public.tags (id), owner_id uuid);
