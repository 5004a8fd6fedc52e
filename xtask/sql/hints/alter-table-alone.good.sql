alter table public.notes set (fillfactor = 90);
