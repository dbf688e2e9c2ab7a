//! An in-memory store with the same semantics as the SQL adapters, for native tests.

use std::cell::RefCell;

use async_trait::async_trait;

use crate::domain::{
    EmailAddress, OneTimeToken, Session, SessionId, SessionStore, StoreError, TokenPurpose, TokenStore, UnixSeconds,
    User, UserId, UserStore, WriteUserError,
};

#[derive(Default)]
struct State {
    users: Vec<User>,
    sessions: Vec<(Session, Option<UnixSeconds>)>,
    tokens: Vec<(OneTimeToken, Option<UnixSeconds>)>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: RefCell<State>,
}

impl MemoryStore {
    fn with_user<T>(&self, id: &UserId, f: impl FnOnce(&mut User) -> T) -> Option<T> {
        self.state.borrow_mut().users.iter_mut().find(|u| &u.id == id).map(f)
    }

    /// Every stored token, for tests that check what is kept at rest.
    pub fn tokens(&self) -> Vec<OneTimeToken> {
        self.state.borrow().tokens.iter().map(|(t, _)| t.clone()).collect()
    }
}

fn live(token: &OneTimeToken, used_at: Option<UnixSeconds>, now: UnixSeconds) -> bool {
    used_at.is_none() && token.expires_at > now
}

#[async_trait(?Send)]
impl UserStore for MemoryStore {
    async fn insert_user(&self, user: &User) -> Result<(), WriteUserError> {
        let mut state = self.state.borrow_mut();
        if state.users.iter().any(|u| u.email == user.email) {
            return Err(WriteUserError::EmailTaken);
        }
        state.users.push(user.clone());
        Ok(())
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        Ok(self
            .state
            .borrow()
            .users
            .iter()
            .find(|u| u.email == email.as_str())
            .cloned())
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.state.borrow().users.iter().find(|u| &u.id == id).cloned())
    }

    async fn mark_email_verified(&self, id: &UserId, now: UnixSeconds) -> Result<(), StoreError> {
        self.with_user(id, |u| (u.email_verified, u.updated_at) = (true, now));
        Ok(())
    }

    async fn set_password_hash(&self, id: &UserId, hash: &str, now: UnixSeconds) -> Result<(), StoreError> {
        self.with_user(id, |u| (u.password_hash, u.updated_at) = (hash.to_owned(), now));
        Ok(())
    }

    async fn set_full_name(&self, id: &UserId, name: Option<&str>, now: UnixSeconds) -> Result<(), StoreError> {
        self.with_user(id, |u| (u.full_name, u.updated_at) = (name.map(str::to_owned), now));
        Ok(())
    }

    async fn set_email(&self, id: &UserId, email: &EmailAddress, now: UnixSeconds) -> Result<(), WriteUserError> {
        if self
            .state
            .borrow()
            .users
            .iter()
            .any(|u| u.email == email.as_str() && &u.id != id)
        {
            return Err(WriteUserError::EmailTaken);
        }
        self.with_user(id, |u| {
            (u.email, u.email_verified, u.updated_at) = (email.as_str().to_owned(), true, now)
        });
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait(?Send)]
impl SessionStore for MemoryStore {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        self.state.borrow_mut().sessions.push((session.clone(), None));
        Ok(())
    }

    async fn session_user(&self, id: &SessionId, now: UnixSeconds) -> Result<Option<User>, StoreError> {
        let state = self.state.borrow();
        let session = state
            .sessions
            .iter()
            .find(|(s, revoked)| &s.id == id && revoked.is_none() && s.expires_at > now);
        Ok(session.and_then(|(s, _)| state.users.iter().find(|u| u.id == s.user_id).cloned()))
    }

    async fn revoke_session(&self, id: &SessionId, now: UnixSeconds) -> Result<(), StoreError> {
        for (s, revoked) in self.state.borrow_mut().sessions.iter_mut() {
            if &s.id == id && revoked.is_none() {
                *revoked = Some(now);
            }
        }
        Ok(())
    }

    async fn revoke_sessions_of(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        for (s, revoked) in self.state.borrow_mut().sessions.iter_mut() {
            if &s.user_id == user && Some(&s.id) != keep && revoked.is_none() {
                *revoked = Some(now);
            }
        }
        Ok(())
    }
}

#[async_trait(?Send)]
impl TokenStore for MemoryStore {
    async fn replace_token(
        &self,
        token: &OneTimeToken,
        cooldown_since: Option<UnixSeconds>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state.borrow_mut();
        let same = |t: &OneTimeToken| t.user_id == token.user_id && t.purpose == token.purpose;
        let cooling = cooldown_since.is_some_and(|since| {
            state
                .tokens
                .iter()
                .any(|(t, used)| same(t) && used.is_none() && t.created_at > since)
        });
        if cooling {
            return Ok(false);
        }
        state.tokens.retain(|(t, used)| !(same(t) && used.is_none()));
        state.tokens.push((token.clone(), None));
        Ok(true)
    }

    async fn consume_token(
        &self,
        purpose: TokenPurpose,
        digest: &str,
        now: UnixSeconds,
        max_attempts: i64,
    ) -> Result<Option<OneTimeToken>, StoreError> {
        let mut state = self.state.borrow_mut();
        let found = state.tokens.iter_mut().find(|(t, used)| {
            t.purpose == purpose && t.digest == digest && live(t, *used, now) && t.attempts < max_attempts
        });
        Ok(found.map(|(t, used)| {
            *used = Some(now);
            t.clone()
        }))
    }

    async fn record_failed_attempt(
        &self,
        user: &UserId,
        purpose: TokenPurpose,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        for (t, used) in self.state.borrow_mut().tokens.iter_mut() {
            if &t.user_id == user && t.purpose == purpose && live(t, *used, now) {
                t.attempts += 1;
            }
        }
        Ok(())
    }

    async fn pending_email_change(
        &self,
        email: &EmailAddress,
        now: UnixSeconds,
    ) -> Result<Option<OneTimeToken>, StoreError> {
        let state = self.state.borrow();
        let mut pending: Vec<&OneTimeToken> = state
            .tokens
            .iter()
            .filter(|(t, used)| {
                t.purpose == TokenPurpose::ChangeEmail
                    && t.new_email.as_deref() == Some(email.as_str())
                    && live(t, *used, now)
            })
            .map(|(t, _)| t)
            .collect();
        pending.sort_by_key(|t| t.created_at);
        Ok(pending.last().map(|t| (*t).clone()))
    }
}
