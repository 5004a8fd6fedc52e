//! The platform as it is today (Supabase changelog 45329): since 2026-10-30 a table a migration
//! creates is granted to no API role, so the client gets 403 until the migration grants it. The
//! project is the platform fixture plus one pending migration, and sometimes an app file.

use xtask::report::{Report, Status};

use crate::support::{any_backend, assert_fails_on, detail, run_local_test};

const NOTES: &str = "create table public.notes (id uuid primary key default gen_random_uuid(), \
                     user_id uuid not null references auth.users (id), body text not null);\n\
                     alter table public.notes enable row level security;\n\
                     create policy \"own notes\" on public.notes for all to authenticated \
                     using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);\n";

/// The platform fixture with `sql` pending, `config` appended to config.toml, and `app` (path,
/// text) beside `supabase/` as the app's code.
async fn run(sql: &str, config: &str, app: Option<(&str, &str)>) -> Report {
    let project = crate::support::platform_with_pending(sql, "drop table public.notes;\n", config);
    if let Some((path, text)) = app {
        let path = project.path().join(path);
        std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
        std::fs::write(path, text).expect("write app");
    }
    run_local_test(&project.path().join("supabase"), any_backend()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_table_without_grants_fails_where_the_app_uses_it_and_warns_where_nothing_does() {
    let app = ("src/notes.ts", "export const list = () => supabase\n  .from('notes')\n  .select('*');\n");
    let report = run(NOTES, "", Some(app)).await;
    assert_fails_on(&report, "api.reach.public.notes");
    let d = detail(&report, "api.reach.public.notes");
    assert!(d.contains("403") && d.contains("src/notes.ts:2") && d.contains("grant select"), "{d}");
    let platform = report.check("env.platform").expect("platform said");
    assert!(platform.value.as_deref().is_some_and(|v| v.contains("explicit")), "{platform:?}");

    let report = run(NOTES, "", None).await;
    let reach = report.check("api.reach.public.notes").expect("judged");
    assert_eq!(reach.status, Status::Warn, "{reach:?}");
    assert!(reach.detail.as_deref().is_some_and(|d| d.contains("private")), "{reach:?}");

    // Granted, as a migration written for today's platform does: reachable, and RLS decides.
    let granted = format!("{NOTES}grant select, insert, update, delete on public.notes to authenticated;\n");
    let report = run(&granted, "", Some(app)).await;
    let reach = report.check("api.reach.public.notes").expect("judged");
    assert_eq!(reach.status, Status::Pass, "{reach:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_that_kept_automatic_grants_says_so_in_its_config() {
    let report = run(NOTES, "\n[xtask]\nplatform = \"2024\"\n", Some(("app/main.js", "db.from(\"notes\")\n"))).await;
    let reach = report.check("api.reach.public.notes").expect("judged");
    assert_eq!(reach.status, Status::Pass, "{reach:?}");
    assert!(reach.value.as_deref().is_some_and(|v| v.contains("anon: select")), "{reach:?}");
    let platform = report.check("env.platform").expect("platform said");
    assert!(platform.value.as_deref().is_some_and(|v| v.starts_with("2024")), "{platform:?}");
}
