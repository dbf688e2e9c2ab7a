//! The one storage port: a SQL database in one of two dialects.
//!
//! Each capability writes its statements once, as `Sql` constants holding the SQLite (D1)
//! text and the Postgres text side by side (`Sql::same` where they are equal), and its
//! store code once, against `dyn Database`. The platform supplies the executors (D1, and
//! Postgres through Hyperdrive); native tests run the same SQL on an in-memory SQLite.

use async_trait::async_trait;

use super::fields::{self, FromFields};

/// A storage failure the flows cannot do anything about (database down, timeout, bad SQL).
#[derive(Debug, thiserror::Error)]
#[error("storage failure: {0}")]
pub struct StoreError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique index refused the write; the executor names it (`users.email`, or the
    /// Postgres constraint, `users_email_key`).
    #[error("unique constraint {0} refused the write")]
    Unique(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unique(index) => StoreError(format!("unexpected unique violation on {index}")),
            DbError::Store(e) => e,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// D1, and the in-memory database of the native tests.
    Sqlite,
    Postgres,
}

/// One statement in both dialects. Placeholders are `?1`, `?2`, ... in both texts (the
/// Postgres executor numbers them `$1`, `$2`, ...). An empty text means the dialect needs
/// no such statement (in a batch it answers no rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sql {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Whether this build can talk to Postgres: with the `postgres` feature, and natively (the
/// tests read both dialects).
const CARRIES_POSTGRES: bool = cfg!(any(feature = "postgres", not(target_arch = "wasm32")));

impl Sql {
    /// A statement in each dialect. A Worker built without the `postgres` feature never
    /// runs the Postgres text, so it does not carry it (the texts are constants, and a
    /// constant that drops one leaves it out of the bundle).
    pub const fn new(sqlite: &'static str, postgres: &'static str) -> Self {
        Self {
            sqlite,
            postgres: if CARRIES_POSTGRES { postgres } else { "" },
        }
    }

    /// A statement both dialects read alike.
    pub const fn same(sql: &'static str) -> Self {
        Self::new(sql, sql)
    }

    pub fn text(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// A bound parameter. Postgres texts cast where a column is not text or bigint
/// (`?1::text::uuid`, `to_timestamp(?2)`), so these four kinds are all a statement needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&String> for Value {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

/// A statement with its parameters, for a batch.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: Sql,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: Sql, params: Vec<Value>) -> Self {
        Self { sql, params }
    }
}

/// What one statement answered: its rows as JSON objects (column name to value; integers,
/// text, booleans — SQLite's are 0 or 1, which `bool` fields read as false and true), and
/// the rows it changed.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub rows: Vec<serde_json::Value>,
    pub changes: u64,
}

impl Rows {
    pub fn first<T: FromFields>(self) -> Result<Option<T>, StoreError> {
        self.rows.first().map(decode).transpose()
    }

    pub fn all<T: FromFields>(self) -> Result<Vec<T>, StoreError> {
        self.rows.iter().map(decode).collect()
    }

    /// The first row read as two structs (each reads its own columns).
    pub fn first_as_pair<A: FromFields, B: FromFields>(self) -> Result<Option<(A, B)>, StoreError> {
        let Some(row) = self.rows.first() else {
            return Ok(None);
        };
        Ok(Some((decode(row)?, decode(row)?)))
    }
}

fn decode<T: FromFields>(row: &serde_json::Value) -> Result<T, StoreError> {
    fields::read(row).map_err(|e| StoreError(format!("unexpected row shape: column {}: {}", e.field, e.message)))
}

#[async_trait(?Send)]
pub trait Database {
    fn dialect(&self) -> Dialect;
    /// `d1`, `postgres` or `sqlite` (native tests), for `/health`.
    fn backend(&self) -> &'static str;
    /// Runs one statement.
    async fn run(&self, sql: &Sql, params: &[Value]) -> Result<Rows, DbError>;
    /// Runs the statements as one transaction: all of them or none.
    async fn batch(&self, statements: &[Statement]) -> Result<Vec<Rows>, DbError>;
}

/// A database that counts the round trips made through it (a `run` or a `batch` is one),
/// for the request's log line: flows that must not tell accounts apart by time make the
/// same number whatever the address, and the end-to-end tests check it there.
pub struct Counted<'a> {
    inner: &'a dyn Database,
    trips: std::cell::Cell<u32>,
}

impl<'a> Counted<'a> {
    pub fn new(inner: &'a dyn Database) -> Self {
        Self {
            inner,
            trips: std::cell::Cell::new(0),
        }
    }

    pub fn trips(&self) -> u32 {
        self.trips.get()
    }
}

#[async_trait(?Send)]
impl Database for Counted<'_> {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn run(&self, sql: &Sql, params: &[Value]) -> Result<Rows, DbError> {
        self.trips.set(self.trips.get() + 1);
        self.inner.run(sql, params).await
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<Rows>, DbError> {
        self.trips.set(self.trips.get() + 1);
        self.inner.batch(statements).await
    }
}

impl dyn Database + '_ {
    /// The first row, decoded.
    pub async fn first<T: FromFields>(&self, sql: &Sql, params: &[Value]) -> Result<Option<T>, StoreError> {
        self.run(sql, params).await?.first()
    }

    /// Whether the statement answers any row.
    pub async fn exists(&self, sql: &Sql, params: &[Value]) -> Result<bool, StoreError> {
        Ok(!self.run(sql, params).await?.rows.is_empty())
    }

    /// Every row, decoded.
    pub async fn all<T: FromFields>(&self, sql: &Sql, params: &[Value]) -> Result<Vec<T>, StoreError> {
        self.run(sql, params).await?.all()
    }

    /// Runs a statement for its effect; answers the rows it changed.
    pub async fn execute(&self, sql: &Sql, params: &[Value]) -> Result<u64, StoreError> {
        Ok(self.run(sql, params).await?.changes)
    }
}

/// Rewrites `?1`, `?2`, ... as Postgres's `$1`, `$2`, ... outside quoted text.
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '?') if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_outside_quotes() {
        let cases = [
            ("SELECT ?1, ?2", "SELECT $1, $2"),
            ("WHERE a = ?12 AND b = '?1'", "WHERE a = $12 AND b = '?1'"),
            ("SELECT \"?3\" FROM t WHERE x = ?3", "SELECT \"?3\" FROM t WHERE x = $3"),
            ("SELECT ? FROM t", "SELECT ? FROM t"),
        ];
        for (sqlite, postgres) in cases {
            assert_eq!(numbered_placeholders(sqlite), postgres, "{sqlite}");
        }
    }

    #[test]
    fn booleans_read_from_either_dialect() {
        struct Row {
            on: bool,
        }
        impl FromFields for Row {
            fn from_fields(f: fields::Fields<'_>) -> Result<Self, fields::Mismatch> {
                Ok(Self { on: f.get("on")? })
            }
        }
        for (json, expected) in [("true", true), ("false", false), ("1", true), ("0", false)] {
            let rows = Rows {
                rows: vec![serde_json::from_str(&format!(r#"{{"on":{json}}}"#)).unwrap()],
                changes: 0,
            };
            assert_eq!(rows.first::<Row>().unwrap().unwrap().on, expected, "{json}");
        }
        let rows = Rows {
            rows: vec![serde_json::json!({"on": "yes"})],
            changes: 0,
        };
        let error = rows.first::<Row>().err().unwrap().0;
        assert_eq!(
            error,
            "unexpected row shape: column on: invalid type: string \"yes\", expected a boolean"
        );
    }
}
