//! Guards for dropping a temporary *database* (the local drill, and the backup-set path of the
//! Lambdas): the database-level counterpart of [`crate::guards`].
//!
//! A drill restores into a database it creates itself, named with the drill prefix, and marks it
//! with `COMMENT ON DATABASE` naming the drill id. A drop is allowed only when every guard below
//! passes, each checking a different fact, so one wrong assumption cannot reach a real database:
//!
//! - `prefix`: the name carries the drill prefix;
//! - `owner`: the database comment is this drill's ownership marker (names this drill id);
//! - `not-protected`: not the source database, not a maintenance or template database, not the
//!   database the dropping session is connected to, not in the protected list;
//! - `not-template`: the catalog does not flag it as a template.
//!
//! [`check_drop`] returns every failure, so a refusal explains itself fully.

use serde::{Deserialize, Serialize};

use crate::events::Refusal;
use crate::naming::{temp_identifier, NamingError};

/// Start of every ownership marker; what follows is the drill id.
pub const MARKER_PREFIX: &str = "restore-drill temp database of drill ";

/// Databases never dropped whatever else is true.
pub const ALWAYS_PROTECTED: [&str; 4] = ["postgres", "template0", "template1", "rdsadmin"];

/// The comment put on a temp database right after creating it.
pub fn ownership_marker(drill_id: &str) -> String {
    format!("{MARKER_PREFIX}{drill_id}")
}

/// The drill id named by a comment, if it is an ownership marker.
pub fn marker_drill_id(comment: &str) -> Option<&str> {
    comment
        .strip_prefix(MARKER_PREFIX)
        .filter(|id| !id.is_empty())
}

/// Name of the temp database of one drill (same rules as temp instance identifiers, so IAM-style
/// prefix reasoning applies to both).
pub fn temp_database_name(
    prefix: &str,
    source_id: &str,
    drill_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<String, NamingError> {
    temp_identifier(prefix, source_id, drill_id, at)
}

/// What the catalog says about the database to drop, gathered right before the drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TempDbFacts {
    pub name: String,
    /// `shobj_description(oid, 'pg_database')`.
    pub comment: Option<String>,
    /// `pg_database.datistemplate`.
    pub is_template: bool,
}

/// Who asks for the drop and what must never be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropPolicy {
    pub prefix: String,
    pub drill_id: String,
    /// The database the drill exported from.
    pub source_database: String,
    /// The database the dropping session is connected to.
    pub session_database: String,
    /// More names never to drop (configured).
    pub protected: Vec<String>,
}

/// Allows the drop only when every guard passes; otherwise every refusal.
pub fn check_drop(facts: &TempDbFacts, policy: &DropPolicy) -> Result<(), Vec<Refusal>> {
    let mut refusals = Vec::new();
    let refuse = |guard: &str, reason: String| Refusal {
        identifier: facts.name.clone(),
        guard: guard.to_owned(),
        reason,
    };
    if policy.prefix.len() < 3 || !facts.name.starts_with(&policy.prefix) {
        refusals.push(refuse(
            "prefix",
            format!(
                "name does not start with the drill prefix {:?}",
                policy.prefix
            ),
        ));
    }
    match facts.comment.as_deref().and_then(marker_drill_id) {
        Some(id) if id == policy.drill_id => {}
        Some(id) => refusals.push(refuse(
            "owner",
            format!(
                "created by drill {id}, not by this drill ({})",
                policy.drill_id
            ),
        )),
        None => refusals.push(refuse(
            "owner",
            "carries no restore-drill ownership marker (COMMENT ON DATABASE)".to_owned(),
        )),
    }
    let protected = facts.name == policy.source_database
        || facts.name == policy.session_database
        || ALWAYS_PROTECTED.contains(&facts.name.as_str())
        || policy.protected.iter().any(|p| p == &facts.name);
    if protected {
        refusals.push(refuse(
            "not-protected",
            "is the source, the session's own, a maintenance or a protected database".to_owned(),
        ));
    }
    if facts.is_template {
        refusals.push(refuse("not-template", "is a template database".to_owned()));
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(refusals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DropPolicy {
        DropPolicy {
            prefix: "rdrill-".into(),
            drill_id: "d1".into(),
            source_database: "learning".into(),
            session_database: "postgres".into(),
            protected: vec!["rdrill-keep".into()],
        }
    }

    fn facts(name: &str, comment: Option<&str>) -> TempDbFacts {
        TempDbFacts {
            name: name.into(),
            comment: comment.map(str::to_owned),
            is_template: false,
        }
    }

    fn guards(r: Result<(), Vec<Refusal>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.guard)
            .collect()
    }

    #[test]
    fn own_marked_prefixed_database_may_be_dropped() {
        let f = facts("rdrill-learning-1", Some(&ownership_marker("d1")));
        assert_eq!(check_drop(&f, &policy()), Ok(()));
    }

    #[test]
    fn another_drills_database_is_refused_by_owner() {
        let f = facts("rdrill-learning-1", Some(&ownership_marker("d2")));
        assert_eq!(guards(check_drop(&f, &policy())), ["owner"]);
    }

    #[test]
    fn an_unmarked_database_is_refused_even_with_the_prefix() {
        let f = facts(
            "rdrill-learning-1",
            Some("restore-drill temp database of drill "),
        );
        assert_eq!(guards(check_drop(&f, &policy())), ["owner"]);
        assert_eq!(
            guards(check_drop(&facts("rdrill-x", None), &policy())),
            ["owner"]
        );
    }

    #[test]
    fn the_source_is_refused_by_every_guard_that_applies() {
        // Even a source that someone named with the prefix and marked by hand stays.
        let mut p = policy();
        p.source_database = "rdrill-prod".into();
        let f = facts("rdrill-prod", Some(&ownership_marker("d1")));
        assert_eq!(guards(check_drop(&f, &p)), ["not-protected"]);
        let f = facts("learning", None);
        assert_eq!(
            guards(check_drop(&f, &policy())),
            ["prefix", "owner", "not-protected"]
        );
    }

    #[test]
    fn maintenance_templates_session_and_listed_databases_are_protected() {
        let mut p = policy();
        p.prefix = "postgres".into();
        let f = facts("postgres", Some(&ownership_marker("d1")));
        assert_eq!(guards(check_drop(&f, &p)), ["not-protected"]);
        let f = facts("rdrill-keep", Some(&ownership_marker("d1")));
        assert_eq!(guards(check_drop(&f, &policy())), ["not-protected"]);
        let mut t = facts("rdrill-t", Some(&ownership_marker("d1")));
        t.is_template = true;
        assert_eq!(guards(check_drop(&t, &policy())), ["not-template"]);
        let mut p = policy();
        p.session_database = "rdrill-s".into();
        let f = facts("rdrill-s", Some(&ownership_marker("d1")));
        assert_eq!(guards(check_drop(&f, &p)), ["not-protected"]);
    }

    #[test]
    fn a_too_short_prefix_matches_nothing() {
        let mut p = policy();
        p.prefix = "r".into();
        let f = facts("rdrill-x", Some(&ownership_marker("d1")));
        assert_eq!(guards(check_drop(&f, &p)), ["prefix"]);
    }

    #[test]
    fn markers_round_trip_and_names_carry_the_prefix() {
        assert_eq!(marker_drill_id(&ownership_marker("abc")), Some("abc"));
        assert_eq!(marker_drill_id("something else"), None);
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let name = temp_database_name("rdrill-", "Learning Platform", "d1", at).unwrap();
        assert!(name.starts_with("rdrill-learning-platform-"), "{name}");
        assert!(name.len() <= 63);
    }
}
