-- xtask:phases migrated, reapplied
-- add_message refuses anon and other users' conversations: what the migration fixes (the
-- baseline's add_message checks neither), so this file holds only once it is applied.
begin;
create extension if not exists "basejump-supabase_test_helpers";
select plan(3);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
insert into public.users (auth_user_id, email)
values (tests.get_supabase_uid('alice'), 'alice@test.com'), (tests.get_supabase_uid('bob'), 'bob@test.com');
insert into public.conversations (id, user_id, auth_user_id, title)
select '00000000-0000-4000-8000-0000000000a2', u.id, u.auth_user_id, 'alice''s'
from public.users u where u.auth_user_id = tests.get_supabase_uid('alice');

select tests.authenticate_as('bob');
select throws_ok($$ select public.add_message('00000000-0000-4000-8000-0000000000a2', 'user', 'not yours') $$,
                 '42501', null, 'bob cannot add a message to alice''s conversation');

select tests.authenticate_as('alice');
select lives_ok($$ select public.add_message('00000000-0000-4000-8000-0000000000a2', 'user', 'mine') $$,
                'alice adds a message to her conversation');

select tests.clear_authentication();
select throws_ok($$ select public.add_message('00000000-0000-4000-8000-0000000000a2', 'user', 'anon') $$,
                 '42501', null, 'anon cannot call add_message');

select * from finish();
rollback;
