//! The report as people read it: a whole db-local-test run rendered into a buffer and
//! snapshotted (uuids, timings and server-chosen names filtered), and the check-id registry
//! kept in step with CHECKS.md.

use xtask::report::{
    check_ids,
    render::{self, Colors},
};

use crate::support::{any_backend, our_supabase_dir, run_local_test};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_local_test_report_reads_the_same_every_run() {
    let report = run_local_test(&our_supabase_dir(), any_backend()).await;
    let mut buf = Vec::new();
    render::report(&mut buf, &report, Colors::Off).expect("render");
    let text = String::from_utf8(buf).expect("utf8");
    insta::with_settings!({filters => vec![
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[uuid]"),
        (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(\+\d{2}(:\d{2})?|Z)?", "[timestamp]"),
        (r"\d+(\.\d+)? ?(ms|s)\b", "[duration]"),
        (r"[\d,]+ rows/s", "[rate]"),
        (r"\S*/supabase/", "[project]/"),
        (r"= (native|docker) in", "= [backend] in"),
    ]}, {
        insta::assert_snapshot!("db_local_test_report", text);
    });
}

#[test]
fn checks_md_lists_every_registered_id() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../CHECKS.md");
    let expected = check_ids::markdown();
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    if actual != expected {
        std::fs::write(path, &expected).expect("write CHECKS.md");
        panic!("CHECKS.md was out of date and has been regenerated; commit it");
    }
}

/// Every `--format` rendering, snapshotted: a change to the Markdown, JUnit, GitLab or GitHub
/// output is seen in review.
#[test]
fn every_output_format_reads_the_same_every_run() {
    use xtask::report::{formats::Format, Check, Report, Status};
    let mut report = Report::quiet("db-local-test");
    report.push(
        Check::new("proof.coverage", "the proof had rows in the tables it judges", Status::Pass)
            .value("3 of 4 tables exercised"),
    );
    report.push(Check::new("pending.apply.2", "2_add_x.sql applies", Status::Pass).value("3 statement(s) in [d]"));
    report.push(
        Check::new("lint.static.ban-drop-column.2.4", "static rule ban-drop-column", Status::Fail)
            .value("2_add_x.sql:4:1")
            .detail("2_add_x.sql:4:1 `alter table t drop column c`: dropping a column breaks the old app\nfix: expand, then contract")
            .at("supabase/migrations/2_add_x.sql", 4, 1),
    );
    report.push(
        Check::new("rls.matrix.public.notes", "who can read and write public.notes is unchanged", Status::Warn)
            .value("not exercised: no data")
            .detail("public.notes has no rows <&> \"quoted\""),
    );
    report.push(Check::new("plan.baseline", "baseline migrations", Status::Info).value(1));
    report.push(Check::new("tests.baseline", "the project's database tests", Status::Skip).detail("no supabase/tests"));
    for (name, format) in [
        ("markdown", Format::Markdown),
        ("junit", Format::Junit),
        ("gitlab", Format::Gitlab),
        ("github", Format::Github),
    ] {
        let text = xtask::report::formats::render(&report, format).expect("a rendering");
        insta::assert_snapshot!(format!("format_{name}"), text);
    }
}
