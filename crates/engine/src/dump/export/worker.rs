//! One export worker: a connection that joined the export's snapshot, taking tasks from the
//! shared queue and streaming each into its own object of the set.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use drill_core::manifest::{self, ObjectEntry};

use super::super::pipe::{copy_out_to_store, PipeError};
use super::super::{Database, DumpError};
use super::catalog::TableInfo;
use super::setup_session;
use super::tasks::{copy_sql, Task};
use crate::pg::PgError;
use crate::store::{Retention, Store};

pub(super) struct Worker {
    pub(super) number: usize,
    pub(super) queue: Arc<Mutex<VecDeque<Task>>>,
    pub(super) tables: Arc<Vec<TableInfo>>,
    pub(super) source: Database,
    pub(super) set: Store,
    /// The exported snapshot to join; `None` for a work unit (see `units.rs`: the temp has no
    /// writers, so a transaction of its own sees the same data).
    pub(super) snapshot: Option<String>,
    pub(super) retention: Option<Retention>,
    /// A work unit attempt's key suffix (sets are write-once: a retry writes new keys).
    pub(super) attempt: Option<String>,
}

/// An object written for chunk `.1` of table `.0`.
pub(super) type Done = (usize, u32, ObjectEntry);

impl Worker {
    /// Takes tasks until the queue is empty.
    pub(super) async fn run(self) -> Result<Vec<Done>, DumpError> {
        let client = self.source.connect().await?;
        setup_session(&client, "export worker").await?;
        let join = match &self.snapshot {
            Some(id) => format!("; SET TRANSACTION SNAPSHOT '{id}'"),
            None => String::new(),
        };
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY{join}"
            ))
            .await
            .map_err(PgError::query(format!(
                "worker {}: joining the snapshot",
                self.number
            )))?;
        let mut done = Vec::new();
        loop {
            let Some(task) = self.queue.lock().expect("queue").pop_front() else {
                break;
            };
            let entry = self.export_one(&client, &task).await?;
            done.push((task.table, task.chunk, entry));
        }
        let _ = client.batch_execute("COMMIT").await;
        Ok(done)
    }

    /// Streams one task into its object; returns the object's manifest entry.
    async fn export_one(
        &self,
        client: &tokio_postgres::Client,
        task: &Task,
    ) -> Result<ObjectEntry, DumpError> {
        let t = &self.tables[task.table];
        let key = match &self.attempt {
            Some(a) => manifest::unit_data_key(&t.schema, &t.name, task.chunk, a),
            None => manifest::data_key(&t.schema, &t.name, task.chunk),
        };
        let writer = self.set.writer(&key, self.retention.as_ref()).await?;
        let sql = copy_sql(t, task.range);
        let produced = copy_out_to_store(client, &sql, writer).await.map_err(|e| {
            let table = format!("{}.{}", t.schema, t.name);
            match e {
                PipeError::Store(s) => DumpError::Store(s),
                PipeError::Pg(reason) => DumpError::Load {
                    table,
                    key: key.clone(),
                    reason: format!("reading: {reason}"),
                },
                PipeError::Other(reason) => DumpError::Load {
                    table,
                    key: key.clone(),
                    reason,
                },
            }
        })?;
        tracing::debug!(
            key,
            rows = produced.rows,
            bytes = produced.compressed_bytes,
            "object written"
        );
        Ok(ObjectEntry {
            key,
            raw_bytes: produced.raw_bytes,
            compressed_bytes: produced.compressed_bytes,
            sha256: produced.sha256,
            rows: Some(produced.rows),
        })
    }
}
