-- Each user reaches only their own conversations and messages; anon reaches nothing. Holds
-- before the migration, after it, after its rollback and after re-applying it.
begin;
create extension if not exists "basejump-supabase_test_helpers";
select plan(5);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
insert into public.users (auth_user_id, email)
values (tests.get_supabase_uid('alice'), 'alice@test.com'), (tests.get_supabase_uid('bob'), 'bob@test.com');
insert into public.conversations (id, user_id, auth_user_id, title)
select '00000000-0000-4000-8000-0000000000a1', u.id, u.auth_user_id, 'alice''s'
from public.users u where u.auth_user_id = tests.get_supabase_uid('alice');
insert into public.messages (conversation_id, role, content)
values ('00000000-0000-4000-8000-0000000000a1', 'user', 'hello');

select tests.authenticate_as('alice');
select is((select count(*)::int from public.conversations where id = '00000000-0000-4000-8000-0000000000a1'),
          1, 'alice sees her conversation');
select is((select count(*)::int from public.messages where conversation_id = '00000000-0000-4000-8000-0000000000a1'),
          1, 'alice sees her message');

select tests.authenticate_as('bob');
select is((select count(*)::int from public.conversations where id = '00000000-0000-4000-8000-0000000000a1'),
          0, 'bob sees none of alice''s conversations');
select is((select count(*)::int from public.messages where conversation_id = '00000000-0000-4000-8000-0000000000a1'),
          0, 'bob sees none of alice''s messages');

select tests.clear_authentication();
select is((select count(*)::int from public.messages), 0, 'anon sees no message');

select * from finish();
rollback;
