//! The D1 executor of the SQL port: SQLite text, parameters bound as JS values, a batch
//! as D1's own (one transaction).

use std::cell::OnceCell;

use async_trait::async_trait;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

use crate::kernel::sql::{Database, DbError, Dialect, Rows, Sql, Statement, StoreError, Value};

pub struct D1 {
    env: Env,
    /// The `DB` binding, looked up at the first statement: a request that runs none (the
    /// cheapest routes) never asks the environment for it.
    db: OnceCell<Result<D1Database, String>>,
}

impl D1 {
    pub fn new(env: &Env) -> Self {
        Self {
            env: env.clone(),
            db: OnceCell::new(),
        }
    }

    /// A missing binding is an error, so the routes that need it answer 503.
    fn db(&self) -> Result<&D1Database, DbError> {
        self.db
            .get_or_init(|| self.env.d1("DB").map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| DbError::Store(StoreError(format!("binding DB: {e}"))))
    }

    fn prepare(&self, sql: &str, params: &[Value]) -> Result<D1PreparedStatement, DbError> {
        let args: Vec<JsValue> = params.iter().map(js).collect();
        self.db()?.prepare(sql).bind(&args).map_err(db_error)
    }
}

fn js(value: &Value) -> JsValue {
    match value {
        Value::Null => JsValue::NULL,
        Value::Int(i) => JsValue::from_f64(*i as f64),
        Value::Text(t) => JsValue::from_str(t),
        Value::Bool(b) => JsValue::from_f64(if *b { 1.0 } else { 0.0 }),
    }
}

fn rows(result: &D1Result) -> Result<Rows, DbError> {
    Ok(Rows {
        rows: result.results::<serde_json::Value>().map_err(db_error)?,
        changes: result.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64,
    })
}

/// D1 names a unique violation in its message: `UNIQUE constraint failed: users.email`.
fn db_error(error: impl std::fmt::Display) -> DbError {
    let text = error.to_string();
    match text.split_once("UNIQUE constraint failed: ") {
        Some((_, index)) => DbError::Unique(index.split([' ', ':']).next().unwrap_or(index).to_owned()),
        None => DbError::Store(StoreError(format!("D1: {text}"))),
    }
}

#[async_trait(?Send)]
impl Database for D1 {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn backend(&self) -> &'static str {
        "d1"
    }

    async fn run(&self, sql: &Sql, params: &[Value]) -> Result<Rows, DbError> {
        let result = self.prepare(sql.sqlite, params)?.all().await.map_err(db_error)?;
        rows(&result)
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<Rows>, DbError> {
        let present: Vec<&Statement> = statements.iter().filter(|s| !s.sql.sqlite.is_empty()).collect();
        let prepared = present
            .iter()
            .map(|s| self.prepare(s.sql.sqlite, &s.params))
            .collect::<Result<Vec<_>, _>>()?;
        let mut results = self.db()?.batch(prepared).await.map_err(db_error)?.into_iter();
        // A statement this dialect does without answers no rows, in its place.
        statements
            .iter()
            .map(|s| match s.sql.sqlite.is_empty() {
                true => Ok(Rows::default()),
                false => rows(
                    &results
                        .next()
                        .ok_or_else(|| DbError::Store(StoreError("D1 batch answered fewer results".into())))?,
                ),
            })
            .collect()
    }
}
