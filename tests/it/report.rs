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
