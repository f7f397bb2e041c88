//! The two dialects the metadata store speaks: SQLite (the embedded default, one file) and
//! PostgreSQL (shared by several replicas). A query is written once, in portable SQL with
//! `$N` placeholders, in [`super::sql`]; [`exec!`] and [`fetch!`] run it on whichever pool or
//! transaction is open. What differs between the dialects is here and nowhere else:
//! connecting, migrations (`migrations/` and `migrations/postgres/`), how a write
//! transaction starts, how a job is claimed, and the SQL that has no portable spelling.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use super::Result;

pub static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
pub static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Which engine holds the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The engine's name, as errors and `/healthz` say it.
    pub fn engine(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgresql",
        }
    }

    /// The clause that makes replicas claiming jobs at once take different rows.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// The SQL for the milliseconds from timestamp `from` to timestamp `to` (RFC 3339 text,
    /// a column or a placeholder), as an integer.
    pub fn elapsed_ms(self, to: &str, from: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!("CAST((julianday({to}) - julianday({from})) * 86400000 AS INTEGER)")
            }
            Dialect::Postgres => format!(
                "CAST(EXTRACT(EPOCH FROM (CAST({to} AS TIMESTAMPTZ) - CAST({from} AS TIMESTAMPTZ))) * 1000 AS BIGINT)"
            ),
        }
    }
}

/// The engine of the store this process opened last (for error messages, which name it).
static ENGINE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `sqlite` or `postgresql`: the engine errors name.
pub fn engine_in_use() -> &'static str {
    if ENGINE.load(std::sync::atomic::Ordering::Relaxed) {
        Dialect::Postgres.engine()
    } else {
        Dialect::Sqlite.engine()
    }
}

/// An open pool on one of the dialects.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Creates an empty database in the cluster `admin_url` points to and gives its URL (tests
/// each take a database of their own in one shared cluster).
pub async fn create_database(admin_url: &str) -> Result<String> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

/// The database URL tests run on: when `RAGD_TEST_POSTGRES` names a cluster
/// (`scripts/with_postgres.sh`), a PostgreSQL database of the test folder `dir`, made on first
/// use (a test that reopens its folder finds its data again); else none (SQLite in `dir`).
pub async fn test_database_url(dir: &std::path::Path) -> Option<String> {
    let admin = std::env::var("RAGD_TEST_POSTGRES").ok()?;
    let file = dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Some(url);
    }
    let url = create_database(&admin)
        .await
        .expect("a test database in RAGD_TEST_POSTGRES");
    std::fs::create_dir_all(dir).expect("test folder");
    std::fs::write(&file, &url).expect("test folder");
    Some(url)
}

/// An open write transaction.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// What a statement did.
#[derive(Debug, Clone, Copy)]
pub struct Done(pub u64);

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.0
    }
}

/// How long a request waits for a connection before the store answers `unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl Db {
    /// Opens a SQLite file (created if missing) and applies its migrations.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(Db::Sqlite(pool))
    }

    /// Connects to PostgreSQL (`postgres://user:pass@host:port/db`) and applies its
    /// migrations (several replicas starting at once take turns: sqlx holds an advisory lock).
    pub async fn open_postgres(url: &str, max_connections: u32) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("ragd");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        ENGINE.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(Db::Postgres(pool))
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Starts a write transaction. SQLite takes its write lock at once (`BEGIN IMMEDIATE`),
    /// so two writers never deadlock on an upgrade.
    pub async fn write(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A round trip to the engine (for `/healthz`).
    pub async fn ping(&self) -> Result<()> {
        let q = "SELECT 1";
        match self {
            Db::Sqlite(p) => sqlx::query(q).execute(p).await.map(drop)?,
            Db::Postgres(p) => sqlx::query(q).execute(p).await.map(drop)?,
        }
        Ok(())
    }
}

impl Tx {
    /// The transaction itself (a method, so the macros take `tx` and `&mut tx` alike).
    pub fn parts(&mut self) -> &mut Self {
        self
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// Runs a statement built by `$q` on `$on.db` (a pool) or, with `tx`, in a transaction;
/// gives `Result<Done, sqlx::Error>`.
macro_rules! exec {
    (tx $t:expr, $q:expr) => {
        match $t.parts() {
            $crate::store::db::Tx::Sqlite(c) => $q
                .execute(&mut **c)
                .await
                .map(|r| $crate::store::db::Done(r.rows_affected())),
            $crate::store::db::Tx::Postgres(c) => $q
                .execute(&mut **c)
                .await
                .map(|r| $crate::store::db::Done(r.rows_affected())),
        }
    };
    ($on:expr, $q:expr) => {
        match &$on.db {
            $crate::store::db::Db::Sqlite(p) => $q
                .execute(p)
                .await
                .map(|r| $crate::store::db::Done(r.rows_affected())),
            $crate::store::db::Db::Postgres(p) => $q
                .execute(p)
                .await
                .map(|r| $crate::store::db::Done(r.rows_affected())),
        }
    };
}

/// Runs a query built by `$q` with `fetch_one`, `fetch_optional` or `fetch_all`, on a pool
/// or (with `tx`) in a transaction; gives the rows as `Result<_, sqlx::Error>`.
macro_rules! fetch {
    (tx $t:expr, $m:ident, $q:expr) => {
        match $t.parts() {
            $crate::store::db::Tx::Sqlite(c) => $q.$m(&mut **c).await,
            $crate::store::db::Tx::Postgres(c) => $q.$m(&mut **c).await,
        }
    };
    ($on:expr, $m:ident, $q:expr) => {
        match &$on.db {
            $crate::store::db::Db::Sqlite(p) => $q.$m(p).await,
            $crate::store::db::Db::Postgres(p) => $q.$m(p).await,
        }
    };
}

pub(crate) use {exec, fetch};

/// A typed state stored as text (`DocStatus`, `JobKind`): encoded and decoded through its
/// name on either engine.
macro_rules! text_type {
    ($t:ty) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $t
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $t
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'q str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $t
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> std::result::Result<Self, sqlx::error::BoxDynError> {
                let s = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                <$t>::parse(s).ok_or_else(|| format!("unknown {}: {s}", stringify!($t)).into())
            }
        }
    };
}

pub(crate) use text_type;
