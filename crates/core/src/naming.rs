//! Names of the temporary resources a drill creates.
//!
//! The name is the first guard: delete-temp refuses anything without the drill prefix, and IAM
//! only lets the drill create and delete `db:<prefix>*`. So the name must always carry the prefix,
//! be valid for RDS (<= 63 chars, letters/digits/hyphens, starts with a letter, no `--`, no
//! trailing `-`) and for PostgreSQL database names, and be unique per execution.

use chrono::{DateTime, Utc};

/// The fixed prefix of every temporary resource. IAM policies and guards key on it.
pub const DEFAULT_PREFIX: &str = "rdrill-";

/// RDS DB instance identifier limit.
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Why a prefix cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    #[error("drill prefix {0:?} must start with a letter, contain only lowercase letters, digits and hyphens, end with '-', and be at most 20 characters")]
    BadPrefix(String),
}

/// Checks a configured prefix (it must be specific enough that IAM `db:<prefix>*` never matches a
/// production name by accident).
pub fn validate_prefix(prefix: &str) -> Result<(), NamingError> {
    let ok = prefix.len() >= 3
        && prefix.len() <= 20
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix.ends_with('-')
        && !prefix.contains("--")
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(NamingError::BadPrefix(prefix.to_owned()))
    }
}

/// Reduce arbitrary text to lowercase letters, digits and single hyphens.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Short stable digest of the execution id (FNV-1a), so two executions in the same minute differ.
fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h as u32)
}

/// Identifier of the temporary resource for one drill:
/// `<prefix><source>-<yyyymmddhhmm>-<hash of drill id>`, the source part shortened to fit.
pub fn temp_identifier(
    prefix: &str,
    source_id: &str,
    drill_id: &str,
    at: DateTime<Utc>,
) -> Result<String, NamingError> {
    identifier_with(prefix, source_id, "", drill_id, at)
}

/// Identifier of the one instance of a drill's temp Aurora cluster:
/// `<prefix><source>-w-<yyyymmddhhmm>-<hash>`, distinct from the cluster's [`temp_identifier`].
pub fn temp_member_identifier(
    prefix: &str,
    source_id: &str,
    drill_id: &str,
    at: DateTime<Utc>,
) -> Result<String, NamingError> {
    identifier_with(prefix, source_id, "-w", drill_id, at)
}

fn identifier_with(
    prefix: &str,
    source_id: &str,
    role: &str,
    drill_id: &str,
    at: DateTime<Utc>,
) -> Result<String, NamingError> {
    validate_prefix(prefix)?;
    let tail = format!(
        "{role}-{}-{}",
        at.format("%Y%m%d%H%M"),
        short_hash(drill_id)
    );
    let room = MAX_IDENTIFIER_LEN - prefix.len() - tail.len();
    let mut source = sanitize(source_id);
    if source.is_empty() {
        source.push_str("src");
    }
    source.truncate(room);
    let source = source.trim_end_matches('-');
    Ok(format!("{prefix}{source}{tail}"))
}

/// Whether `identifier` is valid for an RDS DB instance.
pub fn is_valid_rds_identifier(identifier: &str) -> bool {
    !identifier.is_empty()
        && identifier.len() <= MAX_IDENTIFIER_LEN
        && identifier.starts_with(|c: char| c.is_ascii_alphabetic())
        && !identifier.ends_with('-')
        && !identifier.contains("--")
        && identifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0).unwrap()
    }

    #[test]
    fn simple_name() {
        let id = temp_identifier(DEFAULT_PREFIX, "prod-db", "exec-1", at()).unwrap();
        assert!(id.starts_with("rdrill-prod-db-202611220300-"), "{id}");
        assert!(is_valid_rds_identifier(&id));
    }

    #[test]
    fn long_and_odd_source_names_stay_valid_and_keep_the_prefix() {
        for source in [
            "A".repeat(200),
            "Prod_DB.eu-west-1 (primary)".to_owned(),
            "---".to_owned(),
            "ÜNICODE-ßource".to_owned(),
            "x-".repeat(40),
            String::new(),
        ] {
            let id = temp_identifier(DEFAULT_PREFIX, &source, "e", at()).unwrap();
            assert!(id.starts_with(DEFAULT_PREFIX), "{id}");
            assert!(is_valid_rds_identifier(&id), "{source:?} -> {id}");
            assert!(id.len() <= MAX_IDENTIFIER_LEN);
        }
    }

    #[test]
    fn unique_per_execution_in_the_same_minute() {
        let a = temp_identifier(DEFAULT_PREFIX, "prod", "exec-a", at()).unwrap();
        let b = temp_identifier(DEFAULT_PREFIX, "prod", "exec-b", at()).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn bad_prefixes_are_rejected() {
        for p in [
            "",
            "-x-",
            "Drill-",
            "drill",
            "dr--ill-",
            "d_x-",
            "a-",
            &"a".repeat(30),
        ] {
            assert!(validate_prefix(p).is_err(), "{p:?}");
        }
        assert!(validate_prefix(DEFAULT_PREFIX).is_ok());
    }
}
