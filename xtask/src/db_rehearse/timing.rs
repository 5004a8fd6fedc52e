//! The app's queries timed as a signed-in user (median of several runs) with their plan shapes.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use sqlx::Connection;
use uuid::Uuid;

use crate::supabase::act_as::Persona;

/// A query to time: the app contract's, or a project's own (`supabase/queries/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedQuery {
    pub name: String,
    pub sql: String,
}

#[derive(Debug, Clone)]
pub struct Timing {
    pub median: Duration,
    pub plan: String,
    pub facts: PlanFacts,
}

/// What a plan reads: the tables scanned sequentially, every table read, and how many joins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanFacts {
    pub seq_scanned: std::collections::BTreeSet<String>,
    pub relations: std::collections::BTreeSet<String>,
    pub joins: usize,
}

/// Median of `runs` executions of each query as `user`, and the plan's shape.
pub async fn time_queries(
    url: &str,
    queries: &[TimedQuery],
    user: Option<Uuid>,
    runs: usize,
) -> anyhow::Result<BTreeMap<String, Timing>> {
    if user.is_none() {
        return Ok(BTreeMap::new());
    }
    let mut conn = crate::pg::connect(url).await?;
    time_queries_on(&mut conn, queries, user, runs).await
}

/// [`time_queries`] on an open session (a target's read-only one: every run is rolled back).
pub async fn time_queries_on(
    conn: &mut sqlx::PgConnection,
    queries: &[TimedQuery],
    user: Option<Uuid>,
    runs: usize,
) -> anyhow::Result<BTreeMap<String, Timing>> {
    let mut out = BTreeMap::new();
    let Some(user) = user else { return Ok(out) };
    let persona = Persona::User { email: String::new(), auth_id: user, token: Default::default() };
    for q in queries {
        let mut samples = Vec::new();
        let mut plan = String::new();
        let mut facts = PlanFacts::default();
        for i in 0..=runs.max(1) {
            let mut tx = conn.begin().await?;
            crate::supabase::act_as::act_as(&mut tx, &persona).await?;
            if i == 0 {
                // Warm-up run doubles as the plan capture.
                let json: serde_json::Value =
                    sqlx::query_scalar(&format!("EXPLAIN (FORMAT JSON) {}", q.sql)).fetch_one(&mut *tx).await?;
                plan = plan_shape(&json);
                facts = plan_facts(&json);
            } else {
                let started = Instant::now();
                sqlx::raw_sql(&q.sql).execute(&mut *tx).await?;
                samples.push(started.elapsed());
            }
            tx.rollback().await?;
        }
        samples.sort();
        out.insert(q.name.clone(), Timing { median: samples[samples.len() / 2], plan, facts });
    }
    Ok(out)
}

/// The plan's node types and the indexes used, e.g. `Limit > Index Scan (idx_x)`.
pub fn plan_shape(json: &serde_json::Value) -> String {
    fn walk(node: &serde_json::Value, out: &mut Vec<String>) {
        let kind = node.get("Node Type").and_then(|v| v.as_str()).unwrap_or("?");
        match node.get("Index Name").and_then(|v| v.as_str()) {
            Some(index) => out.push(format!("{kind} ({index})")),
            None if kind == "Seq Scan" => {
                out.push(format!("Seq Scan ({})", node.get("Relation Name").and_then(|v| v.as_str()).unwrap_or("?")))
            }
            None => out.push(kind.to_string()),
        }
        for child in node.get("Plans").and_then(|p| p.as_array()).into_iter().flatten() {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    if let Some(plan) = json.get(0).and_then(|p| p.get("Plan")) {
        walk(plan, &mut out);
    }
    out.join(" > ")
}

/// The tables a plan reads (sequentially or not) and its join nodes.
pub fn plan_facts(json: &serde_json::Value) -> PlanFacts {
    fn walk(node: &serde_json::Value, out: &mut PlanFacts) {
        let kind = node.get("Node Type").and_then(|v| v.as_str()).unwrap_or("?");
        if let Some(rel) = node.get("Relation Name").and_then(|v| v.as_str()) {
            out.relations.insert(rel.to_string());
            if kind == "Seq Scan" {
                out.seq_scanned.insert(rel.to_string());
            }
        }
        if matches!(kind, "Nested Loop" | "Hash Join" | "Merge Join") {
            out.joins += 1;
        }
        for child in node.get("Plans").and_then(|p| p.as_array()).into_iter().flatten() {
            walk(child, out);
        }
    }
    let mut out = PlanFacts::default();
    if let Some(plan) = json.get(0).and_then(|p| p.get("Plan")) {
        walk(plan, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{plan_facts, plan_shape};

    fn check(plan: serde_json::Value, expected: &str) {
        assert_eq!(plan_shape(&json!([{ "Plan": plan }])), expected);
    }

    #[test]
    fn plan_shapes_name_nodes_indexes_and_scanned_tables() {
        check(json!({"Node Type": "Seq Scan", "Relation Name": "messages"}), "Seq Scan (messages)");
        check(
            json!({"Node Type": "Limit", "Plans": [{"Node Type": "Index Scan", "Index Name": "idx_m"}]}),
            "Limit > Index Scan (idx_m)",
        );
        check(
            json!({"Node Type": "Aggregate", "Plans": [{"Node Type": "Bitmap Heap Scan", "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "i"}]}]}),
            "Aggregate > Bitmap Heap Scan > Bitmap Index Scan (i)",
        );
        assert_eq!(plan_shape(&json!([])), "");
        let joined = json!([{ "Plan": {"Node Type": "Nested Loop", "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "conversations"},
            {"Node Type": "Index Scan", "Index Name": "i", "Relation Name": "messages"}]}}]);
        let facts = plan_facts(&joined);
        assert_eq!((facts.joins, facts.relations.len(), facts.seq_scanned.len()), (1, 2, 1));
    }
}
