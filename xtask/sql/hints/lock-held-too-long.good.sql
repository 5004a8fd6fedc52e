lock table public.notes in share update exclusive mode;
