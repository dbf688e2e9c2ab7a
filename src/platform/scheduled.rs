//! The scheduled (cron) handler: every feature's housekeeping statements in one batch, `?1`
//! = now, then one log line naming what each feature deleted. A failure is logged and
//! reported (Sentry) like a failed dependency; the next run tries again. Wiring only.

use worker::{event, Env, ScheduleContext, ScheduledEvent};

use super::entry::{database, log_misconfigured, state};
use super::{log_json, report, WorkerClock};
use crate::app;
use crate::kernel::secrets::random_uuid;
use crate::kernel::sql::Statement;
use crate::kernel::Clock;

#[event(scheduled)]
pub async fn scheduled(event: ScheduledEvent, env: Env, _: ScheduleContext) {
    let state = match state(&env) {
        Ok(state) => state,
        Err(error) => return log_misconfigured(&error),
    };
    let db = match database(&state, &env) {
        Ok(db) => db,
        Err(error) => return log_misconfigured(&error),
    };
    let now = WorkerClock.now();
    let (owners, statements): (Vec<&str>, Vec<Statement>) = app::FEATURES
        .iter()
        .flat_map(|feature| {
            let owner = feature.name;
            feature
                .housekeeping
                .iter()
                .map(move |sql| (owner, Statement::new(*sql, vec![now.into()])))
        })
        .unzip();
    if statements.is_empty() {
        return;
    }
    match db.batch(&statements).await {
        Ok(results) => {
            let mut deleted = serde_json::Map::new();
            for (owner, rows) in owners.into_iter().zip(results) {
                let before = deleted.get(owner).and_then(serde_json::Value::as_u64).unwrap_or(0);
                deleted.insert(owner.to_owned(), (before + rows.changes).into());
            }
            log_json(serde_json::json!({
                "level": "info", "message": "housekeeping", "cron": event.cron(), "now": now, "deleted": deleted,
            }));
        }
        Err(error) => {
            let run = format!("housekeeping-{}", random_uuid());
            let cause = format!("the housekeeping batch failed: {error}");
            report::dependency_failure(&state.config, &run, "housekeeping", &cause).await;
        }
    }
}
