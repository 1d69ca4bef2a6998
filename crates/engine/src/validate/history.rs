//! What a validation compares against: the newest passing report of the source in its history
//! store, and an expected fingerprint loaded from a store URL (a backup set's manifest, a
//! report, or a bare fingerprint).

use drill_core::checks::Fingerprint;
use drill_core::report::{self, Report};

use super::ValidateError;
use crate::store::{Store, StoreError};

/// The newest passing report of `source_id` in a history store, with its URL.
pub async fn previous_good_report(
    history: &Store,
    source_id: &str,
) -> Result<Option<(String, Report)>, StoreError> {
    let keys = history.list("reports/").await?;
    for key in keys.iter().rev().filter(|k| report::is_passing_key(k)) {
        let body = history.get(key).await?;
        match serde_json::from_slice::<Report>(&body) {
            Ok(r) if r.passed && r.source_id == source_id => {
                return Ok(Some((history.url_of(key), r)))
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "skipping unreadable report in history");
            }
        }
    }
    Ok(None)
}

/// Loads an expected fingerprint (JSON) from a store URL (`file:///dir/x.json`, `s3://b/k`).
pub async fn load_fingerprint(
    url: &str,
    s3: Option<&aws_sdk_s3::Client>,
) -> Result<Fingerprint, ValidateError> {
    let bad = |reason: String| ValidateError::Manifest {
        url: url.to_owned(),
        reason,
    };
    // A backup set's own URL (the prefix holding manifest.json) names its manifest.
    let set_manifest;
    let url_of_file = if url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|n| !n.ends_with(".json"))
        && url.contains("://")
    {
        set_manifest = format!(
            "{}/{}",
            url.trim_end_matches('/'),
            drill_core::manifest::MANIFEST_KEY
        );
        set_manifest.as_str()
    } else {
        url
    };
    let (dir, name) = url_of_file
        .rsplit_once('/')
        .filter(|(d, n)| !n.is_empty() && d.contains("://"))
        .ok_or_else(|| bad("must name a backup set or a JSON file (…/manifest.json)".into()))?;
    let dir = if dir.ends_with(":/") {
        format!("{dir}/")
    } else {
        dir.to_owned()
    };
    let body = Store::open(&dir, s3)?.get(name).await?;
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("not JSON: {e}")))?;
    // A backup set's manifest (exact counts), a report's fingerprint, or a bare fingerprint.
    if value.get("format_version").is_some() && value.get("tables").is_some() {
        let manifest = drill_core::manifest::parse(&body)
            .map_err(|e| bad(format!("not a readable backup-set manifest: {e}")))?;
        return Ok(Fingerprint::from_manifest(&manifest));
    }
    let fp = value.get("fingerprint").cloned().unwrap_or(value);
    serde_json::from_value(fp).map_err(|e| bad(format!("not an expected fingerprint: {e}")))
}
