//! The janitor's own rules: which instances it looks at, and which `now` it accepts.

use chrono::{DateTime, Utc};

use super::{tag, InstanceFacts};

/// How far in the future a janitor event's `now` may lie: it exists for tests and replays, and
/// must not let a caller expire every temp early.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(300);

/// A janitor `now` too far in the future.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("janitor `now` {} lies in the future; it may only replay the past", .asked.to_rfc3339())]
pub struct FutureNow {
    pub asked: DateTime<Utc>,
}

/// The time the janitor sweeps at: `asked` (an event's `now`, to replay the past) unless it lies
/// more than [`MAX_CLOCK_SKEW`] after `real_now`; the real clock when none is asked.
pub fn sweep_time(
    asked: Option<DateTime<Utc>>,
    real_now: DateTime<Utc>,
) -> Result<DateTime<Utc>, FutureNow> {
    match asked {
        Some(t) if t - real_now > MAX_CLOCK_SKEW => Err(FutureNow { asked: t }),
        Some(t) => Ok(t),
        None => Ok(real_now),
    }
}

/// Whether the janitor looks at an instance at all: it carries the drill prefix or the temp role
/// tag. Whatever it looks at then goes through every guard; anything else is not reported.
pub fn looks_like_temp(prefix: &str, facts: &InstanceFacts) -> bool {
    (!prefix.is_empty() && facts.identifier.starts_with(prefix))
        || facts.tags.get(tag::ROLE).map(String::as_str) == Some(tag::ROLE_TEMP)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{t, temp};
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_janitor_replays_the_past_and_allows_a_little_skew_only() {
        let now = t(12);
        assert_eq!(sweep_time(None, now), Ok(now));
        assert_eq!(sweep_time(Some(t(1)), now), Ok(t(1)));
        let skewed = now + Duration::seconds(300);
        assert_eq!(sweep_time(Some(skewed), now), Ok(skewed));
        let future = now + Duration::seconds(301);
        let err = sweep_time(Some(future), now).unwrap_err();
        assert_eq!(err.asked, future);
        assert!(err.to_string().contains("lies in the future"), "{err}");
    }

    #[test]
    fn the_janitor_looks_at_prefixed_or_role_tagged_instances_only() {
        let f = temp();
        assert!(looks_like_temp("rdrill-", &f));
        let mut renamed = temp();
        renamed.identifier = "orders".into();
        assert!(looks_like_temp("rdrill-", &renamed));
        renamed.tags.clear();
        assert!(!looks_like_temp("rdrill-", &renamed));
        // An empty prefix would match everything.
        assert!(!looks_like_temp("", &renamed));
        let mut untagged = temp();
        untagged.tags.clear();
        assert!(looks_like_temp("rdrill-", &untagged));
    }
}
