//! Local sandboxes: a restored copy of a source's newest validated backup set, in a database on
//! a configured server, plus its read-only base (what the diff compares against). Their names,
//! their marker, and the guards before dropping one — the sandbox counterpart of
//! [`crate::tempdb`].
//!
//! A sandbox database carries `COMMENT ON DATABASE` with a [`SandboxMarker`] (JSON): role,
//! owner, expiry and its own name. A drop is allowed only when every guard passes:
//!
//! - `prefix`: the name starts with `<prefix>sbx-`;
//! - `role`: the marker says `sandbox` or `sandbox-base` (a drill temp's marker does not);
//! - `created-by-drill`: the marker names this very database (a comment copied elsewhere does not);
//! - `owner`: the marker's owner is the user asking;
//! - `expiry`: for the janitor, the expiry has passed (an owner may delete earlier);
//! - `not-protected` and `not-template`: as for temps.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::events::Refusal;
use crate::naming::{validate_prefix, NamingError};
use crate::tempdb::ALWAYS_PROTECTED;

/// Start of every sandbox comment; the JSON marker follows.
pub const MARKER_PREFIX: &str = "restore-drill sandbox ";
/// Suffix of a sandbox's base database.
pub const BASE_SUFFIX: &str = "-base";
/// Longest lifetime a sandbox may ask for, unless configured otherwise.
pub const DEFAULT_MAX_TTL_HOURS: i64 = 24;

/// The `[sandbox]` table of a drill configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSettings {
    /// Longest lifetime `--ttl` may ask for.
    pub max_ttl_hours: i64,
    /// `drill sandbox diff` calls a table's change destructive above this share (0–1) of its
    /// rows deleted or updated.
    pub max_changed_share: f64,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            max_ttl_hours: DEFAULT_MAX_TTL_HOURS,
            max_changed_share: crate::diff::DiffPolicy::default().max_changed_share,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Sandbox,
    SandboxBase,
}

/// What a sandbox database's comment says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxMarker {
    pub role: Role,
    /// The database this marker was written on.
    pub database: String,
    pub owner: String,
    pub source_id: String,
    pub expires_at: DateTime<Utc>,
}

impl SandboxMarker {
    pub fn comment(&self) -> String {
        format!(
            "{MARKER_PREFIX}{}",
            serde_json::to_string(self).unwrap_or_default()
        )
    }

    pub fn parse(comment: &str) -> Option<SandboxMarker> {
        serde_json::from_str(comment.strip_prefix(MARKER_PREFIX)?).ok()
    }

    /// The marker of the base of this sandbox.
    pub fn for_base(&self) -> SandboxMarker {
        SandboxMarker {
            role: Role::SandboxBase,
            database: base_name(&self.database),
            ..self.clone()
        }
    }
}

/// `<prefix>sbx-<source>-<yyyymmddhhmm>-<hash>`, short enough that the base's name
/// (`…-base`) still fits PostgreSQL's 63 bytes.
pub fn sandbox_name(
    prefix: &str,
    source_id: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<String, NamingError> {
    validate_prefix(prefix)?;
    let full = crate::naming::temp_identifier(prefix, &format!("sbx-{source_id}"), id, at)?;
    // temp_identifier keeps the tail (time, hash); cut the source part to make room.
    let room = crate::naming::MAX_IDENTIFIER_LEN - BASE_SUFFIX.len();
    if full.len() <= room {
        return Ok(full);
    }
    let tail_len = "-yyyymmddhhmm-12345678".len();
    let (head, tail) = full.split_at(full.len() - tail_len);
    let head = head[..room - tail_len].trim_end_matches('-');
    Ok(format!("{head}{tail}"))
}

pub fn base_name(sandbox: &str) -> String {
    format!("{sandbox}{BASE_SUFFIX}")
}

/// The expiry of a sandbox asked to live `ttl`, refused above the configured maximum.
pub fn expiry(
    now: DateTime<Utc>,
    ttl: Duration,
    max_ttl_hours: i64,
) -> Result<DateTime<Utc>, String> {
    if ttl <= Duration::zero() {
        return Err("the sandbox lifetime (--ttl) must be positive".to_owned());
    }
    if ttl > Duration::hours(max_ttl_hours) {
        return Err(format!(
            "the sandbox lifetime {} h is above the configured maximum of {max_ttl_hours} h",
            ttl.num_minutes() as f64 / 60.0
        ));
    }
    Ok(now + ttl)
}

/// Parses a lifetime such as `4h`, `90m`, `1d` (or `30s`, for trials of the janitor).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number.parse().map_err(|_| {
        format!("lifetime {text:?}: expected a number and a unit, e.g. 4h, 90m, 1d")
    })?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" | "" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(format!("lifetime {text:?}: unit must be s, m, h or d")),
    }
}

/// The catalog facts of a database about to be dropped as a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxDbFacts {
    pub name: String,
    pub comment: Option<String>,
    pub is_template: bool,
}

/// Who asks, and what must never go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxDropPolicy {
    pub prefix: String,
    pub user: String,
    /// `Some(now)` for the janitor: only expired sandboxes go.
    pub expired_by: Option<DateTime<Utc>>,
    /// The configured source database and the session's own.
    pub source_database: String,
    pub session_database: String,
    pub protected: Vec<String>,
}

/// Allows the drop only when every guard passes; otherwise every refusal.
pub fn check_drop(facts: &SandboxDbFacts, policy: &SandboxDropPolicy) -> Result<(), Vec<Refusal>> {
    let mut refusals = Vec::new();
    let mut refuse = |guard: &str, reason: String| {
        refusals.push(Refusal {
            identifier: facts.name.clone(),
            guard: guard.to_owned(),
            reason,
        })
    };
    let prefix = format!("{}sbx-", policy.prefix);
    if policy.prefix.len() < 3 || !facts.name.starts_with(&prefix) {
        refuse("prefix", format!("name does not start with {prefix:?}"));
    }
    match facts.comment.as_deref().and_then(SandboxMarker::parse) {
        None => refuse(
            "role",
            "carries no restore-drill sandbox marker (COMMENT ON DATABASE)".to_owned(),
        ),
        Some(m) => {
            if m.database != facts.name {
                refuse(
                    "created-by-drill",
                    format!(
                        "the marker was written for {:?}, not this database",
                        m.database
                    ),
                );
            }
            if m.owner != policy.user {
                refuse(
                    "owner",
                    format!("sandbox of {:?}, not of {:?}", m.owner, policy.user),
                );
            }
            if let Some(now) = policy.expired_by {
                if m.expires_at > now {
                    refuse(
                        "expiry",
                        format!("expires only at {}", m.expires_at.to_rfc3339()),
                    );
                }
            }
        }
    }
    let protected = facts.name == policy.source_database
        || facts.name == policy.session_database
        || ALWAYS_PROTECTED.contains(&facts.name.as_str())
        || policy.protected.iter().any(|p| p == &facts.name);
    if protected {
        refuse(
            "not-protected",
            "is the source, the session's own, a maintenance or a protected database".to_owned(),
        );
    }
    if facts.is_template {
        refuse("not-template", "is a template database".to_owned());
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(refusals)
    }
}

/// The Secrets Manager name of a backup-set sandbox's role credentials in AWS:
/// `<secret_prefix><sandbox>` (the deployment's prefix, e.g. `restore-drill/sandbox/`).
pub fn secret_name(secret_prefix: &str, sandbox: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if secret_prefix.len() < 3 || !secret_prefix.ends_with('/') || !secret_prefix.chars().all(ok) {
        return Err(format!(
            "secret prefix {secret_prefix:?}: expected at least 3 of A-Z a-z 0-9 /_+=.@- ending in /"
        ));
    }
    let name = format!("{secret_prefix}{sandbox}");
    if name.len() > 512 || !sandbox.chars().all(ok) {
        return Err(format!("{name:?} is not a Secrets Manager name"));
    }
    Ok(name)
}

/// Whether the secret `name` with `tags` is the credentials of sandbox `sandbox` that `policy`
/// may delete: under the deployment's prefix, for that very sandbox, tagged as a sandbox's, of
/// the policy's user (and expired, for the janitor).
pub fn check_secret_drop(
    secret_prefix: &str,
    sandbox: &str,
    name: &str,
    tags: &std::collections::BTreeMap<String, String>,
    policy: &SandboxDropPolicy,
) -> Result<(), Vec<Refusal>> {
    let mut refusals = Vec::new();
    let mut refuse = |guard: &str, reason: String| {
        refusals.push(Refusal {
            identifier: name.to_owned(),
            guard: guard.to_owned(),
            reason,
        })
    };
    if secret_name(secret_prefix, sandbox).as_deref() != Ok(name) {
        refuse(
            "prefix",
            format!("is not {secret_prefix:?} followed by the sandbox's name"),
        );
    }
    let tag = |k: &str| tags.get(k).map(String::as_str);
    if tag(crate::guards::tag::ROLE) != Some(crate::sandbox::ROLE_SANDBOX) {
        refuse("role", "is not tagged as a sandbox's".to_owned());
    }
    if tag(crate::sandbox::OWNER) != Some(policy.user.as_str()) {
        refuse("owner", format!("is not tagged as {:?}'s", policy.user));
    }
    if let Some(now) = policy.expired_by {
        let expired = crate::guards::expires_at(tags).is_some_and(|at| at <= now);
        if !expired {
            refuse("expiry", "has no expiry tag that has passed".to_owned());
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(refusals)
    }
}

#[cfg(test)]
#[path = "sandboxdb_tests.rs"]
mod tests;
