//! The janitor against moto: an expired drill temp is removed; an unexpired one and look-alikes
//! stay, the look-alikes reported as refusals.

use chrono::{Duration, Utc};
use drill_core::events::{DeleteOutcome, DrillContext};
use drill_tests::rds::*;
use drill_tests::{aws_config, unique};
use serde_json::json;

#[tokio::test]
async fn janitor_removes_only_expired_drill_temps() {
    let client = rds().await;
    let drill = DrillContext {
        drill_id: unique("exec-dead-"),
        source_id: unique("src-"),
        started_at: Utc::now(),
    };
    // Expires 10 s from now, well after its creation (the janitor's guard (f) wants creation
    // before expiry); the janitor then sweeps at a `now` just past that, within its allowed
    // clock skew, instead of the test sleeping until then.
    let expires = Utc::now() + Duration::seconds(10);
    let expired = unique("rdrill-expired-");
    create_instance(&client, &expired, false, temp_tags(&drill, expires)).await;
    let fresh = unique("rdrill-fresh-");
    create_instance(
        &client,
        &fresh,
        false,
        temp_tags(&drill, Utc::now() + Duration::hours(3)),
    )
    .await;
    let lookalike = unique("rdrill-lookalike-");
    create_instance(&client, &lookalike, false, vec![]).await;
    let protected = unique("rdrill-protected-");
    create_instance(&client, &protected, true, temp_tags(&drill, expires)).await;
    let unrelated = unique("orders-");
    create_instance(&client, &unrelated, false, vec![]).await;
    // Not yet due at the real time: nothing is deleted.
    let deps = delete_deps(settings(None), aws_config().await);
    let early: DeleteOutcome = serde_json::from_value(
        delete_temp::handle(&deps, json!({"action": "janitor"}))
            .await
            .unwrap(),
    )
    .unwrap();
    for id in [&expired, &fresh] {
        assert!(early.not_due.contains(id), "{early:?}");
    }
    assert!(!early.deleted.contains(&expired), "{early:?}");
    assert!(exists(&client, &expired).await);

    let sweep_at = expires + Duration::seconds(1);
    let out: DeleteOutcome = serde_json::from_value(
        delete_temp::handle(&deps, json!({"action": "janitor", "now": sweep_at}))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(out.deleted.contains(&expired), "{out:?}");
    assert!(out.not_due.contains(&fresh), "{out:?}");
    let refused = |id: &str| {
        out.refused
            .iter()
            .filter(|r| r.identifier == id)
            .map(|r| r.guard.as_str())
            .collect::<Vec<_>>()
    };
    assert!(refused(&lookalike).contains(&"role-tag"), "{out:?}");
    assert_eq!(refused(&protected), ["deletion-protection"], "{out:?}");
    assert!(refused(&unrelated).is_empty() && !out.not_due.contains(&unrelated));

    assert!(!exists(&client, &expired).await);
    for id in [&fresh, &lookalike, &protected, &unrelated] {
        assert!(exists(&client, id).await, "{id} was deleted");
    }
}

#[tokio::test]
async fn janitor_refuses_a_clock_in_the_future() {
    let client = rds().await;
    let drill = DrillContext {
        drill_id: unique("exec-"),
        source_id: unique("src-"),
        started_at: Utc::now(),
    };
    let fresh = unique("rdrill-fresh-");
    create_instance(
        &client,
        &fresh,
        false,
        temp_tags(&drill, Utc::now() + Duration::hours(1)),
    )
    .await;
    let deps = delete_deps(settings(None), aws_config().await);
    let future = Utc::now() + Duration::days(2);
    let err = delete_temp::handle(&deps, json!({"action": "janitor", "now": future}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Drill.InvalidInput");
    assert!(exists(&client, &fresh).await);
}
