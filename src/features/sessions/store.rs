//! The `sessions` table, in both dialects side by side. A token is only as valid as its
//! session: looking the session up is one round trip per authenticated request.

use crate::features::users::{User, UserRow};
use crate::kernel::sql::{Database, Sql, Statement, StoreError, Value};
use crate::kernel::{SessionId, UnixSeconds, UserId};

/// A login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

const INSERT: Sql = Sql::new(
    "INSERT INTO sessions (id, user_id, created_at, expires_at, user_agent, ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO sessions (id, user_id, created_at, expires_at, user_agent, ip) \
     VALUES (?1::text::uuid, ?2::text::uuid, to_timestamp(?3), to_timestamp(?4), ?5, ?6::text::inet)",
);
/// The user of a live session: not revoked, not expired.
const LIVE_USER: Sql = Sql::new(
    concat!(
        "SELECT ",
        crate::user_columns!(sqlite, "u"),
        " FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2"
    ),
    concat!(
        "SELECT ",
        crate::user_columns!(postgres, "u"),
        " FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = ?1::text::uuid AND s.revoked_at IS NULL AND s.expires_at > to_timestamp(?2)"
    ),
);
const REVOKE: Sql = Sql::new(
    "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
    "UPDATE sessions SET revoked_at = to_timestamp(?2) WHERE id = ?1::text::uuid AND revoked_at IS NULL",
);
/// Every live session of a user but `?3` (none when null).
const REVOKE_ALL_BUT: Sql = Sql::new(
    "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL AND id IS NOT ?3",
    "UPDATE sessions SET revoked_at = to_timestamp(?2) \
     WHERE user_id = ?1::text::uuid AND revoked_at IS NULL AND id IS DISTINCT FROM ?3::text::uuid",
);

/// The sessions table, reached through whichever database the request has.
pub struct Sessions<'a>(pub &'a dyn Database);

impl Sessions<'_> {
    pub async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        // An address Postgres cannot parse is stored as unknown rather than failing the login.
        let ip = session
            .ip
            .as_deref()
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        let params = [
            session.id.0.as_str().into(),
            session.user_id.0.as_str().into(),
            session.created_at.into(),
            session.expires_at.into(),
            session.user_agent.as_deref().into(),
            ip.into(),
        ];
        self.0.execute(&INSERT, &params).await.map(drop)
    }

    /// The session's user, if the session exists, is not revoked and has not expired.
    pub async fn live_user(&self, id: &SessionId, now: UnixSeconds) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = self.0.first(&LIVE_USER, &[id.0.as_str().into(), now.into()]).await?;
        Ok(row.map(User::from))
    }

    pub async fn revoke(&self, id: &SessionId, now: UnixSeconds) -> Result<(), StoreError> {
        self.0
            .execute(&REVOKE, &[id.0.as_str().into(), now.into()])
            .await
            .map(drop)
    }

    /// Revokes every live session of `user` except `keep`.
    pub async fn revoke_all_but(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let statement = revoke_all_but(user, keep, now);
        self.0.execute(&statement.sql, &statement.params).await.map(drop)
    }
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

    fn session(id: &str, expires_at: i64) -> Session {
        Session {
            id: SessionId(id.into()),
            user_id: UserId("u1".into()),
            created_at: 100,
            expires_at,
            user_agent: Some("curl/8".into()),
            ip: Some("not an address".into()),
        }
    }

    #[test]
    fn sessions_live_until_revoked_or_expired() {
        let db = SqliteDatabase::default();
        let user = insert_user(&db, "u1", "ada@example.com", true);
        let sessions = Sessions(&db);
        pollster::block_on(async {
            for id in ["s1", "s2", "s3"] {
                sessions.insert(&session(id, 1000)).await.unwrap();
            }
            let s1 = SessionId("s1".into());
            assert_eq!(sessions.live_user(&s1, 999).await.unwrap(), Some(user.clone()));
            assert_eq!(sessions.live_user(&s1, 1000).await.unwrap(), None, "expired");
            sessions.revoke_all_but(&user.id, Some(&s1), 200).await.unwrap();
            assert!(sessions
                .live_user(&SessionId("s2".into()), 300)
                .await
                .unwrap()
                .is_none());
            assert!(sessions.live_user(&s1, 300).await.unwrap().is_some(), "kept");
            sessions.revoke(&s1, 300).await.unwrap();
            assert!(sessions.live_user(&s1, 301).await.unwrap().is_none());
        });
    }
}
