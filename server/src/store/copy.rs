//! Copying one store's rows into another (`ragd migrate`), table by table in the order
//! their references need, in batches, each batch one transaction. Rows already in the target
//! are kept (`ON CONFLICT DO NOTHING`), so a copy cut off is run again and goes on where it
//! stopped. Values are read as what they are stored as and written as what the target's
//! column is (SQLite's 0/1 flags become PostgreSQL booleans), so either engine may be either
//! side.

use sqlx::{Row, TypeInfo, ValueRef};

use super::db::{exec, fetch, Db, Dialect};
use super::{Result, Store};

/// The tables copied, parents before children, with the columns that order them. Leases are
/// not copied: they belong to the processes of the source.
pub const TABLES: &[(&str, &str)] = &[
    ("knowledge_bases", "id"),
    ("sources", "id"),
    ("documents", "id"),
    ("chunks", "id"),
    ("conversations", "id"),
    ("messages", "id"),
    ("source_runs", "id"),
    ("source_run_errors", "run_id, path, error"),
    ("source_files", "source_id, path"),
    ("reindexes", "id"),
    ("reindex_docs", "reindex_id, document_id"),
    ("reindex_chunks", "reindex_id, document_id, id"),
    ("jobs", "id"),
    ("embedding_cache", "model, key"),
    ("api_keys", "id"),
];

/// Tables without a key of their own: copied whole or not at all.
const KEYLESS: &[&str] = &["source_run_errors", "reindex_chunks"];

/// Rows per batch.
const BATCH: i64 = 500;

/// One stored value.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// What a target column takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Bool,
    Real,
    Text,
    Blob,
}

fn kind_of(type_name: &str) -> Kind {
    match type_name.to_ascii_uppercase().as_str() {
        "BOOLEAN" | "BOOL" => Kind::Bool,
        "BIGINT" | "INTEGER" | "INT8" | "INT4" | "INT2" | "SMALLINT" => Kind::Int,
        "REAL" | "DOUBLE PRECISION" | "FLOAT8" | "FLOAT4" | "NUMERIC" => Kind::Real,
        "BLOB" | "BYTEA" => Kind::Blob,
        _ => Kind::Text,
    }
}

macro_rules! decode_row {
    ($row:expr) => {{
        let row = $row;
        let mut cells = Vec::with_capacity(row.columns().len());
        for i in 0..row.columns().len() {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                cells.push(Cell::Null);
                continue;
            }
            let name = raw.type_info().name().to_string();
            cells.push(match kind_of(&name) {
                Kind::Bool => Cell::Int(i64::from(row.try_get::<bool, _>(i)?)),
                Kind::Int => Cell::Int(match name.to_ascii_uppercase().as_str() {
                    "INT4" => i64::from(row.try_get::<i32, _>(i)?),
                    "INT2" => i64::from(row.try_get::<i16, _>(i)?),
                    _ => row.try_get::<i64, _>(i)?,
                }),
                Kind::Real => Cell::Real(row.try_get::<f64, _>(i)?),
                Kind::Blob => Cell::Blob(row.try_get::<Vec<u8>, _>(i)?),
                Kind::Text => Cell::Text(row.try_get::<String, _>(i)?),
            });
        }
        cells
    }};
}

impl Store {
    /// Chunks of ready documents whose knowledge base's model has no vector cached for
    /// them at all (a lower bound of the chunks a copy embeds again: cached vectors are
    /// matched by text, which SQL does not hash).
    pub async fn uncached_chunks(&self) -> Result<i64> {
        let sql = "SELECT CAST(COALESCE(SUM(d.chunk_count), 0) AS BIGINT) FROM documents d
              JOIN knowledge_bases k ON k.id = d.kb_id
             WHERE d.status = 'ready'
               AND NOT EXISTS (SELECT 1 FROM embedding_cache c WHERE c.model = k.embedding_model)";
        Ok(fetch!(self, fetch_one, sqlx::query_scalar(sql))?)
    }

    /// Rows in `table`.
    pub async fn count_rows(&self, table: &str) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        Ok(fetch!(self, fetch_one, sqlx::query_scalar(&sql))?)
    }

    /// The columns of `table` in this store, with what each takes.
    async fn columns(&self, table: &str) -> Result<Vec<(String, Kind)>> {
        let sql = match self.dialect() {
            Dialect::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
            Dialect::Postgres => {
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
            }
        };
        let rows: Vec<(String, String)> = fetch!(self, fetch_all, sqlx::query_as(sql).bind(table))?;
        Ok(rows.into_iter().map(|(n, t)| (n, kind_of(&t))).collect())
    }

    /// One batch of `columns` of `table`, in `order`.
    async fn read_batch(
        &self,
        table: &str,
        columns: &str,
        order: &str,
        offset: i64,
    ) -> Result<Vec<Vec<Cell>>> {
        let sql =
            format!("SELECT {columns} FROM {table} ORDER BY {order} LIMIT {BATCH} OFFSET {offset}");
        let mut out = Vec::new();
        match &self.db {
            Db::Sqlite(p) => {
                for row in sqlx::query(&sql).fetch_all(p).await? {
                    out.push(decode_row!(&row));
                }
            }
            Db::Postgres(p) => {
                for row in sqlx::query(&sql).fetch_all(p).await? {
                    out.push(decode_row!(&row));
                }
            }
        }
        Ok(out)
    }

    /// Copies `table` from `self` into `target`; `progress` hears the rows done so far.
    /// Returns the rows read.
    pub async fn copy_table_to(
        &self,
        target: &Store,
        table: &str,
        order: &str,
        progress: &mut (dyn FnMut(i64) + Send),
    ) -> Result<i64> {
        let theirs = target.columns(table).await?;
        let ours = self.columns(table).await?;
        // The columns both have (PostgreSQL's `source_run_errors.rowid` is its own).
        let shared: Vec<(String, Kind)> = theirs
            .into_iter()
            .filter(|(n, _)| ours.iter().any(|(o, _)| o == n))
            .collect();
        let names: Vec<&str> = shared.iter().map(|(n, _)| n.as_str()).collect();
        let list = names.join(", ");
        let total = self.count_rows(table).await?;
        if KEYLESS.contains(&table) {
            let have = target.count_rows(table).await?;
            if have == total {
                progress(total);
                return Ok(total);
            }
            // Cut off before: copied whole again.
            let mut tx = target.db.write().await?;
            exec!(tx tx, sqlx::query(&format!("DELETE FROM {table}")))?;
            tx.commit().await?;
        }
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let insert = format!(
            "INSERT INTO {table} ({list}) VALUES ({}) ON CONFLICT DO NOTHING",
            marks.join(", ")
        );
        let mut done = 0;
        loop {
            let rows = self.read_batch(table, &list, order, done).await?;
            if rows.is_empty() {
                break;
            }
            let mut tx = target.db.write().await?;
            for row in &rows {
                macro_rules! bound {
                    () => {{
                        let mut q = sqlx::query(&insert);
                        for (cell, (_, kind)) in row.iter().zip(&shared) {
                            q = match (cell, kind) {
                                (Cell::Null, Kind::Int) => q.bind(None::<i64>),
                                (Cell::Null, Kind::Bool) => q.bind(None::<bool>),
                                (Cell::Null, Kind::Real) => q.bind(None::<f64>),
                                (Cell::Null, Kind::Blob) => q.bind(None::<Vec<u8>>),
                                (Cell::Null, Kind::Text) => q.bind(None::<String>),
                                (Cell::Int(v), Kind::Bool) => q.bind(*v != 0),
                                (Cell::Int(v), _) => q.bind(*v),
                                (Cell::Real(v), _) => q.bind(*v),
                                (Cell::Text(v), _) => q.bind(v.clone()),
                                (Cell::Blob(v), _) => q.bind(v.clone()),
                            };
                        }
                        q
                    }};
                }
                exec!(tx tx, bound!())?;
            }
            tx.commit().await?;
            done += rows.len() as i64;
            progress(done);
        }
        // PostgreSQL's id sequences continue after the copied ids.
        if target.dialect() == Dialect::Postgres && order == "id" && table != "chunks" {
            let has_serial = ["messages", "source_runs", "reindexes", "jobs"].contains(&table);
            if has_serial {
                exec!(target, sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT MAX(id) FROM {table}), 1))"
                )))?;
            }
        }
        Ok(done)
    }
}
