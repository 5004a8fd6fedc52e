alter table public.notes add column folder_ref numeric;
