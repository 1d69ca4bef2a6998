//! The delete-temp guard matrix against moto: only the drill's own temp instance is ever deleted,
//! every other instance still exists afterwards, and each refusal is a `Drill.GuardViolation`
//! naming the guard that said no (so no delete call reached AWS: AWS would have answered
//! differently, or deleted).

use chrono::{Duration, Utc};
use drill_core::events::DrillContext;
use drill_tests::rds::*;
use drill_tests::{aws_config, unique};
use serde_json::json;

async fn delete(
    deps: &delete_temp::Deps,
    drill: &DrillContext,
    identifier: &str,
) -> Result<serde_json::Value, drill_engine::lambda::HandlerError> {
    // The guards themselves, below the handler's check that the identifier is the drill's own
    // (tests/tests/trust_boundary.rs holds that first layer).
    Ok(serde_json::to_value(
        drill_engine::rds::delete_temp(&deps.rds, &deps.config.rds, drill, identifier).await?,
    )
    .unwrap())
}

#[tokio::test]
async fn only_the_legitimate_temp_is_ever_deleted() {
    let client = rds().await;
    let net = network(&client).await;
    let later = Utc::now() + Duration::hours(6);

    // The production source, deletion protection on; a second source with it off.
    let source = unique("src-");
    create_instance(&client, &source, true, vec![]).await;
    let source_unprotected = unique("src-open-");
    create_instance(&client, &source_unprotected, false, vec![]).await;
    // A look-alike created *before* the drill started, with every tag of the drill.
    let early = unique("rdrill-early-");
    let pre = DrillContext {
        drill_id: unique("exec-"),
        source_id: source.clone(),
        started_at: Utc::now(),
    };
    create_instance(&client, &early, false, temp_tags(&pre, later)).await;

    // The drill starts just after `early` was created (by moto's own record) and restores its
    // temp once the clock is past that start.
    let drill = DrillContext {
        started_at: instance_created_at(&client, &early).await + Duration::microseconds(1),
        ..pre.clone()
    };
    clock_past(drill.started_at).await;
    let mut cfg = settings(Some(&net));
    cfg.sources = vec![source_unprotected.clone()];
    let protected_temp = unique("rdrill-keep-");
    cfg.protected = vec![protected_temp.clone()];
    let started = drill_engine::rds::restore(
        &client,
        &cfg,
        &drill,
        &drill_engine::rds::RestoreInput {
            source_instance: source.clone(),
            selector: Default::default(),
            max_age_hours: None,
            database: "app".into(),
            parameter_group: None,
        },
        Utc::now(),
    )
    .await
    .unwrap();
    let legit = match &started.temp {
        drill_core::events::TempResource::RdsInstance { identifier, .. } => identifier.clone(),
        other => panic!("{other:?}"),
    };

    // Instances that must survive, each with the guard expected to refuse it.
    let non_drill = unique("billing-");
    create_instance(&client, &non_drill, false, vec![]).await;
    let untagged = unique("rdrill-untagged-");
    create_instance(&client, &untagged, false, vec![]).await;
    let other_exec = unique("rdrill-other-");
    let other = DrillContext {
        drill_id: unique("exec-other-"),
        ..drill.clone()
    };
    create_instance(&client, &other_exec, false, temp_tags(&other, later)).await;
    let protected_flag = unique("rdrill-dp-");
    create_instance(&client, &protected_flag, true, temp_tags(&drill, later)).await;
    create_instance(&client, &protected_temp, false, temp_tags(&drill, later)).await;
    // A configured source that carries the prefix and every drill tag: guard (d) alone stops it.
    let source_lookalike = unique("rdrill-src-");
    create_instance(&client, &source_lookalike, false, temp_tags(&drill, later)).await;
    cfg.sources.push(source_lookalike.clone());
    // Not configured anywhere, prefix and every drill tag, but its drill:source tag names
    // itself: what a temp was restored from is never deleted.
    let self_source = unique("rdrill-self-");
    let mut self_tags = temp_tags(&drill, later);
    self_tags.retain(|t| t.key() != Some(drill_core::guards::tag::SOURCE));
    self_tags.push(t(drill_core::guards::tag::SOURCE, &self_source));
    create_instance(&client, &self_source, false, self_tags).await;

    let deps = delete_deps(cfg, aws_config().await);
    let cases: Vec<(&str, &str, &[&str])> = vec![
        (
            "source, deletion protection on",
            &source,
            &[
                "prefix",
                "role-tag",
                "owner",
                "not-protected",
                "deletion-protection",
                "created-by-drill",
            ],
        ),
        (
            "source, deletion protection off",
            &source_unprotected,
            &[
                "prefix",
                "role-tag",
                "owner",
                "not-protected",
                "created-by-drill",
            ],
        ),
        (
            "non-drill instance",
            &non_drill,
            &["prefix", "role-tag", "owner", "created-by-drill"],
        ),
        (
            "prefix but no tags",
            &untagged,
            &["role-tag", "owner", "created-by-drill"],
        ),
        ("another execution's temp", &other_exec, &["owner"]),
        ("created before the drill", &early, &["created-by-drill"]),
        (
            "temp with deletion protection",
            &protected_flag,
            &["deletion-protection"],
        ),
        (
            "temp in the protected list",
            &protected_temp,
            &["not-protected"],
        ),
        (
            "configured source with drill tags",
            &source_lookalike,
            &["not-protected"],
        ),
        (
            "temp whose drill:source tag names itself",
            &self_source,
            &["not-protected"],
        ),
    ];
    for (what, id, guards) in &cases {
        let err = delete(&deps, &drill, id)
            .await
            .expect_err(&format!("{what} must be refused"));
        assert_eq!(err.error_type(), "Drill.GuardViolation", "{what}: {err}");
        for g in *guards {
            assert!(
                err.message.contains(&format!("guard {g}:")),
                "{what}: expected {g} in {err}"
            );
        }
        let all = [
            "prefix",
            "role-tag",
            "owner",
            "not-protected",
            "deletion-protection",
            "created-by-drill",
        ];
        for g in all.iter().filter(|g| !guards.contains(g)) {
            assert!(
                !err.message.contains(&format!("guard {g}:")),
                "{what}: unexpected {g} in {err}"
            );
        }
    }

    // The legitimate temp is deleted; a second delete is idempotent; a never-existing one too.
    let out = delete(&deps, &drill, &legit)
        .await
        .expect("legitimate delete");
    assert_eq!(out["deleted"], json!([legit]));
    assert!(!exists(&client, &legit).await);
    let out = delete(&deps, &drill, &legit)
        .await
        .expect("already deleted is success");
    assert_eq!(out["already_gone"], json!([legit]));
    assert_eq!(out["deleted"], json!([]));
    let never = unique("rdrill-never-");
    let out = delete(&deps, &drill, &never).await.unwrap();
    assert_eq!(out["already_gone"], json!([never]));

    // Every other instance still exists, unchanged.
    for (what, id, _) in &cases {
        assert!(exists(&client, id).await, "{what} ({id}) was deleted");
    }
    let src = drill_engine::rds::describe_instance(&client, &source)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        src.deletion_protection(),
        Some(true),
        "the drill never turns protection off"
    );
    let flagged = drill_engine::rds::describe_instance(&client, &protected_flag)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(flagged.deletion_protection(), Some(true));
}

#[tokio::test]
async fn a_database_temp_without_this_drills_marker_is_refused_and_kept() {
    // A database named like a temp but not created by this drill (no ownership marker).
    let name = format!("rdrill-{}", drill_tests::unique("lookalike"));
    let admin = drill_tests::connect(&drill_tests::pg_url()).await;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    std::env::set_var("DRILL_TEST_GUARD_ADMIN_URL", drill_tests::pg_url());
    let url = url::Url::parse(&drill_tests::pg_url()).unwrap();
    let deps = delete_deps(settings(None), aws_config().await);
    let drill = drill("src", Utc::now());
    // The guards themselves, below the handler's name check (see trust_boundary.rs).
    let server: drill_core::events::ConnectionSpec = serde_json::from_value(
        json!({"host": "127.0.0.1", "port": url.port().unwrap(), "database": "postgres",
               "secret": {"env": {"var": "DRILL_TEST_GUARD_ADMIN_URL"}}, "tls": "disable"}),
    )
    .unwrap();
    let credentials = drill_engine::pg::resolve_secret(&server.secret, None)
        .await
        .unwrap();
    let settings = drill_engine::backupset::TempDbSettings::from_rds(&deps.config.rds);
    let err: drill_engine::lambda::HandlerError = drill_engine::backupset::delete(
        &drill_engine::pg::Database::from_spec(&server, &credentials),
        &drill.drill_id,
        &name,
        &settings,
    )
    .await
    .unwrap_err()
    .into();
    assert_eq!(err.error_type(), "Drill.GuardViolation", "{err}");
    assert!(err.message.contains("owner"), "{err}");
    let still = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap();
    assert!(still.is_some(), "a refused database must not be dropped");
    admin
        .batch_execute(&format!("DROP DATABASE \"{name}\""))
        .await
        .unwrap();
}

#[test]
fn sample_events_match_the_contracts() {
    let dir = |c: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates")
            .join(c)
            .join("events")
    };
    for f in ["restore.json", "status.json"] {
        let text = std::fs::read_to_string(dir("restore").join(f)).unwrap();
        serde_json::from_str::<drill_core::events::RestoreRequest>(&text)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    for f in ["delete.json", "janitor.json"] {
        let text = std::fs::read_to_string(dir("delete-temp").join(f)).unwrap();
        serde_json::from_str::<drill_core::events::DeleteRequest>(&text)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}
