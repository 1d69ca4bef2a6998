//! The record of a finished drill ([`RunRecord`], kept in the history as
//! `runs/<time>-<drill>.json`) and reading them back.

use chrono::{DateTime, Utc};
use drill_core::report::Report;
use serde::{Deserialize, Serialize};

use super::Step;
use crate::store::{Store, StoreError};

/// Duration and volume of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: Step,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// A finished drill (passed or not): what the summary, `--json` and the HTML report show, and
/// what is kept in the history as `runs/<time>-<drill>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub source_id: String,
    pub drill_id: String,
    /// A label for charts (`night 1`), when the caller gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub backup_set: String,
    pub manifest_sha256: String,
    pub temp_database: String,
    pub temp_dropped: bool,
    pub steps: Vec<StepRecord>,
    pub tables: u32,
    pub rows: u64,
    /// COPY text bytes exported.
    pub raw_bytes: u64,
    /// Bytes stored in the backup set (compressed).
    pub backup_bytes: u64,
    /// Restore start to the end of validation: how long getting a proven copy back takes.
    pub rto_seconds: f64,
    /// See [`drill_core::checks::measured_rpo`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<u64>,
    pub checks_passed: u32,
    pub checks_failed: u32,
    pub checks_errored: u32,
    pub report: Report,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_url: Option<String>,
}

impl RunRecord {
    pub fn passed(&self) -> bool {
        self.report.passed
    }

    /// Key under the history store: sortable by time.
    pub fn history_key(&self) -> String {
        let id: String = self
            .drill_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!(
            "runs/{}-{id}.json",
            self.finished_at.format("%Y%m%dT%H%M%S%3fZ")
        )
    }
}

/// Every run record in a history store, oldest first. Unreadable records are skipped (logged).
pub async fn load_runs(history: &Store) -> Result<Vec<RunRecord>, StoreError> {
    let mut keys = history.list("runs/").await?;
    keys.sort();
    let mut out = Vec::new();
    for key in keys.iter().filter(|k| k.ends_with(".json")) {
        let body = history.get(key).await?;
        match serde_json::from_slice::<RunRecord>(&body) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!(key = %key, error = %e, "skipping unreadable run record"),
        }
    }
    Ok(out)
}
