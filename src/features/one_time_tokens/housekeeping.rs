//! What the scheduled handler drops of one-time tokens: those whose `expires_at` is more
//! than a day in the past, used or not. Neither kind can be redeemed any more; the day
//! leaves a just-expired code at hand for a question about it.

use crate::kernel::sql::Sql;

/// `?1` is now, in Unix seconds; 86400 s is the day.
pub const PURGE_EXPIRED: Sql = Sql::new(
    "DELETE FROM one_time_tokens WHERE expires_at < ?1 - 86400",
    "DELETE FROM one_time_tokens WHERE expires_at < to_timestamp(?1::bigint - 86400)",
);

#[cfg(test)]
mod tests {
    use crate::kernel::sql::{Database, Sql};
    use crate::kernel::testing::{SqliteDatabase, T0};

    const DAY: i64 = 86_400;
    const USER: Sql = Sql::same(
        "INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u1', 'ada@example.com', 'x', 0, 0)",
    );
    const TOKEN: Sql = Sql::same(
        "INSERT INTO one_time_tokens (id, user_id, purpose, digest, created_at, expires_at, used_at) \
         VALUES (?1, 'u1', 'verify_email', ?1, 0, ?2, ?3)",
    );
    const IDS: Sql = Sql::same("SELECT id FROM one_time_tokens ORDER BY id");

    #[test]
    fn housekeeping_drops_exactly_the_tokens_expired_over_a_day_ago_used_or_not() {
        let db = SqliteDatabase::default();
        let db: &dyn Database = &db;
        pollster::block_on(db.run(&USER, &[])).unwrap();
        let tokens: [(&str, i64, Option<i64>); 6] = [
            ("expired-two-days-ago", T0 - 2 * DAY, None),
            ("used-and-expired-two-days-ago", T0 - 2 * DAY, Some(T0 - 3 * DAY)),
            ("expired-a-day-ago-to-the-second", T0 - DAY, None),
            ("expired-an-hour-ago", T0 - 3600, None),
            ("used-and-live", T0 + 600, Some(T0 - 60)),
            ("live", T0 + 600, None),
        ];
        for (id, expires_at, used_at) in tokens {
            pollster::block_on(db.run(&TOKEN, &[id.into(), expires_at.into(), used_at.into()])).unwrap();
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
                "used-and-live"
            ]
        );
    }
}
