//! Every check id a command can emit, with what it means: the stable part of the `--json`
//! report. `<placeholders>` stand for one or more dot-separated parts (a version, a table such as
//! `public.messages`, a check file's id). A test asserts every id the commands emit is listed
//! here, and `CHECKS.md` is generated from this table.

/// (id pattern, meaning).
pub const CHECK_IDS: &[(&str, &str)] = &[
    // Environment and plan (every local command).
    ("env.postgres", "which Postgres backend was started, and why it was chosen"),
    ("env.supabase_layer", "the Supabase platform layer (roles, auth schema, extensions) was installed"),
    ("env.access_token_hook", "the custom access-token hook that shapes the personas' claims (or why it cannot)"),
    ("env.migration_role", "migrations run as hosted Supabase's postgres (not a superuser), or why not"),
    ("env.postgres_major", "the Postgres major is config.toml's [db] major_version (else the run stops, or warns)"),
    ("target.grants_model", "the target's default privileges (automatic or explicit Data API grants) match the local model"),
    ("env.platform", "which hosted Supabase the run reproduces (automatic or explicit Data API grants), and why"),
    ("data.roles_sql", "the project's supabase/roles.sql loaded before the migrations"),
    ("data.generate.after_pending", "rows generated for the tables the pending migrations add"),
    ("data.seed_sql.after_pending", "seed files that need the pending migrations loaded after them"),
    ("plan.baseline", "migrations treated as already in production"),
    ("plan.pending", "migrations under test; fails when there are none"),
    ("runner.order", "the CLI's file-name order differs from numeric version order"),
    ("runner.skipped.<file>", "a file under migrations/ the supabase CLI skips (bad name)"),
    ("runner.dangerous_name.<file>", "a file named like a rollback that the CLI would apply as a migration"),
    ("baseline.apply", "the baseline migrations apply"),
    ("app.contract", "the app's tables and RPCs exist (else the app steps are skipped)"),
    ("data.generate", "the app's deterministic test data loaded"),
    ("data.seed_sql", "the project's seed files ([db.seed] sql_paths, or seed.sql) loaded after the baseline"),
    // The project's checks (checks/<phase>/*.sql).
    ("tests.<phase>", "supabase/tests/ exists but holds no test file"),
    (
        "tests.<phase>.<file>",
        "a pgTAP file of supabase/tests/ holds at a phase (baseline, migrated, rolled_back, reapplied)",
    ),
    ("<phase>.checks", "a phase of checks had no files, or could not run"),
    ("pre.<check>", "a pre-migration check of checks/pre (runbook phase 1)"),
    ("post.<check>", "a post-migration check of checks/post (runbook 3.4)"),
    ("reapply.post.<check>", "a post check after the rollback and re-apply"),
    // Applying and rolling back.
    ("pending.apply.<version>", "a pending migration applies (NOTICEs in the detail)"),
    ("reapply.apply.<version>", "a pending migration applies again after its rollback"),
    (
        "backfill.idempotent.<version>",
        "a batched backfill (`-- xtask:backfill`), run again in full, changes nothing: an interrupted run resumes safely",
    ),
    ("rollback.apply.<version>", "a rollback script applies and removes its history row"),
    ("rollback.script.<version>", "a pending migration has a rollback script"),
    ("rollback.plan", "migrations db-rollback will roll back, newest first"),
    (
        "rollback.stays",
        "what db-rollback leaves applied; fails when a missing script in the middle strands versions that have one",
    ),
    ("rollback.step.<version>", "the rollback of one pending file, alone, restores the state before it"),
    ("rollback.step.reapply.<version>", "a pending file applies again after its own rollback (stepwise proof)"),
    ("rollback.stepwise", "every rollback is right on its own, not only together with the others"),
    ("rollback.history", "history rows of the rolled-back versions are gone"),
    ("rollback.catalog", "the catalog after rollback equals the catalog before the migration"),
    ("rollback.kept.<object>", "an object a rollback declares it keeps (`-- xtask:keeps`)"),
    ("rollback.data", "rows that existed before the migration are unchanged after rollback"),
    ("rollback.data.new_rows", "rows added since are the app smoke's own"),
    ("rollback.leftovers", "nothing the rolled-back migrations added is left on the target"),
    ("rollback.rls.door.<relation>", "after rollback, a view or materialized view shows what it did before"),
    ("rollback.rls.rpc.<function>", "after rollback, a function changed by the rollback returns only what RLS allows"),
    ("rollback.rls.<table>", "who reaches what after rollback equals before the migration"),
    ("snapshot.before", "catalog and data snapshot taken before the migration"),
    // App smoke and probes.
    ("smoke.<step>", "a step of the app smoke (sign up, create, send, read back, isolation)"),
    ("smoke.<state>.<step>", "a step of the app smoke at one state of the rollback proof"),
    ("rpc.<probe>", "an RPC call the app's functions must refuse"),
    // Row-level security.
    ("rls.state.<state>", "the access matrix and lints of one state were computed"),
    ("rls.matrix.declared_widening.<table>", "a migration declares that access to a table widens"),
    ("rls.matrix.declared_narrowing.<table>", "a migration declares that access to a table narrows"),
    ("rls.matrix.untracked.<table>", "an RLS table without a primary key the matrix cannot track"),
    ("proof.coverage", "of the project's tables, how many had rows to prove on; a table a pending migration names without rows fails"),
    ("data.loss", "every row present before the pending migrations is still there"),
    ("data.loss.<table>", "rows of a table present before the pending migrations are gone (undeclared: fails)"),
    ("runner.duplicate_version.<file>", "a migration shares its version with an earlier file (the CLI applies one of them)"),
    ("rls.matrix.door.<relation>", "a view, materialized view or foreign table shows each persona only what RLS does"),
    (
        "api.reach.<object>",
        "a table, view or function the pending migrations add or change is reachable by an API role, or why not",
    ),
    ("rls.matrix.rpc.<function>", "a function the pending migrations add or change returns and changes only what RLS allows"),
    ("rls.matrix.<table>", "who can read and write a table is unchanged (or the change is declared)"),
    ("lint.<lint>", "a Supabase-style lint (xtask/sql/lints/<lint>.sql): new findings at its severity"),
    // Production target.
    ("session.read_only", "the validation session cannot write"),
    ("session.connections", "how many connections a push opened to its target (pg_dump's aside)"),
    ("session.encryption", "the session to the target is encrypted (TLS version and cipher)"),
    ("drift.missing_locally", "versions applied on the target that are missing locally"),
    ("drift.out_of_order", "local versions older than the target's newest that the target lacks"),
    ("drift.edited_after_apply", "migrations whose text changed after they were applied"),
    ("drift.unrecorded_text", "applied migrations whose text the target's history does not hold"),
    ("drift.pending", "local migrations not yet applied on the target"),
    (
        "target.invalid_indexes",
        "no index on the target is invalid (a failed CONCURRENTLY build leaves one that serves and enforces nothing)",
    ),
    ("estimate.backfill", "backfill time and WAL on the target, from the rehearsal's throughput"),
    (
        "interrupt.committed",
        "what an interrupted push or rollback committed (versions applied or rolled back), in its record",
    ),
    ("interrupt.backfill", "the batches and rows an interrupted backfill committed (a rerun resumes)"),
    ("backup.gitignore", "the backups folder is ignored by git (a warning with the line to add when it is not)"),
    ("backup.taken", "roles, schema and data written with a SHA-256 manifest"),
    ("backup.checksums", "backup files match their manifest"),
    ("backup.restore", "the backup restores into an ephemeral Postgres"),
    ("backup.row_counts", "restored row counts equal those recorded"),
    ("backup.catalog", "restored catalog equals the one recorded"),
    ("push.backup", "a verified backup of this target, younger than --max-backup-age"),
    ("push.plan", "migrations to push, each with a rollback script"),
    ("push.query_speed", "the app's timed queries on the target before and after the push, as a signed-in user"),
    (
        "push.query_expect.<query>",
        "a supabase/queries/ file's expectations (index scan, no join, under a time) hold on the target after the push",
    ),
    ("suppress.<file>.<line>", "an `-- xtask:ignore <check-id> <reason>` without a reason, or that silences nothing"),
    ("branch.base", "--base: the base, its merge base with HEAD, and the migration files the branch adds (pending)"),
    ("branch.edited.<version>", "a migration the base already has is edited or deleted by the branch (edited after merge)"),
    (
        "branch.out_of_order.<version>",
        "a migration the branch adds is older than the base's newest: supabase db push refuses it without --include-all",
    ),
    ("lint.static", "squawk's rules and ours on the pending files, without a database (db-lint); warns when nothing is pending"),
    (
        "lint.static.<rule>.<version>.<line>",
        "a static finding (squawk's rule, or ours: xtask-auth-call-per-row, xtask-security-definer-search-path, xtask-grant-to-anon, xtask-ignore-without-reason): file:line:column, the statement, the fix",
    ),
    // db-rollback-new (then db-rollback-test's checks, proving what it wrote).
    ("rollback_new.plan", "the migrations whose rollback script db-rollback-new writes, and why those"),
    ("rollback_new.apply.<version>", "a pending file applies on the ephemeral database the rollback is generated on"),
    ("rollback_new.write.<version>", "the rollback script written (warns with what it cannot undo, also in its header)"),
    ("push.watch_baseline", "what Postgres recorded on the target just before the push, saved for db-watch"),
    ("push.watch_promises", "the timed queries right after the push, saved for db-watch to hold the push to"),
    ("watch.baseline", "the baseline db-watch compares with (db-push's, or its own first sample: a warning)"),
    ("watch.statements", "pg_stat_statements is not installed on the target: statement times are not watched"),
    ("watch.windows", "every window of db-watch stayed within its thresholds (warns when no transaction ran)"),
    ("watch.record", "where the watch's summary was written: the push's record of the baseline's versions, else a record of its own"),
    ("watch.rollback_rate", "more than 5% of a window's transactions rolled back"),
    ("watch.deadlocks", "a deadlock in a window"),
    ("watch.lock_waits", "a session waited on a lock longer than --max-blocking"),
    ("watch.seq_scans.<table>", "sequential scans of a table the push changed, reading many rows, far more often than before"),
    ("watch.slowdown.<table>", "statements naming a changed table slower than before the push by more than --max-slowdown"),
    ("watch.promises", "the queries re-timed every window (supabase/queries/ and db-push's after-push times), or why none are"),
    ("watch.query_expect.<query>", "a supabase/queries/ file's expectation broken after the push (a lost or invalid index)"),
    ("watch.promise.<query>", "a query slower than right after the push by more than --max-slowdown"),
    ("push.record", "the record of this push in supabase/migration-log/ (Markdown and JSON)"),
    ("rollback.record", "the record of this rollback in supabase/migration-log/ (Markdown and JSON)"),
    ("push.stage.<n>", "linked mode around batched backfills: the n-th step, a supabase db push of the files before one"),
    ("push.apply", "supabase db push (linked mode)"),
    ("push.apply.<version>", "a migration pushed by our runner (direct mode)"),
    ("push.rollback_command", "the command that rolls the push back"),
    ("push.refused", "why the push did not start"),
    ("steps.remaining", "steps not run because an earlier one failed"),
    // Rehearsal.
    ("rehearse.like", "production's row counts, read-only (--like)"),
    ("rehearse.data", "production-shaped data loaded"),
    ("rehearse.latency", "the workload of a signed-in user while the pending files ran (warns when none could run)"),
    ("rehearse.latency.<version>", "the app's requests during one pending file: p50/p99/max, errors by SQLSTATE; fails past --max-blocking"),
    ("rehearse.latency_plot", "request latency over time with the files as bands (SVG next to --summary)"),
    ("rehearse.apply.<version>", "a pending migration applies under the tracer"),
    (
        "rehearse.blocking.<version>.<line>.<table>",
        "a statement holds a lock the app waits for longer than --max-blocking",
    ),
    (
        "rehearse.row_blocking.<version>.<line>.<table>",
        "a statement holds row locks the app's updates and deletes of existing rows wait on longer than --max-blocking",
    ),
    ("rehearse.evidence", "each static finding of a pending file with what the rehearsal measured for its statement"),
    ("rehearse.lock_trace", "every pending statement's locks, hold times, rows, WAL and rewrites"),
    ("rehearse.query_speed", "the app's queries before and after, as a signed-in user"),
    ("rehearse.query_expect.<query>", "a supabase/queries/ file's expectations hold after the rehearsed migration"),
    ("rehearse.backfill", "backfill throughput, written to rehearsal.json"),
    // Housekeeping.
    ("clean.native_clusters", "leftover native clusters removed"),
    ("clean.containers", "leftover labelled containers removed"),
    ("bench.<backend>", "a backend the benchmark skipped"),
    ("bench.ready.<backend>", "time until a backend's Postgres answers queries"),
    ("bench.db_local_test.<backend>", "db-local-test wall time"),
    ("bench.db_rollback_test.<backend>", "db-rollback-test wall time"),
    ("bench.seed", "seeding speed"),
    ("bench.rehearse.<messages>", "a rehearsal at that many messages"),
];

/// The registry entry `id` belongs to.
pub fn meaning(id: &str) -> Option<&'static str> {
    CHECK_IDS.iter().find(|(pattern, _)| matches(pattern, id)).map(|(_, m)| *m)
}

/// Whether `id` fits `pattern`, each `<placeholder>` standing for one or more non-empty parts.
fn matches(pattern: &str, id: &str) -> bool {
    let pat: Vec<&str> = pattern.split('.').collect();
    let parts: Vec<&str> = id.split('.').collect();
    fn go(pat: &[&str], parts: &[&str]) -> bool {
        match (pat.first(), parts.first()) {
            (None, None) => true,
            (Some(p), Some(_)) if p.starts_with('<') => (1..=parts.len()).any(|n| go(&pat[1..], &parts[n..])),
            (Some(p), Some(x)) => p == x && go(&pat[1..], &parts[1..]),
            _ => false,
        }
    }
    parts.iter().all(|p| !p.is_empty()) && go(&pat, &parts)
}

/// The registry as a markdown table (`CHECKS.md`).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Check ids\n\nEvery id a command can put in its report (`--json`), generated from \
         `xtask/src/report/check_ids.rs`. `<placeholders>` stand for one or more dot-separated parts.\n\n\
         | id | meaning |\n|---|---|\n",
    );
    for (id, meaning) in CHECK_IDS {
        out.push_str(&format!("| `{id}` | {meaning} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_take_one_or_more_parts() {
        let cases = [
            ("rls.matrix.<table>", "rls.matrix.public.notes", true),
            ("rls.matrix.<table>", "rls.matrix", false),
            ("rehearse.blocking.<version>.<line>.<table>", "rehearse.blocking.1.5.public.t", true),
            ("pre.<check>", "pre.orphaned_messages", true),
            ("pre.<check>", "post.orphaned_messages", false),
            ("plan.pending", "plan.pending.x", false),
            ("smoke.<step>", "smoke..x", false),
        ];
        for (pattern, id, expected) in cases {
            assert_eq!(matches(pattern, id), expected, "{pattern} ~ {id}");
        }
    }

    #[test]
    fn the_most_specific_pattern_comes_first_where_two_match() {
        assert_eq!(
            meaning("rls.matrix.declared_widening.public.notes"),
            Some("a migration declares that access to a table widens")
        );
        assert!(meaning("reapply.post.checks").is_some());
        assert!(meaning("no.such.check").is_none());
    }
}
