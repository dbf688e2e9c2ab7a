//! What native tests of any capability run on: the real SQL on an in-memory SQLite (with
//! every D1 migration applied), a fixed clock, a recording outbox, the counters' own
//! arithmetic, and a `TestWorld` that builds a handler context from a list of features.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use async_trait::async_trait;

use super::assets::{AssetError, Assets};
use super::config::{test_var, Vars};
use super::events::{AuthEvent, EventLog};
use super::feature::{AppState, Ctx, Feature, MetricsSource, Services};
use super::fetch::{FetchError, HttpClient, HttpRequest, HttpResponse};
use super::ids::{Clock, UnixSeconds};
use super::mail::{Mail, Outbox};
use super::password::CommonPasswords;
use super::sql::{Database, DbError, Dialect, Rows, Sql, Statement, StoreError, Value};
use crate::rate_limit::MemoryLimiter;

/// An in-memory SQLite database with `migrations/d1` applied: the statements the D1
/// executor would run, on the same engine.
pub struct SqliteDatabase {
    connection: RefCell<rusqlite::Connection>,
}

impl Default for SqliteDatabase {
    fn default() -> Self {
        let connection = rusqlite::Connection::open_in_memory().expect("SQLite opens in memory");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/d1");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("migrations/d1 exists")
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        for file in files {
            let sql = std::fs::read_to_string(&file).unwrap();
            connection
                .execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        Self {
            connection: RefCell::new(connection),
        }
    }
}

impl SqliteDatabase {
    fn run_one(connection: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        if sql.is_empty() {
            return Ok(Rows::default());
        }
        let mut statement = connection.prepare(sql).map_err(db_error)?;
        let names: Vec<String> = statement.column_names().iter().map(|n| n.to_string()).collect();
        let values = params.iter().map(|value| match value {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(i) => rusqlite::types::Value::Integer(*i),
            Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
            Value::Bool(b) => rusqlite::types::Value::Integer(i64::from(*b)),
        });
        let mut found = statement.query(rusqlite::params_from_iter(values)).map_err(db_error)?;
        let mut rows = Vec::new();
        while let Some(row) = found.next().map_err(db_error)? {
            let mut object = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                use rusqlite::types::ValueRef;
                let value = match row.get_ref(i).map_err(db_error)? {
                    ValueRef::Null => serde_json::Value::Null,
                    ValueRef::Integer(n) => n.into(),
                    ValueRef::Real(f) => f.into(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                    ValueRef::Blob(_) => return Err(DbError::Store(StoreError("blob column".into()))),
                };
                object.insert(name.clone(), value);
            }
            rows.push(serde_json::Value::Object(object));
        }
        drop(found);
        Ok(Rows {
            rows,
            changes: connection.changes(),
        })
    }
}

fn db_error(error: rusqlite::Error) -> DbError {
    let text = error.to_string();
    match text.strip_prefix("UNIQUE constraint failed: ") {
        Some(index) => DbError::Unique(index.to_owned()),
        None => DbError::Store(StoreError(format!("SQLite: {text}"))),
    }
}

#[async_trait(?Send)]
impl Database for SqliteDatabase {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn run(&self, sql: &Sql, params: &[Value]) -> Result<Rows, DbError> {
        Self::run_one(&self.connection.borrow(), sql.sqlite, params)
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<Rows>, DbError> {
        let mut connection = self.connection.borrow_mut();
        let transaction = connection.transaction().map_err(db_error)?;
        let results = statements
            .iter()
            .map(|s| Self::run_one(&transaction, s.sql.sqlite, &s.params))
            .collect::<Result<Vec<_>, _>>()?;
        transaction.commit().map_err(db_error)?;
        Ok(results)
    }
}

/// A clock that moves only when told.
pub struct FixedClock(Cell<UnixSeconds>);

impl FixedClock {
    pub fn at(now: UnixSeconds) -> Self {
        Self(Cell::new(now))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.set(self.0.get() + seconds);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixSeconds {
        self.0.get()
    }
}

/// Keeps every mail sent, in order.
#[derive(Default)]
pub struct RecordingOutbox(RefCell<Vec<Mail>>);

impl Outbox for RecordingOutbox {
    fn send(&self, mail: Mail) {
        self.0.borrow_mut().push(mail);
    }
}

impl RecordingOutbox {
    pub fn to(&self, recipient: &str) -> Vec<Mail> {
        self.0.borrow().iter().filter(|m| m.to == recipient).cloned().collect()
    }

    pub fn all(&self) -> Vec<Mail> {
        self.0.borrow().clone()
    }
}

/// A metrics store holding nothing.
pub struct NoMetrics;

#[async_trait(?Send)]
impl MetricsSource for NoMetrics {
    async fn snapshot(&self) -> Result<String, String> {
        Ok("{}".into())
    }
}

/// What a fake service answers a request.
pub type HttpHandler = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse, FetchError>>;

/// Outbound HTTP answered by the test: keeps every request sent; without a handler every
/// request fails as a network error would.
#[derive(Default)]
pub struct FakeHttp {
    handler: RefCell<Option<HttpHandler>>,
    sent: RefCell<Vec<HttpRequest>>,
}

impl FakeHttp {
    pub fn answer(&self, handler: impl Fn(&HttpRequest) -> Result<HttpResponse, FetchError> + 'static) {
        self.handler.replace(Some(Box::new(handler)));
    }

    pub fn sent(&self) -> Vec<HttpRequest> {
        self.sent.borrow().clone()
    }
}

#[async_trait(?Send)]
impl HttpClient for FakeHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        self.sent.borrow_mut().push(request.clone());
        match &*self.handler.borrow() {
            Some(handler) => handler(&request),
            None => Err(FetchError::Network("no fake service answers".into())),
        }
    }
}

pub const T0: UnixSeconds = 1_800_000_000;

/// A handler context over real SQL, for the features given (their settings and limits).
pub struct TestWorld {
    pub state: AppState,
    pub db: SqliteDatabase,
    pub outbox: RecordingOutbox,
    pub clock: Rc<FixedClock>,
    pub limiter: MemoryLimiter,
    pub events: EventLog,
    pub assets: MemoryAssets,
    pub http: FakeHttp,
}

impl TestWorld {
    pub fn new(features: &[&Feature]) -> Self {
        Self::with_vars(features, &test_var)
    }

    pub fn with_vars(features: &[&Feature], read: &dyn Fn(&str) -> Option<String>) -> Self {
        let clock = Rc::new(FixedClock::at(T0));
        let limiter_clock = clock.clone();
        Self {
            state: AppState::new(features, &Vars::new(read)).expect("the test configuration is valid"),
            db: SqliteDatabase::default(),
            outbox: RecordingOutbox::default(),
            limiter: MemoryLimiter::new(Rc::new(move || limiter_clock.now() * 1000)),
            clock,
            events: EventLog::default(),
            assets: MemoryAssets::deployed(),
            http: FakeHttp::default(),
        }
    }

    /// The world's adapters, as the Worker entry would pass them.
    pub fn services(&self) -> Services<'_> {
        Services {
            db: &self.db,
            crypto: &NativeCrypto,
            outbox: &self.outbox,
            clock: &*self.clock,
            limiter: &self.limiter,
            metrics: &NoMetrics,
            assets: &self.assets,
            http: &self.http,
        }
    }

    /// Runs `f` with a fresh request context, as a handler would see it.
    pub fn with_ctx<T>(&self, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
        let services = self.services();
        let ctx = Ctx::new(&self.state, &services, &self.events, "test-request", Some("192.0.2.1"));
        f(&ctx)
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
    }

    pub fn events(&self) -> Vec<AuthEvent> {
        self.events.take()
    }

    /// Rows of a query on the test database.
    pub fn query(&self, sql: &str) -> Vec<serde_json::Value> {
        pollster::block_on(self.db.run(&Sql::new(leak(sql), ""), &[]))
            .unwrap()
            .rows
    }
}

fn leak(sql: &str) -> &'static str {
    Box::leak(sql.to_owned().into_boxed_str())
}

/// Ed25519, ECDSA P-256, RS256 verification, HMAC-SHA-384/512 and AES-256-GCM natively
/// (RustCrypto), where the Worker uses WebCrypto.
pub struct NativeCrypto;

fn jwk_bytes(value: &str) -> Result<Vec<u8>, super::crypto::CryptoError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|e| super::crypto::CryptoError(e.to_string()))
}

fn point(key: &super::crypto::PublicKey) -> Result<Vec<u8>, super::crypto::CryptoError> {
    let mut sec1 = vec![4u8];
    sec1.extend(jwk_bytes(&key.x)?);
    sec1.extend(jwk_bytes(key.y.as_deref().unwrap_or_default())?);
    Ok(sec1)
}

#[async_trait(?Send)]
impl super::crypto::Crypto for NativeCrypto {
    async fn sign(
        &self,
        _: &str,
        key: &super::crypto::PrivateKey,
        input: &[u8],
    ) -> Result<Vec<u8>, super::crypto::CryptoError> {
        use super::crypto::{CryptoError, KeyAlg};
        let d = jwk_bytes(&key.d)?;
        match key.public.alg {
            KeyAlg::EdDsa => {
                use ed25519_dalek::Signer;
                let seed: [u8; 32] = d.try_into().map_err(|_| CryptoError("d is not 32 bytes".into()))?;
                Ok(ed25519_dalek::SigningKey::from_bytes(&seed)
                    .sign(input)
                    .to_bytes()
                    .to_vec())
            }
            KeyAlg::Es256 => {
                use p256::ecdsa::signature::Signer;
                let signing = p256::ecdsa::SigningKey::from_slice(&d).map_err(|e| CryptoError(e.to_string()))?;
                let signature: p256::ecdsa::Signature = signing.sign(input);
                Ok(signature.to_bytes().to_vec())
            }
        }
    }

    async fn verify(
        &self,
        _: &str,
        key: &super::crypto::PublicKey,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, super::crypto::CryptoError> {
        use super::crypto::{CryptoError, KeyAlg};
        match key.alg {
            KeyAlg::EdDsa => {
                let x: [u8; 32] = jwk_bytes(&key.x)?
                    .try_into()
                    .map_err(|_| CryptoError("x is not 32 bytes".into()))?;
                let public = ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|e| CryptoError(e.to_string()))?;
                let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
                    return Ok(false);
                };
                Ok(public.verify_strict(input, &signature).is_ok())
            }
            KeyAlg::Es256 => {
                use p256::ecdsa::signature::Verifier;
                let public =
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point(key)?).map_err(|e| CryptoError(e.to_string()))?;
                let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
                    return Ok(false);
                };
                Ok(public.verify(input, &signature).is_ok())
            }
        }
    }

    async fn verify_rs256(
        &self,
        key: &super::crypto::RsaPublicKey,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, super::crypto::CryptoError> {
        use rsa::pkcs1v15::{Signature, VerifyingKey};
        use rsa::signature::Verifier;
        let fail = |e: &dyn std::fmt::Display| super::crypto::CryptoError(e.to_string());
        let n = rsa::BigUint::from_bytes_be(&jwk_bytes(&key.n)?);
        let e = rsa::BigUint::from_bytes_be(&jwk_bytes(&key.e)?);
        let public = rsa::RsaPublicKey::new(n, e).map_err(|e| fail(&e))?;
        let Ok(signature) = Signature::try_from(signature) else {
            return Ok(false);
        };
        Ok(VerifyingKey::<sha2::Sha256>::new(public)
            .verify(input, &signature)
            .is_ok())
    }

    async fn hmac(&self, hash: &'static str, key: &[u8], input: &[u8]) -> Result<Vec<u8>, super::crypto::CryptoError> {
        use hmac::{Hmac, Mac};
        macro_rules! mac {
            ($hash:ty) => {{
                let mut mac = Hmac::<$hash>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(input);
                Ok(mac.finalize().into_bytes().to_vec())
            }};
        }
        match hash {
            "SHA-384" => mac!(sha2::Sha384),
            "SHA-512" => mac!(sha2::Sha512),
            other => Err(super::crypto::CryptoError(format!("no HMAC with {other}"))),
        }
    }

    async fn seal(
        &self,
        key: &super::crypto::SealingKey,
        nonce: &super::crypto::Nonce,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, super::crypto::CryptoError> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let cipher = aes_gcm::Aes256Gcm::new(&key.bytes.into());
        cipher
            .encrypt(&(*nonce).into(), Payload { msg: plaintext, aad })
            .map_err(|e| super::crypto::CryptoError(e.to_string()))
    }

    async fn open(
        &self,
        key: &super::crypto::SealingKey,
        nonce: &super::crypto::Nonce,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, super::crypto::CryptoError> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let cipher = aes_gcm::Aes256Gcm::new(&key.bytes.into());
        Ok(cipher.decrypt(&(*nonce).into(), Payload { msg: sealed, aad }).ok())
    }
}

/// Static assets in memory: `deployed()` holds what `scripts/build.sh` puts under
/// `public/_worker/`, from the same sources; `default()` holds nothing.
#[derive(Default)]
pub struct MemoryAssets(Vec<(&'static str, &'static [u8])>);

impl MemoryAssets {
    pub fn deployed() -> Self {
        Self(vec![
            (
                super::assets::COMMON_PASSWORDS,
                include_bytes!("../../data/common-passwords.txt"),
            ),
            (super::assets::OPENAPI, include_bytes!("../../openapi.json")),
        ])
    }
}

#[async_trait(?Send)]
impl Assets for MemoryAssets {
    async fn read(&self, path: &str) -> Result<Vec<u8>, AssetError> {
        self.0
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, bytes)| bytes.to_vec())
            .ok_or_else(|| AssetError {
                path: path.to_owned(),
                reason: "not deployed".to_owned(),
            })
    }
}

/// The shipped common-password list, for tests that parse passwords.
pub fn common_passwords() -> &'static CommonPasswords {
    pollster::block_on(CommonPasswords::shared(&MemoryAssets::deployed())).expect("the shipped list parses")
}
