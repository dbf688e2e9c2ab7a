//! The D1 executor of the SQL port: SQLite text, parameters bound as JS values, a batch
//! as D1's own (one transaction).

use std::cell::OnceCell;

use async_trait::async_trait;
use js_sys::{Array, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::worker_sys::{D1Database, D1PreparedStatement};
use worker::Env;

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
            .get_or_init(|| {
                let db = self.env.d1("DB").map_err(|e| e.to_string())?;
                Ok(JsValue::from(db).unchecked_into())
            })
            .as_ref()
            .map_err(|e| DbError::Store(StoreError(format!("binding DB: {e}"))))
    }

    fn prepare(&self, sql: &str, params: &[Value]) -> Result<D1PreparedStatement, DbError> {
        let args: Array = params.iter().map(js).collect();
        self.db()?.prepare(sql).and_then(|s| s.bind(args)).map_err(db_error)
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

async fn settle(promise: Result<Promise, JsValue>) -> Result<JsValue, DbError> {
    JsFuture::from(promise.map_err(db_error)?).await.map_err(db_error)
}

/// D1's answer read in one crossing: `JSON.stringify` in the platform, parsed here, rather
/// than each row and each of its fields asked for across the boundary. D1 answers numbers,
/// strings and nulls (no table has a BLOB column), which JSON carries as they are.
fn decode(answer: &JsValue) -> Result<serde_json::Value, DbError> {
    let text = js_sys::JSON::stringify(answer).map_err(db_error)?;
    let text = text.as_string().unwrap_or_default();
    serde_json::from_str(&text).map_err(|e| DbError::Store(StoreError(format!("D1 answered unreadable JSON: {e}"))))
}

/// One statement's `{ results, meta: { changes } }`.
fn rows(mut result: serde_json::Value) -> Rows {
    let changes = result["meta"]["changes"].as_u64().unwrap_or(0);
    Rows {
        rows: match result["results"].take() {
            serde_json::Value::Array(rows) => rows,
            _ => Vec::new(),
        },
        changes,
    }
}

/// D1 names a unique violation in its message: `UNIQUE constraint failed: users.email`.
fn db_error(error: JsValue) -> DbError {
    let text = match error.dyn_ref::<js_sys::Error>() {
        Some(error) => {
            let message = String::from(error.message());
            match error
                .cause()
                .dyn_ref::<js_sys::Error>()
                .map(|c| String::from(c.message()))
            {
                Some(cause) if !cause.is_empty() && cause != message => format!("{message} ({cause})"),
                _ => message,
            }
        }
        None => error.as_string().unwrap_or_else(|| format!("{error:?}")),
    };
    match text.split_once("UNIQUE constraint failed: ") {
        Some((_, index)) => DbError::Unique(index.split([' ', ':', ')']).next().unwrap_or(index).to_owned()),
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
        let result = settle(self.prepare(sql.sqlite, params)?.all()).await?;
        Ok(rows(decode(&result)?))
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<Rows>, DbError> {
        let present: Vec<&Statement> = statements.iter().filter(|s| !s.sql.sqlite.is_empty()).collect();
        let prepared = present
            .iter()
            .map(|s| self.prepare(s.sql.sqlite, &s.params))
            .collect::<Result<Array, _>>()?;
        let answers = settle(self.db()?.batch(prepared)).await?;
        let mut results = match decode(&answers)? {
            serde_json::Value::Array(results) => results.into_iter(),
            _ => return Err(DbError::Store(StoreError("D1 batch answered no list".into()))),
        };
        // A statement this dialect does without answers no rows, in its place.
        statements
            .iter()
            .map(|s| match s.sql.sqlite.is_empty() {
                true => Ok(Rows::default()),
                false => Ok(rows(results.next().ok_or_else(|| {
                    DbError::Store(StoreError("D1 batch answered fewer results".into()))
                })?)),
            })
            .collect()
    }
}
