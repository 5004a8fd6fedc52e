lock table public.notes in exclusive mode;
