//! The tags the drill writes on what it creates and the guards read: their keys and values, and
//! the one place that builds a temp's (or a snapshot copy's) full tag set.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

/// What the resource is to the drill: [`ROLE_TEMP`] or [`ROLE_SNAPSHOT_COPY`].
pub const ROLE: &str = "drill:role";
pub const ROLE_TEMP: &str = "temp";
pub const ROLE_SNAPSHOT_COPY: &str = "snapshot-copy";
/// The drill execution (Step Functions execution name) that created the resource.
pub const EXECUTION: &str = "drill:execution";
/// The source instance the resource was made from.
pub const SOURCE: &str = "drill:source";
/// RFC 3339 time after which the janitor (or snapshot expiry) may remove the resource.
pub const EXPIRES_AT: &str = "drill:expires-at";
/// The snapshot a temp instance was restored from; only the restore sets it (guard f).
pub const RESTORED_FROM: &str = "drill:restored-from";
/// The snapshot (identifier or ARN) a drill copy was made from; for people and audits.
pub const COPIED_FROM: &str = "drill:copied-from";
/// The moment a point-in-time temp was restored to and how it was chosen
/// ([`crate::point_in_time::ChosenMoment::tag_value`]): a retry of the same execution reports
/// this moment, not one chosen again from a window that has moved on since.
pub const MOMENT: &str = "drill:moment";

/// The `drill:expires-at` value for `t`: RFC 3339 in UTC, whole seconds (what
/// [`super::expires_at`] parses back).
pub fn expires_at_value(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The tags of everything the drill makes: its role, who made it from what, when it expires,
/// and one more fact (`origin`) naming what exactly it was made from.
fn drill_tags(
    role: &str,
    drill_id: &str,
    source: &str,
    expires_at: DateTime<Utc>,
    origin: (&str, &str),
) -> BTreeMap<String, String> {
    [
        (ROLE, role),
        (EXECUTION, drill_id),
        (SOURCE, source),
        (EXPIRES_AT, &expires_at_value(expires_at)),
        origin,
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Every tag of the temp instance execution `drill_id` restores from `restored_from` (a snapshot
/// of `source`): what guards (b), (c) and (f) read.
pub fn temp_tags(
    drill_id: &str,
    source: &str,
    expires_at: DateTime<Utc>,
    restored_from: &str,
) -> BTreeMap<String, String> {
    drill_tags(
        ROLE_TEMP,
        drill_id,
        source,
        expires_at,
        (RESTORED_FROM, restored_from),
    )
}

/// Every tag of the snapshot copy execution `drill_id` makes of `copied_from` (a snapshot of
/// `source`): what the copy guards of [`crate::snapshots`] read.
pub fn snapshot_copy_tags(
    drill_id: &str,
    source: &str,
    expires_at: DateTime<Utc>,
    copied_from: &str,
) -> BTreeMap<String, String> {
    drill_tags(
        ROLE_SNAPSHOT_COPY,
        drill_id,
        source,
        expires_at,
        (COPIED_FROM, copied_from),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_temps_tags_round_trip_through_the_guards_parser() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap()
            + chrono::Duration::milliseconds(700);
        let t = temp_tags("exec-1", "prod", at, "rds:prod-1");
        assert_eq!(t[ROLE], ROLE_TEMP);
        assert_eq!(t[EXECUTION], "exec-1");
        assert_eq!(t[SOURCE], "prod");
        assert_eq!(t[RESTORED_FROM], "rds:prod-1");
        assert_eq!(t[EXPIRES_AT], "2026-11-23T03:00:00Z");
        // Whole seconds: the parsed expiry is never later than asked.
        assert_eq!(
            super::super::expires_at(&t),
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap())
        );
        assert!(!t.contains_key(COPIED_FROM));
    }

    #[test]
    fn a_copys_tags_name_its_role_and_origin() {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        let t = snapshot_copy_tags("exec-1", "prod", at, "rds:prod-1");
        assert_eq!(t[ROLE], ROLE_SNAPSHOT_COPY);
        assert_eq!(t[COPIED_FROM], "rds:prod-1");
        assert_eq!(t[EXPIRES_AT], "2026-11-30T00:00:00Z");
        assert!(!t.contains_key(RESTORED_FROM));
    }
}
