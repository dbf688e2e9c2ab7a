//! The `passkeys`, `passkey_users` and `webauthn_challenges` tables, in both dialects.
//! Every batch that adds or removes a passkey first locks the user's row (an UPDATE) and
//! ends by recomputing `users.passkey_count`, so the mirror is exact after every
//! transaction and the limit and "last credential" guards hold under concurrency.

use crate::features::users::{User, UserRow};
use crate::kernel::fields::from_fields;
use crate::kernel::sql::{Database, DbError, Sql, Statement, StoreError, Value};
use crate::kernel::{UnixSeconds, UserId};

/// A stored passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRow {
    pub id: String,
    pub credential_id: String,
    pub transports: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub backed_up: bool,
}
from_fields!(PasskeyRow {
    id,
    credential_id,
    transports,
    name,
    created_at,
    last_used_at,
    backed_up
});

impl PasskeyRow {
    pub fn transports(&self) -> Vec<String> {
        self.transports
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// What registration stores.
pub struct NewPasskey<'a> {
    pub id: &'a str,
    pub user_id: &'a UserId,
    pub credential_id: &'a str,
    pub public_key: &'a str,
    pub sign_count: u32,
    pub transports: &'a str,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub aaguid: &'a str,
    pub name: &'a str,
    pub now: UnixSeconds,
}

/// A credential found by its id at login, with its owner.
#[derive(Debug, Clone)]
pub struct Found {
    pub passkey_id: String,
    pub public_key: String,
    pub handle: Option<String>,
    pub user: User,
}

struct FoundRow {
    passkey_id: String,
    public_key: String,
    handle: Option<String>,
}
from_fields!(FoundRow {
    passkey_id,
    public_key,
    handle
});

#[derive(Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    Added,
    LimitReached,
    AlreadyRegistered,
}

#[derive(Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted(String),
    NotFound,
    LastCredential,
}

struct Handle {
    handle: String,
}
from_fields!(Handle { handle });

struct Name {
    name: String,
}
from_fields!(Name { name });

/// A consumed challenge's row.
#[derive(Debug, Clone)]
pub struct ChallengeRow {
    pub challenge: String,
    pub ceremony: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub binding: Option<String>,
}
from_fields!(ChallengeRow {
    challenge,
    ceremony,
    user_id,
    session_id,
    binding
});

pub struct PasskeyStore<'a>(pub &'a dyn Database);

impl PasskeyStore<'_> {
    /// The user's handle (made now if the user has none: `new_handle`), their passkeys
    /// newest first, and the challenge stored: one round trip.
    pub async fn registration_options(
        &self,
        user: &UserId,
        new_handle: &str,
        challenge: Statement,
    ) -> Result<(String, Vec<PasskeyRow>), StoreError> {
        let user_id: Value = user.0.as_str().into();
        let results = self
            .0
            .batch(&[
                Statement::new(ENSURE_HANDLE, vec![user_id.clone(), new_handle.into()]),
                Statement::new(HANDLE, vec![user_id.clone()]),
                Statement::new(LIST, vec![user_id]),
                challenge,
            ])
            .await
            .map_err(StoreError::from)?;
        let mut results = results.into_iter().skip(1);
        let handle = results
            .next()
            .unwrap_or_default()
            .first::<Handle>()?
            .ok_or_else(|| StoreError("the user handle was not stored".into()))?;
        let passkeys = results.next().unwrap_or_default().all()?;
        Ok((handle.handle, passkeys))
    }

    /// Stores a passkey unless the user has `max` already or the credential is anyone's.
    pub async fn insert(&self, passkey: &NewPasskey<'_>, max: i64) -> Result<InsertOutcome, StoreError> {
        let user_id: Value = passkey.user_id.0.as_str().into();
        let statements = [
            Statement::new(RECOUNT, vec![user_id.clone()]),
            Statement::new(
                INSERT_IF_ROOM,
                vec![
                    passkey.id.into(),
                    user_id.clone(),
                    passkey.credential_id.into(),
                    passkey.public_key.into(),
                    i64::from(passkey.sign_count).into(),
                    passkey.transports.into(),
                    passkey.backup_eligible.into(),
                    passkey.backed_up.into(),
                    passkey.aaguid.into(),
                    passkey.name.into(),
                    passkey.now.into(),
                    max.into(),
                ],
            ),
            Statement::new(RECOUNT, vec![user_id]),
        ];
        match self.0.batch(&statements).await {
            Ok(results) if results.get(1).is_some_and(|r| r.changes == 1) => Ok(InsertOutcome::Added),
            Ok(_) => Ok(InsertOutcome::LimitReached),
            Err(DbError::Unique(_)) => Ok(InsertOutcome::AlreadyRegistered),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list(&self, user: &UserId) -> Result<Vec<PasskeyRow>, StoreError> {
        self.0.all(&LIST, &[user.0.as_str().into()]).await
    }

    pub async fn rename(&self, user: &UserId, id: &str, name: &str) -> Result<Option<PasskeyRow>, StoreError> {
        self.0
            .first(&RENAME, &[id.into(), user.0.as_str().into(), name.into()])
            .await
    }

    /// Deletes the user's passkey `id` unless it is the last way the account can sign in.
    pub async fn delete(&self, user: &UserId, id: &str) -> Result<DeleteOutcome, StoreError> {
        let params: Vec<Value> = vec![id.into(), user.0.as_str().into()];
        let results = self
            .0
            .batch(&[
                Statement::new(NAME_OF, params.clone()),
                Statement::new(GUARD_REMOVAL, params.clone()),
                Statement::new(DELETE_GUARDED, params),
                Statement::new(RECOUNT, vec![user.0.as_str().into()]),
            ])
            .await
            .map_err(StoreError::from)?;
        let mut results = results.into_iter();
        let existing = results.next().unwrap_or_default().first::<Name>()?;
        let deleted = results.nth(1).is_some_and(|r| r.changes == 1);
        Ok(match existing {
            Some(row) if deleted => DeleteOutcome::Deleted(row.name),
            Some(_) => DeleteOutcome::LastCredential,
            None => DeleteOutcome::NotFound,
        })
    }

    /// The credential ids and transports of the account with this email (none for an
    /// unknown one), with the challenge stored: one round trip, the same statements for
    /// every address.
    pub async fn login_options(
        &self,
        email: Option<&str>,
        challenge: Statement,
    ) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let mut statements = vec![challenge];
        if let Some(email) = email {
            statements.push(Statement::new(CREDENTIALS_OF_EMAIL, vec![email.into()]));
        }
        let results = self.0.batch(&statements).await.map_err(StoreError::from)?;
        let rows: Vec<Credential> = match results.into_iter().nth(1) {
            Some(rows) => rows.all()?,
            None => Vec::new(),
        };
        Ok(rows.into_iter().map(Credential::split).collect())
    }

    /// The user's credentials (for `mfa/passkey/options`), with the challenge stored.
    pub async fn credentials_of_user(
        &self,
        user: &UserId,
        challenge: Statement,
    ) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let results = self
            .0
            .batch(&[
                Statement::new(CREDENTIALS_OF_USER, vec![user.0.as_str().into()]),
                challenge,
            ])
            .await
            .map_err(StoreError::from)?;
        let rows: Vec<Credential> = results.into_iter().next().unwrap_or_default().all()?;
        Ok(rows.into_iter().map(Credential::split).collect())
    }

    pub async fn find(&self, credential_id: &str) -> Result<Option<Found>, StoreError> {
        let rows = self
            .0
            .run(&FIND, &[credential_id.into()])
            .await
            .map_err(StoreError::from)?;
        let found: Option<(UserRow, FoundRow)> = rows.first_as_pair()?;
        Ok(found.map(|(user, row)| Found {
            passkey_id: row.passkey_id,
            public_key: row.public_key,
            handle: row.handle,
            user: user.into(),
        }))
    }

    /// Records a use whose counter advanced (or stays 0 on both sides): `false` for a
    /// regression, and nothing is written then.
    pub async fn record_use(
        &self,
        passkey_id: &str,
        sign_count: u32,
        backed_up: bool,
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        let changed = self
            .0
            .execute(
                &RECORD_USE,
                &[
                    passkey_id.into(),
                    i64::from(sign_count).into(),
                    backed_up.into(),
                    now.into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Consumes challenge `id` if it is live: the first call gets it, whatever it then finds.
    pub async fn consume_challenge(&self, id: &str, now: UnixSeconds) -> Result<Option<ChallengeRow>, StoreError> {
        self.0.first(&CONSUME_CHALLENGE, &[id.into(), now.into()]).await
    }
}

struct Credential {
    credential_id: String,
    transports: String,
}
from_fields!(Credential {
    credential_id,
    transports
});

impl Credential {
    fn split(self) -> (String, Vec<String>) {
        let transports = self
            .transports
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        (self.credential_id, transports)
    }
}

/// `?1` id, `?2` challenge, `?3` ceremony, `?4` user, `?5` session, `?6` binding, `?7` expiry.
pub const INSERT_CHALLENGE: Sql = Sql::same(
    "INSERT INTO webauthn_challenges (id, challenge, ceremony, user_id, session_id, binding, expires_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
);

const CONSUME_CHALLENGE: Sql = Sql::same(
    "UPDATE webauthn_challenges SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL AND expires_at > ?2 \
     RETURNING challenge, ceremony, user_id, session_id, binding",
);

/// Housekeeping: challenges past their expiry, used or not. `?1` now.
pub const PURGE_CHALLENGES: Sql = Sql::same("DELETE FROM webauthn_challenges WHERE expires_at < ?1");

const ENSURE_HANDLE: Sql = Sql::new(
    "INSERT INTO passkey_users (user_id, handle) VALUES (?1, ?2) ON CONFLICT (user_id) DO NOTHING",
    "INSERT INTO passkey_users (user_id, handle) VALUES (?1::text::uuid, ?2) ON CONFLICT (user_id) DO NOTHING",
);

const HANDLE: Sql = Sql::new(
    "SELECT handle FROM passkey_users WHERE user_id = ?1",
    "SELECT handle FROM passkey_users WHERE user_id = ?1::text::uuid",
);

const LIST: Sql = Sql::new(
    "SELECT id, credential_id, transports, name, created_at, last_used_at, backed_up FROM passkeys \
     WHERE user_id = ?1 ORDER BY created_at DESC, id DESC",
    "SELECT id, credential_id, transports, name, created_at, last_used_at, backed_up FROM passkeys \
     WHERE user_id = ?1::text::uuid ORDER BY created_at DESC, id DESC",
);

/// Locks the user's row and sets `passkey_count` from the table. `?1` the user.
const RECOUNT: Sql = Sql::new(
    "UPDATE users SET passkey_count = (SELECT COUNT(*) FROM passkeys WHERE user_id = ?1) WHERE id = ?1",
    "UPDATE users SET passkey_count = (SELECT COUNT(*) FROM passkeys WHERE user_id = ?1::text::uuid) \
     WHERE id = ?1::text::uuid",
);

/// `?1`..`?11` the passkey; inserted only while the user has fewer than `?12`.
const INSERT_IF_ROOM: Sql = Sql::new(
    "INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, transports, backup_eligible, \
     backed_up, aaguid, name, created_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
     WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2) < ?12",
    "INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, transports, backup_eligible, \
     backed_up, aaguid, name, created_at) SELECT ?1::text, ?2::text::uuid, ?3::text, ?4::text, ?5::bigint, \
     ?6::text, ?7::boolean, ?8::boolean, ?9::text, ?10::text, ?11::bigint \
     WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2::text::uuid) < ?12::bigint",
);

const RENAME: Sql = Sql::new(
    "UPDATE passkeys SET name = ?3 WHERE id = ?1 AND user_id = ?2 \
     RETURNING id, credential_id, transports, name, created_at, last_used_at, backed_up",
    "UPDATE passkeys SET name = ?3 WHERE id = ?1 AND user_id = ?2::text::uuid \
     RETURNING id, credential_id, transports, name, created_at, last_used_at, backed_up",
);

const NAME_OF: Sql = Sql::new(
    "SELECT name FROM passkeys WHERE id = ?1 AND user_id = ?2",
    "SELECT name FROM passkeys WHERE id = ?1 AND user_id = ?2::text::uuid",
);

/// Takes one off the mirror, on the locked user row, only if the passkey exists and the
/// account keeps a password, an identity or another passkey. In Postgres a concurrent
/// removal waits for the row and re-checks these conditions against the committed count.
const GUARD_REMOVAL: Sql = Sql::new(
    "UPDATE users SET passkey_count = passkey_count - 1 WHERE id = ?2 \
     AND EXISTS (SELECT 1 FROM passkeys WHERE id = ?1 AND user_id = ?2) \
     AND (password_hash <> '' OR identity_providers <> '' OR passkey_count > 1)",
    "UPDATE users SET passkey_count = passkey_count - 1 WHERE id = ?2::text::uuid \
     AND EXISTS (SELECT 1 FROM passkeys WHERE id = ?1 AND user_id = ?2::text::uuid) \
     AND (password_hash <> '' OR identity_providers <> '' OR passkey_count > 1)",
);

/// Deletes only when the guard took one off (the mirror is then one below the table).
const DELETE_GUARDED: Sql = Sql::new(
    "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2 \
     AND (SELECT passkey_count FROM users WHERE id = ?2) < (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2)",
    "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2::text::uuid \
     AND (SELECT passkey_count FROM users WHERE id = ?2::text::uuid) \
       < (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2::text::uuid)",
);

const CREDENTIALS_OF_EMAIL: Sql = Sql::same(
    "SELECT p.credential_id, p.transports FROM passkeys p JOIN users u ON u.id = p.user_id \
     WHERE u.email = ?1 ORDER BY p.created_at, p.id",
);

const CREDENTIALS_OF_USER: Sql = Sql::new(
    "SELECT credential_id, transports FROM passkeys WHERE user_id = ?1 ORDER BY created_at, id",
    "SELECT credential_id, transports FROM passkeys WHERE user_id = ?1::text::uuid ORDER BY created_at, id",
);

const FIND: Sql = Sql::new(
    concat!(
        "SELECT ",
        crate::user_columns!(sqlite, "u"),
        ", p.id AS passkey_id, p.public_key, h.handle FROM passkeys p JOIN users u ON u.id = p.user_id \
         LEFT JOIN passkey_users h ON h.user_id = p.user_id WHERE p.credential_id = ?1"
    ),
    concat!(
        "SELECT ",
        crate::user_columns!(postgres, "u"),
        ", p.id AS passkey_id, p.public_key, h.handle FROM passkeys p JOIN users u ON u.id = p.user_id \
         LEFT JOIN passkey_users h ON h.user_id = p.user_id WHERE p.credential_id = ?1"
    ),
);

/// `?2` the received counter: it must be above the stored one, unless both are 0.
const RECORD_USE: Sql = Sql::new(
    "UPDATE passkeys SET sign_count = ?2, backed_up = ?3, last_used_at = ?4 \
     WHERE id = ?1 AND (?2 > sign_count OR (?2 = 0 AND sign_count = 0))",
    "UPDATE passkeys SET sign_count = ?2::bigint, backed_up = ?3::boolean, last_used_at = ?4::bigint \
     WHERE id = ?1 AND (?2::bigint > sign_count OR (?2::bigint = 0 AND sign_count = 0))",
);

/// The second-factor probe (`?1` the user): how many passkeys they hold.
pub const HAS_PASSKEY: Sql = Sql::new(
    "SELECT COUNT(*) AS n FROM passkeys WHERE user_id = ?1",
    "SELECT COUNT(*)::bigint AS n FROM passkeys WHERE user_id = ?1::text::uuid",
);
