//! The devices a user signed in from (`sign_in_devices`: browser family, OS family,
//! country), for the new-device mail: a login with a key not seen in the last
//! `NEW_DEVICE_WINDOW_DAYS` tells the owner — unless it is the user's first login ever.

use crate::kernel::fields::from_fields;
use crate::kernel::sql::{Rows, Sql, Statement};
use crate::kernel::{UnixSeconds, UserId};

/// `?1` the user, `?2` the key, `?3` the start of the window.
const SEEN: Sql = Sql::new(
    "SELECT (SELECT count(*) FROM sign_in_devices WHERE user_id = ?1) AS known, \
     (SELECT count(*) FROM sign_in_devices WHERE user_id = ?1 AND device_key = ?2 AND last_login_at > ?3) AS recent",
    "SELECT (SELECT count(*) FROM sign_in_devices WHERE user_id = ?1::text::uuid) AS known, \
     (SELECT count(*) FROM sign_in_devices WHERE user_id = ?1::text::uuid AND device_key = ?2 \
      AND last_login_at > to_timestamp(?3)) AS recent",
);
/// `?1` the user, `?2` the key, `?3` now.
const RECORD: Sql = Sql::new(
    "INSERT INTO sign_in_devices (user_id, device_key, last_login_at) VALUES (?1, ?2, ?3) \
     ON CONFLICT (user_id, device_key) DO UPDATE SET last_login_at = excluded.last_login_at",
    "INSERT INTO sign_in_devices (user_id, device_key, last_login_at) VALUES (?1::text::uuid, ?2, to_timestamp(?3)) \
     ON CONFLICT (user_id, device_key) DO UPDATE SET last_login_at = excluded.last_login_at",
);
/// The longest `NEW_DEVICE_WINDOW_DAYS` may be; devices unseen for longer are dropped.
pub const MAX_WINDOW_DAYS: i64 = 366;
/// Drops devices not seen for the longest window (`?1` now), but each user's latest,
/// which says the user has logged in before.
pub const PURGE_FORGOTTEN: Sql = Sql::new(
    "DELETE FROM sign_in_devices WHERE last_login_at < ?1 - 31622400 AND EXISTS (SELECT 1 FROM sign_in_devices \
     newer WHERE newer.user_id = sign_in_devices.user_id AND newer.last_login_at > sign_in_devices.last_login_at)",
    "DELETE FROM sign_in_devices d WHERE d.last_login_at < to_timestamp(?1::bigint - 31622400) AND EXISTS \
     (SELECT 1 FROM sign_in_devices newer WHERE newer.user_id = d.user_id AND newer.last_login_at > d.last_login_at)",
);

/// Whether the login's device is new to a user who logged in before, then the record of
/// it: two statements for the login's batch, read back by `is_new`.
pub fn check_and_record(user: &UserId, key: &str, now: UnixSeconds, window_seconds: i64) -> [Statement; 2] {
    [
        Statement::new(
            SEEN,
            vec![user.0.as_str().into(), key.into(), (now - window_seconds).into()],
        ),
        Statement::new(RECORD, vec![user.0.as_str().into(), key.into(), now.into()]),
    ]
}

pub fn is_new(results: &[Rows], at: usize) -> bool {
    struct Seen {
        known: i64,
        recent: i64,
    }
    from_fields!(Seen { known, recent });
    let seen = results
        .get(at)
        .cloned()
        .unwrap_or_default()
        .first::<Seen>()
        .ok()
        .flatten();
    seen.is_some_and(|seen| seen.known > 0 && seen.recent == 0)
}
