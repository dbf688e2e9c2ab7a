//! What the scheduled handler drops of sessions: those that ended, by expiring or by being
//! revoked, more than a day ago. A token of theirs is refused either way; the day keeps a
//! session that just ended at hand for a question about it, and bounds the table.

use crate::kernel::sql::Sql;

/// `?1` is now, in Unix seconds; 86400 s is the day.
pub const PURGE_ENDED: Sql = Sql::new(
    "DELETE FROM sessions WHERE expires_at < ?1 - 86400 OR revoked_at < ?1 - 86400",
    "DELETE FROM sessions \
     WHERE expires_at < to_timestamp(?1::bigint - 86400) OR revoked_at < to_timestamp(?1::bigint - 86400)",
);

#[cfg(test)]
mod tests {
    use crate::kernel::sql::{Database, Sql};
    use crate::kernel::testing::{SqliteDatabase, T0};

    const DAY: i64 = 86_400;
    const USER: Sql = Sql::same(
        "INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u1', 'ada@example.com', 'x', 0, 0)",
    );
    const SESSION: Sql = Sql::same(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) VALUES (?1, 'u1', 0, ?2, ?3)",
    );
    const IDS: Sql = Sql::same("SELECT id FROM sessions ORDER BY id");

    #[test]
    fn housekeeping_drops_exactly_the_sessions_that_ended_over_a_day_ago() {
        let db = SqliteDatabase::default();
        let db: &dyn Database = &db;
        pollster::block_on(db.run(&USER, &[])).unwrap();
        let sessions: [(&str, i64, Option<i64>); 6] = [
            ("expired-two-days-ago", T0 - 2 * DAY, None),
            ("revoked-two-days-ago", T0 + 3600, Some(T0 - 2 * DAY)),
            ("expired-a-day-ago-to-the-second", T0 - DAY, None),
            ("expired-an-hour-ago", T0 - 3600, None),
            ("revoked-an-hour-ago", T0 + 3600, Some(T0 - 3600)),
            ("live", T0 + 3600, None),
        ];
        for (id, expires_at, revoked_at) in sessions {
            pollster::block_on(db.run(&SESSION, &[id.into(), expires_at.into(), revoked_at.into()])).unwrap();
        }
        let mut deleted = 0;
        for statement in super::super::FEATURE.housekeeping {
            deleted += pollster::block_on(db.run(statement, &[T0.into()])).unwrap().changes;
        }
        assert_eq!(deleted, 2);
        let left: Vec<String> = pollster::block_on(db.run(&IDS, &[]))
            .unwrap()
            .rows
            .iter()
            .map(|row| row["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            left,
            [
                "expired-a-day-ago-to-the-second",
                "expired-an-hour-ago",
                "live",
                "revoked-an-hour-ago"
            ]
        );
    }
}
