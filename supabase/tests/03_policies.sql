-- xtask:phases migrated, reapplied
-- The four message policies the migration swaps in, by name, and row-level security on every
-- table of public.
begin;
create extension if not exists "basejump-supabase_test_helpers";
select plan(2);
select policies_are('public', 'messages', array[
  'Users can view own messages', 'Users can insert own messages',
  'Users can update own messages', 'Users can delete own messages'
], 'messages has the migration''s four policies and no other');
select tests.rls_enabled('public');
select * from finish();
rollback;
