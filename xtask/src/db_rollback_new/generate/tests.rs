use super::*;

fn snapshot(objects: &[(&str, &[(&str, &str)])]) -> CatalogSnapshot {
    CatalogSnapshot {
        objects: objects
            .iter()
            .map(|(n, attrs)| (n.to_string(), attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()))
            .collect(),
    }
}

const TABLE: (&str, &[(&str, &str)]) = ("table public.t", &[("kind", "table"), ("rls_enabled", "true")]);
const ID: (&str, &[(&str, &str)]) = ("column public.t.id", &[("type", "uuid"), ("not_null", "true")]);

type Objects<'a> = Vec<(&'a str, &'a [(&'a str, &'a str)])>;
type Case<'a> = (&'a str, Objects<'a>, Objects<'a>, DataChange, Vec<&'a str>, usize);

const OPEN: (&str, &[(&str, &str)]) =
    ("policy own on public.t", &[("command", "SELECT"), ("roles", "authenticated"), ("using", "true")]);

fn check(cases: Vec<Case>) {
    for (what, before, after, data, statements, irreversible) in cases {
        let g = rollback(&snapshot(&before), &snapshot(&after), &BTreeMap::new(), &data, false);
        assert_eq!(g.statements, statements, "{what}");
        assert_eq!(g.irreversible.len(), irreversible, "{what}: {:?}", g.irreversible);
    }
}

#[test]
fn structure_changes_are_undone_or_said() {
    let policy = |using: &str| -> (&'static str, Vec<(&'static str, String)>) {
        (
            "policy own on public.t",
            vec![("command", "SELECT".into()), ("roles", "authenticated".into()), ("using", using.into())],
        )
    };
    let (p_name, p_old) = policy("(owner = auth.uid())");
    let p_old: Vec<(&str, &str)> = p_old.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, p_new) = policy("true");
    let p_new: Vec<(&str, &str)> = p_new.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let idx = ("index public.t_key", &[("definition", "CREATE UNIQUE INDEX t_key ON public.t USING btree (id)")][..]);
    check(vec![
        (
            "an added column is dropped, and its values said lost",
            vec![TABLE, ID],
            vec![TABLE, ID, ("column public.t.note", &[("type", "text")])],
            DataChange::default(),
            vec!["ALTER TABLE public.t DROP COLUMN IF EXISTS note;"],
            1,
        ),
        (
            "a changed policy is created again as it was",
            vec![TABLE, (p_name, &p_old)],
            vec![TABLE, (p_name, &p_new)],
            DataChange::default(),
            vec![
                "DROP POLICY IF EXISTS own ON public.t;",
                "CREATE POLICY own ON public.t AS PERMISSIVE FOR SELECT TO authenticated USING ((owner = auth.uid()));",
            ],
            0,
        ),
        (
            "a dropped index is built again",
            vec![TABLE, idx],
            vec![TABLE],
            DataChange::default(),
            vec!["CREATE UNIQUE INDEX IF NOT EXISTS t_key ON public.t USING btree (id);"],
            0,
        ),
        (
            "a constraint that took an existing index gives it back",
            vec![TABLE, idx],
            vec![TABLE, idx, ("constraint t_key on public.t", &[("definition", "UNIQUE (id)")])],
            DataChange::default(),
            vec![
                "ALTER TABLE public.t DROP CONSTRAINT IF EXISTS t_key;",
                "CREATE UNIQUE INDEX IF NOT EXISTS t_key ON public.t USING btree (id);",
            ],
            0,
        ),
        (
            "a new default, NOT NULL and RLS off are put back",
            vec![("table public.t", &[("kind", "table"), ("rls_enabled", "true")]), ID],
            vec![
                ("table public.t", &[("kind", "table"), ("rls_enabled", "false")]),
                ("column public.t.id", &[("type", "uuid"), ("not_null", "false"), ("default", "gen_random_uuid()")]),
            ],
            DataChange::default(),
            vec![
                "ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;",
                "ALTER TABLE public.t ALTER COLUMN id DROP DEFAULT;",
                "ALTER TABLE public.t ALTER COLUMN id SET NOT NULL;",
            ],
            0,
        ),
    ]);
}

#[test]
fn new_objects_labels_and_data_are_undone_or_said() {
    let mut cases: Vec<Case> = vec![
        (
            "a new table goes with what lives on it",
            vec![],
            vec![TABLE, ID, OPEN],
            DataChange::default(),
            vec!["DROP TABLE IF EXISTS public.t;"],
            1,
        ),
        (
            "an enum label cannot be dropped: said",
            vec![("type public.mood", &[("kind", "enum"), ("labels", "sad, ok")])],
            vec![("type public.mood", &[("kind", "enum"), ("labels", "sad, ok, happy")])],
            DataChange::default(),
            vec![],
            1,
        ),
        (
            "a backfilled column is emptied again; other changed rows are said",
            vec![TABLE, ID, ("column public.t.owner", &[("type", "uuid")])],
            vec![TABLE, ID, ("column public.t.owner", &[("type", "uuid")])],
            DataChange {
                filled: vec!["public.t.owner".into()],
                rows: vec![("public.u".into(), 3, 0)],
                ..DataChange::default()
            },
            vec!["UPDATE public.t SET owner = NULL WHERE owner IS NOT NULL;"],
            2,
        ),
    ];
    cases.push((
        "a new table's key and unique indexes go with it",
        vec![],
        vec![
            TABLE,
            ("constraint t_pkey on public.t", &[("definition", "PRIMARY KEY (id)")]),
            ("index public.t_pkey", &[("definition", "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)")]),
        ],
        DataChange::default(),
        vec!["DROP TABLE IF EXISTS public.t;"],
        1,
    ));
    cases.push((
        "a row the file inserted is deleted, a cron job unscheduled",
        vec![TABLE, ID],
        vec![TABLE, ID],
        DataChange {
            added: vec![
                ("cron.job".into(), vec!["jobname".into()], "nightly".into()),
                ("storage.buckets".into(), vec!["id".into()], "avatars".into()),
            ],
            ..DataChange::default()
        },
        vec![
            "DELETE FROM storage.objects WHERE bucket_id = 'avatars';",
            "DELETE FROM storage.buckets WHERE id::text = 'avatars';",
            "SELECT cron.unschedule('nightly');",
        ],
        1,
    ));
    check(cases);
}

#[test]
fn a_dropped_table_or_column_comes_back_empty_and_says_what_would_have_kept_it() {
    let note = ("column public.t.a_note", &[("type", "text"), ("not_null", "true"), ("position", "2")][..]);
    const ID: (&str, &[(&str, &str)]) = ("column public.t.id", &[("type", "uuid"), ("position", "1")]);
    let none = DataChange::default();
    let g = rollback(&snapshot(&[TABLE, ID, note]), &snapshot(&[]), &BTreeMap::new(), &none, false);
    assert_eq!(g.statements[0], "CREATE TABLE public.t ();");
    // In their old order (id before a_note), not by name.
    assert_eq!(
        g.statements[2..4],
        ["ALTER TABLE public.t ADD COLUMN id uuid;", "ALTER TABLE public.t ADD COLUMN a_note text NOT NULL;"]
    );
    assert!(g.statements.contains(&"ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;".to_string()), "{g:?}");
    assert!(g.irreversible.len() == 1 && g.irreversible[0].contains("rename it in this file"), "{g:?}");
    // A column of a table that stays: restored empty, nullable, and said.
    let g = rollback(&snapshot(&[TABLE, ID, note]), &snapshot(&[TABLE, ID]), &BTreeMap::new(), &none, false);
    assert_eq!(g.statements, ["ALTER TABLE public.t ADD COLUMN a_note text;"]);
    assert!(g.irreversible[0].contains("then SET NOT NULL") && g.irreversible[0].contains("reversible instead"));
}

#[test]
fn a_replaced_function_gets_its_body_back_and_keeps_its_grants() {
    let name = "function public.f()";
    let was: &[(&str, &str)] = &[("returns", "integer"), ("body", "select 1"), ("execute_grants", "authenticated")];
    let now: &[(&str, &str)] =
        &[("returns", "integer"), ("body", "select 2"), ("execute_grants", "anon, authenticated")];
    let def =
        "CREATE OR REPLACE FUNCTION public.f()\n RETURNS integer\n LANGUAGE sql\nAS $function$select 1$function$\n";
    let functions = BTreeMap::from([(name.to_string(), def.to_string())]);
    let g = rollback(&snapshot(&[(name, was)]), &snapshot(&[(name, now)]), &functions, &DataChange::default(), false);
    assert_eq!(
        g.statements,
        [format!("{};", def.trim_end()), "REVOKE EXECUTE ON ROUTINE public.f() FROM anon;".into()]
    );
    // Dropped by the file: created again, and the default EXECUTE for PUBLIC taken back.
    let g = rollback(&snapshot(&[(name, was)]), &snapshot(&[]), &functions, &DataChange::default(), true);
    assert_eq!(
        g.statements[1..],
        ["REVOKE EXECUTE ON ROUTINE public.f() FROM PUBLIC;", "GRANT EXECUTE ON ROUTINE public.f() TO authenticated;"]
    );
}

#[test]
fn default_privileges_and_column_grants_go_back() {
    let key = "default privileges for postgres in public on tables";
    let was: &[(&str, &str)] = &[("grants", "authenticated:SELECT")];
    let now: &[(&str, &str)] = &[("grants", "anon:SELECT, authenticated:SELECT")];
    let none = DataChange::default();
    let g = rollback(&snapshot(&[(key, was)]), &snapshot(&[(key, now)]), &BTreeMap::new(), &none, false);
    assert_eq!(
        g.statements,
        ["ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public REVOKE SELECT ON TABLES FROM anon;"]
    );
    // Added by the file: every grant it gives is taken back.
    let g = rollback(&snapshot(&[]), &snapshot(&[(key, now)]), &BTreeMap::new(), &none, false);
    assert_eq!(g.statements.len(), 2, "{g:?}");
    let column = "column public.t.body";
    let was: &[(&str, &str)] = &[("type", "text")];
    let now: &[(&str, &str)] = &[("type", "text"), ("grants", "authenticated:UPDATE")];
    let g = rollback(
        &snapshot(&[TABLE, (column, was)]),
        &snapshot(&[TABLE, (column, now)]),
        &BTreeMap::new(),
        &none,
        false,
    );
    assert_eq!(g.statements, ["REVOKE UPDATE (body) ON TABLE public.t FROM authenticated;"]);
}

#[test]
fn dropped_types_extensions_and_sequences_come_back() {
    let none = DataChange::default();
    let before: Objects = vec![
        ("type public.mood", &[("kind", "enum"), ("labels", "sad, ok")]),
        ("extension citext", &[("schema", "extensions"), ("version", "1.6")]),
        ("table public.counter", &[("kind", "sequence")]),
    ];
    let g = rollback(&snapshot(&before), &snapshot(&[]), &BTreeMap::new(), &none, false);
    assert_eq!(
        g.statements,
        [
            "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA extensions;",
            "CREATE TYPE public.mood AS ENUM ('sad', 'ok');",
            "CREATE SEQUENCE public.counter;",
        ]
    );
    assert_eq!(g.irreversible.len(), 1, "the sequence counts from 1 again: {g:?}");
}

#[test]
fn identity_changes_go_back() {
    let none = DataChange::default();
    let column = "column public.t.id";
    let plain: &[(&str, &str)] = &[("type", "bigint"), ("identity", "")];
    let always: &[(&str, &str)] = &[("type", "bigint"), ("identity", "a")];
    let by_default: &[(&str, &str)] = &[("type", "bigint"), ("identity", "d")];
    let run = |was, now| {
        rollback(&snapshot(&[TABLE, (column, was)]), &snapshot(&[TABLE, (column, now)]), &BTreeMap::new(), &none, false)
    };
    assert_eq!(run(plain, always).statements, ["ALTER TABLE public.t ALTER COLUMN id DROP IDENTITY IF EXISTS;"]);
    let g = run(always, plain);
    assert_eq!(g.statements, ["ALTER TABLE public.t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;"]);
    assert!(g.irreversible[0].contains("setval"), "{g:?}");
    assert_eq!(run(always, by_default).statements, ["ALTER TABLE public.t ALTER COLUMN id SET GENERATED ALWAYS;"]);
}
