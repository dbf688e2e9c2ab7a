//! mfa's tables (`mfa_totp`, `mfa_recovery_codes`) and the `users.mfa_enabled` mirror, in
//! both dialects side by side. Every decision that must hold under concurrency is one
//! conditional statement: a TOTP step is accepted by the `UPDATE` that records it, a
//! recovery code is spent by the `UPDATE` that marks it, an enrollment try is counted by the
//! `UPDATE` that admits it.

use super::totp::{SKEW_STEPS, STEP_SECONDS};
use crate::kernel::fields::from_fields;
use crate::kernel::sql::{Database, Sql, Statement, StoreError, Value};
use crate::kernel::{UnixSeconds, UserId};

/// A live enrollment: its sealed secret, and the last TOTP step accepted for the user
/// (kept from a factor disabled moments ago).
pub struct Enrollment {
    pub secret: String,
    pub last_step: i64,
}
from_fields!(Enrollment { secret, last_step });

/// A user's TOTP row: a pending enrollment or the confirmed factor.
#[derive(Debug, Clone)]
pub struct TotpRow {
    /// Sealed (`seal_text`), bound to the user.
    pub secret: String,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
}
from_fields!(TotpRow {
    secret,
    confirmed_at,
    last_step
});

struct Count {
    n: i64,
}
from_fields!(Count { n });

pub struct MfaStore<'a>(pub &'a dyn Database);

impl MfaStore<'_> {
    pub async fn totp(&self, user: &UserId) -> Result<Option<TotpRow>, StoreError> {
        self.0.first(&TOTP, &[user.0.as_str().into()]).await
    }

    /// Starts (or restarts, replacing) an enrollment; `false` when 2FA is already on.
    pub async fn begin_enrollment(
        &self,
        user: &UserId,
        sealed: &str,
        now: UnixSeconds,
        expires_at: UnixSeconds,
    ) -> Result<bool, StoreError> {
        let params = [user.0.as_str().into(), sealed.into(), now.into(), expires_at.into()];
        Ok(self.0.execute(&BEGIN_ENROLLMENT, &params).await? == 1)
    }

    /// Counts one try at confirming a live enrollment (`ENROLL_TRIES` at most): its sealed
    /// secret and the last step accepted for the user (the enrollment's codes must be
    /// later), or `None` when there is no live one.
    pub async fn try_enrollment(&self, user: &UserId, now: UnixSeconds) -> Result<Option<Enrollment>, StoreError> {
        self.0
            .first(
                &TRY_ENROLLMENT,
                &[user.0.as_str().into(), now.into(), ENROLL_TRIES.into()],
            )
            .await
    }

    /// Records `step` as the last one accepted, if it is later than the last: the one
    /// atomic decision that makes a code work once, on whichever route, however many
    /// requests present it at once. `true` when this request's step was accepted.
    pub async fn accept_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError> {
        Ok(self
            .0
            .execute(&ACCEPT_STEP, &[user.0.as_str().into(), step.into()])
            .await?
            == 1)
    }

    /// Spends the unused recovery code `digest`; `true` for the one request that did.
    pub async fn spend_recovery_code(&self, user: &UserId, digest: &str, now: UnixSeconds) -> Result<bool, StoreError> {
        let params = [user.0.as_str().into(), digest.into(), now.into()];
        Ok(self.0.execute(&SPEND_RECOVERY_CODE, &params).await? == 1)
    }

    /// Makes `digest` unused again if it was spent at `since` or later: only the request
    /// that spent it since then asks (nobody else could spend it while it was spent).
    pub async fn restore_recovery_code(
        &self,
        user: &UserId,
        digest: &str,
        since: UnixSeconds,
    ) -> Result<(), StoreError> {
        let params = [user.0.as_str().into(), digest.into(), since.into()];
        self.0.execute(&RESTORE_RECOVERY_CODE, &params).await?;
        Ok(())
    }

    pub async fn unused_recovery_codes(&self, user: &UserId) -> Result<i64, StoreError> {
        let count: Option<Count> = self.0.first(&UNUSED_RECOVERY_CODES, &[user.0.as_str().into()]).await?;
        Ok(count.map_or(0, |c| c.n))
    }
}

/// Tries at confirming one enrollment before it is gone.
pub const ENROLL_TRIES: i64 = 5;

/// The statements that confirm the enrollment sealed as `sealed` at `step` and store the
/// first recovery codes, as one transaction. `confirmed_by` (a fresh id of this confirmation) makes every
/// statement after the first act only if this request's confirmation is the one that
/// happened, so a confirmation that lost a race changes nothing. The batch's first answer changed 1 row when it did.
pub fn confirm(
    user: &UserId,
    sealed: &str,
    step: i64,
    now: UnixSeconds,
    confirmation: &str,
    digests: &[String],
) -> Vec<Statement> {
    let id = || Value::from(user.0.as_str());
    let mut statements = vec![
        Statement::new(
            CONFIRM,
            vec![id(), sealed.into(), step.into(), now.into(), confirmation.into()],
        ),
        Statement::new(MARK_ENABLED, vec![id(), confirmation.into()]),
        Statement::new(DELETE_RECOVERY_CODES_IF_CONFIRMED, vec![id(), confirmation.into()]),
    ];
    statements.extend(digests.iter().map(|digest| {
        Statement::new(
            INSERT_RECOVERY_CODE_IF_CONFIRMED,
            vec![id(), digest.into(), now.into(), confirmation.into()],
        )
    }));
    statements
}

/// Replaces every recovery code of the user with `digests`.
pub fn replace_recovery_codes(user: &UserId, now: UnixSeconds, digests: &[String]) -> Vec<Statement> {
    let id = || Value::from(user.0.as_str());
    let mut statements = vec![Statement::new(DELETE_RECOVERY_CODES, vec![id()])];
    statements.extend(
        digests
            .iter()
            .map(|digest| Statement::new(INSERT_RECOVERY_CODE, vec![id(), digest.into(), now.into()])),
    );
    statements
}

/// Turns 2FA off: the secret, every recovery code, the mirror flag. The factor's row
/// stays a while as a spent enrollment, keeping its last accepted step: an enrollment
/// begun meanwhile is not confirmed by a code of that step (a time step once accepted is
/// never accepted again for the user). Housekeeping drops the row once every code of that
/// step is outside the skew window.
pub fn disable(user: &UserId, now: UnixSeconds) -> Vec<Statement> {
    let id = || Value::from(user.0.as_str());
    let kept_until = now + (SKEW_STEPS + 2) * STEP_SECONDS;
    vec![
        Statement::new(DISABLE_TOTP, vec![id(), kept_until.into(), ENROLL_TRIES.into()]),
        Statement::new(DELETE_RECOVERY_CODES, vec![id()]),
        Statement::new(MARK_DISABLED, vec![id()]),
    ]
}

const TOTP: Sql = Sql::new(
    "SELECT secret, confirmed_at, last_step FROM mfa_totp WHERE user_id = ?1",
    "SELECT secret, confirmed_at, last_step FROM mfa_totp WHERE user_id = ?1::text::uuid",
);

/// `?1` user, `?2` sealed secret, `?3` now, `?4` expiry. A confirmed row is left alone;
/// an unconfirmed one (a restarted enrollment, or a factor just disabled) keeps its last
/// accepted step.
const BEGIN_ENROLLMENT: Sql = Sql::new(
    "INSERT INTO mfa_totp (user_id, secret, created_at, enroll_expires_at, enroll_attempts, last_step) \
     VALUES (?1, ?2, ?3, ?4, 0, -1) \
     ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, \
     enroll_expires_at = excluded.enroll_expires_at, enroll_attempts = 0 \
     WHERE mfa_totp.confirmed_at IS NULL",
    "INSERT INTO mfa_totp (user_id, secret, created_at, enroll_expires_at, enroll_attempts, last_step) \
     VALUES (?1::text::uuid, ?2, ?3, ?4, 0, -1) \
     ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, \
     enroll_expires_at = excluded.enroll_expires_at, enroll_attempts = 0 \
     WHERE mfa_totp.confirmed_at IS NULL",
);

/// `?1` user, `?2` now, `?3` tries allowed.
const TRY_ENROLLMENT: Sql = Sql::new(
    "UPDATE mfa_totp SET enroll_attempts = enroll_attempts + 1 \
     WHERE user_id = ?1 AND confirmed_at IS NULL AND enroll_expires_at > ?2 AND enroll_attempts < ?3 \
     RETURNING secret, last_step",
    "UPDATE mfa_totp SET enroll_attempts = enroll_attempts + 1 \
     WHERE user_id = ?1::text::uuid AND confirmed_at IS NULL AND enroll_expires_at > ?2 AND enroll_attempts < ?3 \
     RETURNING secret, last_step",
);

/// `?1` user, `?2` the sealed secret the code was checked against (a restarted enrollment
/// is not confirmed by the old one's code), `?3` the step, `?4` now, `?5` the confirmation.
const CONFIRM: Sql = Sql::new(
    "UPDATE mfa_totp SET confirmed_at = ?4, confirmed_by = ?5, last_step = ?3 \
     WHERE user_id = ?1 AND secret = ?2 AND confirmed_at IS NULL AND last_step < ?3",
    "UPDATE mfa_totp SET confirmed_at = ?4, confirmed_by = ?5, last_step = ?3 \
     WHERE user_id = ?1::text::uuid AND secret = ?2 AND confirmed_at IS NULL AND last_step < ?3",
);

/// `?1` user, `?2` the confirmation that happened.
const MARK_ENABLED: Sql = Sql::new(
    "UPDATE users SET mfa_enabled = 1 \
     WHERE id = ?1 AND EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ?1 AND confirmed_by = ?2)",
    "UPDATE users SET mfa_enabled = true \
     WHERE id = ?1::text::uuid AND EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ?1::text::uuid AND confirmed_by = ?2)",
);

const MARK_DISABLED: Sql = Sql::new(
    "UPDATE users SET mfa_enabled = 0 WHERE id = ?1",
    "UPDATE users SET mfa_enabled = false WHERE id = ?1::text::uuid",
);

/// `?1` user, `?2` step: accepted only by a confirmed factor whose last step is earlier.
const ACCEPT_STEP: Sql = Sql::new(
    "UPDATE mfa_totp SET last_step = ?2 WHERE user_id = ?1 AND confirmed_at IS NOT NULL AND last_step < ?2",
    "UPDATE mfa_totp SET last_step = ?2 WHERE user_id = ?1::text::uuid AND confirmed_at IS NOT NULL AND last_step < ?2",
);

/// `?1` user, `?2` until when the row stays, `?3` the enrollment tries (all spent).
const DISABLE_TOTP: Sql = Sql::new(
    "UPDATE mfa_totp SET secret = '', confirmed_at = NULL, confirmed_by = NULL, \
     enroll_expires_at = ?2, enroll_attempts = ?3 WHERE user_id = ?1",
    "UPDATE mfa_totp SET secret = '', confirmed_at = NULL, confirmed_by = NULL, \
     enroll_expires_at = ?2, enroll_attempts = ?3 WHERE user_id = ?1::text::uuid",
);

const DELETE_RECOVERY_CODES: Sql = Sql::new(
    "DELETE FROM mfa_recovery_codes WHERE user_id = ?1",
    "DELETE FROM mfa_recovery_codes WHERE user_id = ?1::text::uuid",
);

/// As `DELETE_RECOVERY_CODES`, only if `?2`'s confirmation happened: a confirmation that
/// lost a race must not delete the codes the winner just stored.
const DELETE_RECOVERY_CODES_IF_CONFIRMED: Sql = Sql::new(
    "DELETE FROM mfa_recovery_codes \
     WHERE user_id = ?1 AND EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ?1 AND confirmed_by = ?2)",
    "DELETE FROM mfa_recovery_codes \
     WHERE user_id = ?1::text::uuid AND EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ?1::text::uuid AND confirmed_by = ?2)",
);

/// `?1` user, `?2` digest, `?3` now.
const INSERT_RECOVERY_CODE: Sql = Sql::new(
    "INSERT INTO mfa_recovery_codes (user_id, digest, created_at) VALUES (?1, ?2, ?3)",
    "INSERT INTO mfa_recovery_codes (user_id, digest, created_at) VALUES (?1::text::uuid, ?2, ?3)",
);

/// As `INSERT_RECOVERY_CODE`, only if `?4`'s confirmation happened. (Postgres types the
/// parameters of a select list as text unless told.)
const INSERT_RECOVERY_CODE_IF_CONFIRMED: Sql = Sql::new(
    "INSERT INTO mfa_recovery_codes (user_id, digest, created_at) SELECT ?1, ?2, ?3 \
     WHERE EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ?1 AND confirmed_by = ?4)",
    "INSERT INTO mfa_recovery_codes (user_id, digest, created_at) SELECT ?1::text::uuid, ?2::text, ?3::bigint \
     WHERE EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ?1::text::uuid AND confirmed_by = ?4)",
);

/// `?1` user, `?2` digest, `?3` now.
const SPEND_RECOVERY_CODE: Sql = Sql::new(
    "UPDATE mfa_recovery_codes SET used_at = ?3 WHERE user_id = ?1 AND digest = ?2 AND used_at IS NULL",
    "UPDATE mfa_recovery_codes SET used_at = ?3 WHERE user_id = ?1::text::uuid AND digest = ?2 AND used_at IS NULL",
);

const RESTORE_RECOVERY_CODE: Sql = Sql::new(
    "UPDATE mfa_recovery_codes SET used_at = NULL WHERE user_id = ?1 AND digest = ?2 AND used_at >= ?3",
    "UPDATE mfa_recovery_codes SET used_at = NULL WHERE user_id = ?1::text::uuid AND digest = ?2 AND used_at >= ?3",
);

const UNUSED_RECOVERY_CODES: Sql = Sql::new(
    "SELECT count(*) AS n FROM mfa_recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
    "SELECT count(*) AS n FROM mfa_recovery_codes WHERE user_id = ?1::text::uuid AND used_at IS NULL",
);

/// The second-factor probes (`Feature::second_factors`): `?1` the user.
pub const HAS_TOTP: Sql = Sql::new(
    "SELECT count(*) AS n FROM mfa_totp WHERE user_id = ?1 AND confirmed_at IS NOT NULL",
    "SELECT count(*) AS n FROM mfa_totp WHERE user_id = ?1::text::uuid AND confirmed_at IS NOT NULL",
);
pub const HAS_RECOVERY_CODE: Sql = UNUSED_RECOVERY_CODES;

/// Housekeeping: enrollments never confirmed, past their expiry. `?1` now.
pub const PURGE_STALE_ENROLLMENTS: Sql =
    Sql::same("DELETE FROM mfa_totp WHERE confirmed_at IS NULL AND enroll_expires_at < ?1");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::users::testing::insert_user;
    use crate::kernel::testing::SqliteDatabase;

    /// Two confirmations of one enrollment, the second after the first won: the loser's
    /// batch changes nothing, and the codes stored are the winner's.
    #[test]
    fn a_confirmation_that_lost_keeps_the_winners_recovery_codes() {
        let db = SqliteDatabase::default();
        insert_user(&db, "u1", "ada@example.com", true);
        let (store, user) = (MfaStore(&db), UserId("u1".into()));
        pollster::block_on(async {
            assert!(store.begin_enrollment(&user, "sealed", 100, 700).await.unwrap());
            let winner = [String::from("w1"), String::from("w2")];
            let loser = [String::from("l1"), String::from("l2")];
            let won = db.batch(&confirm(&user, "sealed", 4, 120, "a", &winner)).await.unwrap();
            assert_eq!(won[0].changes, 1);
            let lost = db.batch(&confirm(&user, "sealed", 4, 120, "b", &loser)).await.unwrap();
            assert!(lost.iter().all(|r| r.changes == 0), "the loser changes nothing");
            assert_eq!(store.unused_recovery_codes(&user).await.unwrap(), 2);
            assert!(store.spend_recovery_code(&user, "w1", 130).await.unwrap());
            assert!(!store.spend_recovery_code(&user, "l1", 130).await.unwrap());
        });
    }

    /// A recovery code given back is unused again, only if it was spent since the time the
    /// caller names (an earlier spend was someone else's use).
    #[test]
    fn a_recovery_code_spent_since_is_given_back_and_an_earlier_spend_is_not() {
        let db = SqliteDatabase::default();
        insert_user(&db, "u1", "ada@example.com", true);
        let (store, user) = (MfaStore(&db), UserId("u1".into()));
        pollster::block_on(async {
            db.batch(&replace_recovery_codes(&user, 100, &["a".into(), "b".into()]))
                .await
                .unwrap();
            assert!(store.spend_recovery_code(&user, "a", 200).await.unwrap());
            store.restore_recovery_code(&user, "a", 200).await.unwrap();
            assert_eq!(store.unused_recovery_codes(&user).await.unwrap(), 2, "given back");
            assert!(
                store.spend_recovery_code(&user, "a", 300).await.unwrap(),
                "and usable again"
            );
            store.restore_recovery_code(&user, "a", 301).await.unwrap();
            assert_eq!(
                store.unused_recovery_codes(&user).await.unwrap(),
                1,
                "spent before 301: kept"
            );
        });
    }
}
