//! The Postgres executor of the SQL port, over `tokio-postgres` on a Worker socket to the
//! Hyperdrive binding: Postgres text with `?N` numbered `$N`, parameters bound by the type
//! the statement gives them, rows read back by column type, a batch as one transaction.
//! Every round trip has a deadline, so a dead database gives a 503 within seconds, never
//! a hang.

use std::cell::RefCell;
use std::error::Error;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use futures_util::future::{select, Either};
use futures_util::{pin_mut, TryStreamExt};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, Row};
use worker::postgres_tls::PassthroughTls;
use worker::{Delay, Hyperdrive, SecureTransport, Socket};

use crate::kernel::sql::{numbered_placeholders, Database, DbError, Dialect, Rows, Sql, Statement, StoreError, Value};

/// Connecting (through Hyperdrive's pool) and each query must finish within these.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Postgres {
    hyperdrive: Result<Hyperdrive, String>,
    /// One connection per request, opened on first use.
    client: RefCell<Option<Rc<Client>>>,
}

impl Postgres {
    pub fn new(hyperdrive: worker::Result<Hyperdrive>) -> Self {
        Self {
            hyperdrive: hyperdrive.map_err(|e| e.to_string()),
            client: RefCell::new(None),
        }
    }

    async fn client(&self) -> Result<Rc<Client>, StoreError> {
        if let Some(client) = self.client.borrow().clone() {
            return Ok(client);
        }
        let hyperdrive = self
            .hyperdrive
            .as_ref()
            .map_err(|e| StoreError(format!("binding HYPERDRIVE: {e}")))?;
        let config: tokio_postgres::Config = hyperdrive
            .connection_string()
            .parse()
            .map_err(|e| StoreError(format!("Postgres config: {e}")))?;
        // A connection refused or reset while it is being set up is tried once more:
        // nothing was sent yet, and a reset under load should not cost the request. A
        // database that is down fails both tries at once, and the request answers 503; one
        // that does not answer is not waited for twice.
        let client = match connect(hyperdrive, &config).await {
            Ok(client) => client,
            Err(Connect::Failed(_)) => connect(hyperdrive, &config).await.map_err(Connect::into_error)?,
            Err(other) => return Err(other.into_error()),
        };
        let client = Rc::new(client);
        self.client.replace(Some(client.clone()));
        Ok(client)
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        if sql.is_empty() {
            return Ok(Rows::default());
        }
        let client = self.client().await?;
        let sql = numbered_placeholders(sql);
        let work = async {
            let stream = client.query_raw(sql.as_str(), params.iter().map(Param)).await?;
            pin_mut!(stream);
            let mut rows = Vec::new();
            while let Some(row) = stream.try_next().await? {
                rows.push(row);
            }
            Ok::<_, tokio_postgres::Error>((rows, stream.rows_affected().unwrap_or(0)))
        };
        let (rows, changes) = deadline(QUERY_TIMEOUT, "query", work).await?.map_err(db_error)?;
        Ok(Rows {
            rows: rows.iter().map(json_row).collect::<Result<_, _>>()?,
            changes,
        })
    }
}

/// Why a connection could not be opened.
enum Connect {
    Failed(StoreError),
    TimedOut(StoreError),
}

impl Connect {
    fn into_error(self) -> StoreError {
        match self {
            Self::Failed(error) | Self::TimedOut(error) => error,
        }
    }
}

/// Opens one connection through Hyperdrive, its driver task running beside the request.
async fn connect(hyperdrive: &Hyperdrive, config: &tokio_postgres::Config) -> Result<Client, Connect> {
    let socket = Socket::builder()
        .secure_transport(SecureTransport::StartTls)
        .connect(hyperdrive.host(), hyperdrive.port())
        .map_err(|e| Connect::Failed(StoreError(format!("Postgres socket: {e}"))))?;
    let (client, connection) = deadline(CONNECT_TIMEOUT, "connect", config.connect_raw(socket, PassthroughTls))
        .await
        .map_err(Connect::TimedOut)?
        .map_err(|e| Connect::Failed(StoreError(format!("Postgres connect: {e}"))))?;
    wasm_bindgen_futures::spawn_local(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn db_error(error: tokio_postgres::Error) -> DbError {
    match error.as_db_error() {
        Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => {
            DbError::Unique(db.constraint().unwrap_or("unique").to_owned())
        }
        _ => DbError::Store(StoreError(format!("Postgres: {error}"))),
    }
}

async fn deadline<T>(limit: Duration, what: &str, work: impl Future<Output = T>) -> Result<T, StoreError> {
    let work = std::pin::pin!(work);
    let timer = Delay::from(limit);
    match select(work, timer).await {
        Either::Left((done, _)) => Ok(done),
        Either::Right(_) => Err(StoreError(format!(
            "Postgres {what} timed out after {} s",
            limit.as_secs()
        ))),
    }
}

/// A row as the JSON object the stores decode: integers, text, booleans (statements cast
/// `uuid`, `timestamptz` and the like to text or bigint).
fn json_row(row: &Row) -> Result<serde_json::Value, DbError> {
    let mut object = serde_json::Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let fail = |e: tokio_postgres::Error| DbError::Store(StoreError(format!("column {}: {e}", column.name())));
        let value = match *column.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(fail)?.into(),
            Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(fail)?.into(),
            Type::INT2 => row.try_get::<_, Option<i16>>(i).map_err(fail)?.into(),
            Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(fail)?.into(),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(fail)?.into(),
            _ => row.try_get::<_, Option<String>>(i).map_err(fail)?.into(),
        };
        object.insert(column.name().to_owned(), value);
    }
    Ok(serde_json::Value::Object(object))
}

/// A parameter as the type its statement gives it: an integer fits any integer or float
/// column it is compared with, text any text type, null anything.
#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                _ if <i64 as ToSql>::accepts(ty) => i.to_sql(ty, out),
                _ => Err(format!("an integer parameter cannot be {ty}").into()),
            },
            Value::Text(t) if <String as ToSql>::accepts(ty) => t.to_sql(ty, out),
            Value::Text(_) => Err(format!("a text parameter cannot be {ty}; cast it in the SQL").into()),
            Value::Bool(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Decided per value in `to_sql`.
        true
    }

    to_sql_checked!();
}

#[async_trait(?Send)]
impl Database for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn run(&self, sql: &Sql, params: &[Value]) -> Result<Rows, DbError> {
        self.query(sql.postgres, params).await
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<Rows>, DbError> {
        self.query("BEGIN", &[]).await?;
        let mut results = Vec::with_capacity(statements.len());
        for statement in statements {
            match self.query(statement.sql.postgres, &statement.params).await {
                Ok(rows) => results.push(rows),
                Err(error) => {
                    let _ = self.query("ROLLBACK", &[]).await;
                    return Err(error);
                }
            }
        }
        self.query("COMMIT", &[]).await?;
        Ok(results)
    }
}
