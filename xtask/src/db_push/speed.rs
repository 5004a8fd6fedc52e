//! The gain as users feel it (runbook 5.2): the app contract's queries and the project's own
//! (`supabase/queries/`) timed on the target as one signed-in user, read-only, before and after
//! the push, with the plan shapes and what each query file expects.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::{
    db_rehearse::timing::{self, TimedQuery, Timing},
    production::Session,
    report::{Check, Report, Status},
    supabase::queries::{self, ProjectQuery},
};

pub type TimedQueries = BTreeMap<String, Timing>;

/// What is timed, and as whom.
pub struct Speed {
    queries: Vec<TimedQuery>,
    own: Vec<ProjectQuery>,
    user: Option<Uuid>,
    /// Who was asked for, else how the user was chosen.
    who: String,
}

impl Speed {
    /// Reads the project's query files and finds the user; an error (exit 2, before anything is
    /// pushed) for a query file that does not parse or an `--as-user` nobody has.
    pub async fn prepare(
        session: &mut Session,
        supabase_dir: &std::path::Path,
        as_user: Option<&str>,
    ) -> anyhow::Result<Speed> {
        let own = queries::load(supabase_dir)?;
        let conn = session.read();
        let (mut queries, busiest) = crate::app_seam::timed_queries(conn).await.unwrap_or_default();
        queries.extend(own.iter().map(ProjectQuery::timed));
        let (user, who) = match (as_user, busiest) {
            (Some(who), _) => (queries::user(conn, Some(who)).await?, who.to_string()),
            (None, Some(u)) => (Some(u), "the app's busiest user".to_string()),
            (None, None) => (queries::user(conn, None).await?, "the first user of auth.users".to_string()),
        };
        Ok(Speed { queries, own, user, who })
    }

    /// The queries timed now (median of 5); `None` when there is nothing to time or no user.
    pub async fn time(&self, session: &mut Session) -> Option<TimedQueries> {
        let timings = timing::time_queries_on(session.read(), &self.queries, self.user, 5).await.ok()?;
        (!timings.is_empty()).then_some(timings)
    }

    /// What db-watch holds the push to: the queries as timed right after it, as this user.
    pub fn saved(&self, after: &TimedQueries) -> Option<crate::db_watch::promises::Saved> {
        Some(crate::db_watch::promises::Saved::new(self.user?, &self.queries, after))
    }

    pub fn report(&self, before: Option<TimedQueries>, after: Option<TimedQueries>, report: &mut Report) {
        let check = Check::new(
            "push.query_speed",
            "the app's queries on the target before and after, as a signed-in user",
            Status::Info,
        );
        let after = after.unwrap_or_default();
        report.push(match before {
            Some(b) if !after.is_empty() => check
                .value(format!("median of 5, read-only, as {}", self.who))
                .detail(crate::db_rehearse::render::speed(&b, &after)),
            _ => Check { status: Status::Skip, ..check }.detail(
                "nothing to time: no app contract and no supabase/queries/*.sql, or no user in auth.users (pass \
                 --as-user)",
            ),
        });
        report.extend(queries::checks("push.query_expect", &self.own, &after));
    }
}
