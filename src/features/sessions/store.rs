//! The `sessions` table, in both dialects side by side. A token is only as valid as its
//! session: looking the session up is one round trip per authenticated request.

use crate::features::users::{User, UserRow};
use crate::kernel::fields::from_fields;
use crate::kernel::sql::{Database, Sql, Statement, StoreError, Value};
use crate::kernel::{SessionId, UnixSeconds, UserId};

/// A login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// The login.
    pub created_at: UnixSeconds,
    /// The idle expiry, pushed forward by each refresh, never past `max_expires_at`.
    pub expires_at: UnixSeconds,
    /// The absolute expiry: the login plus `SESSION_MAX_DAYS`.
    pub max_expires_at: UnixSeconds,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub device: String,
    pub country: Option<String>,
    pub city: Option<String>,
    /// The factors of the login, first factor first.
    pub auth_methods: Vec<String>,
}

impl Session {
    /// A session opened at `now` by the factors `auth_methods`, idle-expiring after
    /// `idle_seconds` and ending after `max_seconds` whatever the refreshes.
    pub fn open(id: SessionId, user_id: UserId, now: UnixSeconds, idle_seconds: i64, max_seconds: i64) -> Self {
        Self {
            id,
            user_id,
            created_at: now,
            expires_at: now + idle_seconds.min(max_seconds),
            max_expires_at: now + max_seconds,
            user_agent: None,
            ip: None,
            device: "Unknown device".to_owned(),
            country: None,
            city: None,
            auth_methods: vec!["password".to_owned()],
        }
    }
}

/// A live session as its owner sees it in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub device: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub auth_methods: String,
}
from_fields!(SessionRow {
    id,
    created_at,
    last_seen_at,
    expires_at,
    ip,
    user_agent,
    device,
    country,
    city,
    auth_methods
});

macro_rules! session_columns {
    (sqlite) => {
        "id, created_at, last_seen_at, expires_at, ip, user_agent, device, country, city, auth_methods"
    };
    (postgres) => {
        "id::text AS id, extract(epoch FROM created_at)::bigint AS created_at, \
         extract(epoch FROM last_seen_at)::bigint AS last_seen_at, extract(epoch FROM expires_at)::bigint AS expires_at, \
         host(ip) AS ip, user_agent, device, country, city, auth_methods"
    };
}

const INSERT: Sql = Sql::new(
    "INSERT INTO sessions (id, user_id, created_at, expires_at, max_expires_at, last_seen_at, user_agent, ip, \
     device, country, city, auth_methods) VALUES (?1, ?2, ?3, ?4, ?5, ?3, ?6, ?7, ?8, ?9, ?10, ?11)",
    "INSERT INTO sessions (id, user_id, created_at, expires_at, max_expires_at, last_seen_at, user_agent, ip, \
     device, country, city, auth_methods) VALUES (?1::text::uuid, ?2::text::uuid, to_timestamp(?3), to_timestamp(?4), \
     to_timestamp(?5), to_timestamp(?3), ?6, ?7::text::inet, ?8, ?9, ?10, ?11)",
);
/// The user of a live session (not revoked, not expired), and when it was last seen.
const LIVE_USER: Sql = Sql::new(
    concat!(
        "SELECT ",
        crate::user_columns!(sqlite, "u"),
        ", s.last_seen_at AS session_last_seen_at, s.created_at AS session_created_at, \
         s.auth_methods AS session_auth_methods FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2"
    ),
    concat!(
        "SELECT ",
        crate::user_columns!(postgres, "u"),
        ", extract(epoch FROM s.last_seen_at)::bigint AS session_last_seen_at, \
         extract(epoch FROM s.created_at)::bigint AS session_created_at, s.auth_methods AS session_auth_methods \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = ?1::text::uuid AND s.revoked_at IS NULL AND s.expires_at > to_timestamp(?2)"
    ),
);
/// Records that session `?1` was seen at `?2`, unless it was within the last `?3` seconds.
const TOUCH: Sql = Sql::new(
    "UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1 AND (last_seen_at IS NULL OR last_seen_at < ?2 - ?3)",
    "UPDATE sessions SET last_seen_at = to_timestamp(?2) WHERE id = ?1::text::uuid \
     AND (last_seen_at IS NULL OR last_seen_at < to_timestamp(?2::bigint - ?3::bigint))",
);
const LIVE_OF_USER: Sql = Sql::new(
    concat!(
        "SELECT ",
        session_columns!(sqlite),
        " FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 \
         ORDER BY coalesce(last_seen_at, created_at) DESC, id"
    ),
    concat!(
        "SELECT ",
        session_columns!(postgres),
        " FROM sessions WHERE user_id = ?1::text::uuid AND revoked_at IS NULL AND expires_at > to_timestamp(?2) \
         ORDER BY coalesce(last_seen_at, created_at) DESC, id"
    ),
);
const REVOKE: Sql = Sql::new(
    "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
    "UPDATE sessions SET revoked_at = to_timestamp(?2) WHERE id = ?1::text::uuid AND revoked_at IS NULL",
);
/// Revokes the live session `?1` if it is user `?3`'s.
const REVOKE_OF_USER: Sql = Sql::new(
    "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND user_id = ?3 AND revoked_at IS NULL AND expires_at > ?2",
    "UPDATE sessions SET revoked_at = to_timestamp(?2) WHERE id = ?1::text::uuid AND user_id = ?3::text::uuid \
     AND revoked_at IS NULL AND expires_at > to_timestamp(?2)",
);
/// Every live session of a user but `?3` (none when null); expired ones are left as they
/// are, so the count is of sessions that were live.
const REVOKE_ALL_BUT: Sql = Sql::new(
    "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 AND id IS NOT ?3",
    "UPDATE sessions SET revoked_at = to_timestamp(?2) WHERE user_id = ?1::text::uuid AND revoked_at IS NULL \
     AND expires_at > to_timestamp(?2) AND id IS DISTINCT FROM ?3::text::uuid",
);

/// The user of a live session, with when the session was last seen.
pub struct LiveSession {
    pub user: User,
    pub last_seen_at: Option<UnixSeconds>,
    /// The login that opened the session (refreshes do not move it).
    pub logged_in_at: UnixSeconds,
    pub auth_methods: Vec<String>,
}

/// `auth_methods` as stored: comma separated, first factor first.
pub fn split_methods(stored: &str) -> Vec<String> {
    stored.split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect()
}

/// Beside the user's columns.
struct LiveRow {
    session_last_seen_at: Option<i64>,
    session_created_at: i64,
    session_auth_methods: String,
}
from_fields!(LiveRow {
    session_last_seen_at,
    session_created_at,
    session_auth_methods
});

/// The sessions table, reached through whichever database the request has.
pub struct Sessions<'a>(pub &'a dyn Database);

impl Sessions<'_> {
    pub async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        let statement = insert(session);
        self.0.execute(&statement.sql, &statement.params).await.map(drop)
    }

    /// The session's user, if the session exists, is not revoked and has not expired.
    pub async fn live_user(&self, id: &SessionId, now: UnixSeconds) -> Result<Option<User>, StoreError> {
        Ok(self.live(id, now).await?.map(|live| live.user))
    }

    pub async fn live(&self, id: &SessionId, now: UnixSeconds) -> Result<Option<LiveSession>, StoreError> {
        let rows = self.0.run(&LIVE_USER, &[id.0.as_str().into(), now.into()]).await?;
        let row: Option<(UserRow, LiveRow)> = rows.first_as_pair()?;
        Ok(row.map(|(user, session)| LiveSession {
            user: User::from(user),
            last_seen_at: session.session_last_seen_at,
            logged_in_at: session.session_created_at,
            auth_methods: split_methods(&session.session_auth_methods),
        }))
    }

    /// Records the session as seen now, at most once per `every_seconds`.
    pub async fn touch(&self, id: &SessionId, now: UnixSeconds, every_seconds: i64) -> Result<(), StoreError> {
        let params = [id.0.as_str().into(), now.into(), every_seconds.into()];
        self.0.execute(&TOUCH, &params).await.map(drop)
    }

    /// The user's live sessions, latest seen first.
    pub async fn live_of_user(&self, user: &UserId, now: UnixSeconds) -> Result<Vec<SessionRow>, StoreError> {
        self.0.all(&LIVE_OF_USER, &[user.0.as_str().into(), now.into()]).await
    }

    /// Revokes `id` if it is not yet; answers whether this call ended it (of concurrent
    /// callers, exactly one is told yes).
    pub async fn revoke(&self, id: &SessionId, now: UnixSeconds) -> Result<bool, StoreError> {
        Ok(self.0.execute(&REVOKE, &[id.0.as_str().into(), now.into()]).await? > 0)
    }

    /// Revokes `id` if it is a live session of `user`; answers whether it was.
    pub async fn revoke_of_user(&self, id: &SessionId, user: &UserId, now: UnixSeconds) -> Result<bool, StoreError> {
        let params = [id.0.as_str().into(), now.into(), user.0.as_str().into()];
        Ok(self.0.execute(&REVOKE_OF_USER, &params).await? > 0)
    }

    /// Revokes every live session of `user` except `keep`; answers how many.
    pub async fn revoke_all_but(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        now: UnixSeconds,
    ) -> Result<u64, StoreError> {
        let statement = revoke_all_but(user, keep, now);
        self.0.execute(&statement.sql, &statement.params).await
    }
}

/// Storing a session, for a batch.
pub fn insert(session: &Session) -> Statement {
    // An address Postgres cannot parse is stored as unknown rather than failing the login.
    let ip = session
        .ip
        .as_deref()
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    Statement::new(
        INSERT,
        vec![
            session.id.0.as_str().into(),
            session.user_id.0.as_str().into(),
            session.created_at.into(),
            session.expires_at.into(),
            session.max_expires_at.into(),
            session.user_agent.as_deref().into(),
            ip.into(),
            session.device.as_str().into(),
            session.country.as_deref().into(),
            session.city.as_deref().into(),
            session.auth_methods.join(",").into(),
        ],
    )
}

/// Ending a user's sessions as a statement, for a batch that must commit with it.
pub fn revoke_all_but(user: &UserId, keep: Option<&SessionId>, now: UnixSeconds) -> Statement {
    Statement::new(
        REVOKE_ALL_BUT,
        vec![
            user.0.as_str().into(),
            now.into(),
            Value::from(keep.map(|k| k.0.as_str())),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::users::testing::insert_user;
    use crate::kernel::testing::SqliteDatabase;

    fn session(id: &str, expires_in: i64) -> Session {
        Session {
            user_agent: Some("curl/8".into()),
            ip: Some("not an address".into()),
            ..Session::open(SessionId(id.into()), UserId("u1".into()), 100, expires_in, 10_000)
        }
    }

    #[test]
    fn sessions_live_until_revoked_or_expired() {
        let db = SqliteDatabase::default();
        let user = insert_user(&db, "u1", "ada@example.com", true);
        let sessions = Sessions(&db);
        pollster::block_on(async {
            for id in ["s1", "s2", "s3"] {
                sessions.insert(&session(id, 900)).await.unwrap();
            }
            let s1 = SessionId("s1".into());
            assert_eq!(sessions.live_user(&s1, 999).await.unwrap(), Some(user.clone()));
            assert_eq!(sessions.live_user(&s1, 1000).await.unwrap(), None, "expired");
            assert_eq!(sessions.revoke_all_but(&user.id, Some(&s1), 200).await.unwrap(), 2);
            assert!(sessions
                .live_user(&SessionId("s2".into()), 300)
                .await
                .unwrap()
                .is_none());
            assert!(sessions.live_user(&s1, 300).await.unwrap().is_some(), "kept");
            assert!(sessions.revoke(&s1, 300).await.unwrap(), "this call ended it");
            assert!(!sessions.revoke(&s1, 301).await.unwrap(), "ended already");
            assert!(sessions.live_user(&s1, 301).await.unwrap().is_none());
        });
    }

    #[test]
    fn a_session_is_seen_at_most_once_per_interval() {
        let db = SqliteDatabase::default();
        insert_user(&db, "u1", "ada@example.com", true);
        let sessions = Sessions(&db);
        let id = SessionId("s1".into());
        pollster::block_on(async {
            sessions.insert(&session("s1", 9000)).await.unwrap();
            assert_eq!(
                sessions.live(&id, 101).await.unwrap().unwrap().last_seen_at,
                Some(100),
                "the login"
            );
            sessions.touch(&id, 200, 300).await.unwrap();
            assert_eq!(
                sessions.live(&id, 201).await.unwrap().unwrap().last_seen_at,
                Some(100),
                "within 300 s"
            );
            sessions.touch(&id, 401, 300).await.unwrap();
            assert_eq!(sessions.live(&id, 402).await.unwrap().unwrap().last_seen_at, Some(401));
        });
    }

    #[test]
    fn a_user_revokes_only_their_own_live_sessions() {
        let db = SqliteDatabase::default();
        insert_user(&db, "u1", "ada@example.com", true);
        insert_user(&db, "u2", "bo@example.com", true);
        let sessions = Sessions(&db);
        pollster::block_on(async {
            sessions.insert(&session("s1", 900)).await.unwrap();
            let theirs = SessionId("s1".into());
            assert!(!sessions
                .revoke_of_user(&theirs, &UserId("u2".into()), 200)
                .await
                .unwrap());
            assert!(sessions.live_user(&theirs, 201).await.unwrap().is_some(), "still alive");
            let listed = sessions.live_of_user(&UserId("u1".into()), 200).await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].auth_methods, "password");
            assert!(sessions
                .revoke_of_user(&theirs, &UserId("u1".into()), 200)
                .await
                .unwrap());
            assert!(sessions
                .live_of_user(&UserId("u1".into()), 201)
                .await
                .unwrap()
                .is_empty());
        });
    }
}
