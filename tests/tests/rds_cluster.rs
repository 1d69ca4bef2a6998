//! Aurora PostgreSQL temp clusters against moto (with the fixes of
//! `fix_rds_cluster_restores`): each restore mode's parameters and tags, the wait loop creating
//! the cluster's one instance exactly once, the guard matrix for clusters, and the janitor.

use chrono::{Duration, Utc};
use drill_core::events::TempState;
use drill_core::guards::tag;
use drill_core::point_in_time::Moment;
use drill_core::{Classified, ErrorKind};
use drill_engine::rds::{self, PointInTimeInput, RdsError};
use drill_tests::aurora::*;
use drill_tests::rds::*;
use drill_tests::unique;

#[tokio::test]
async fn a_snapshot_restore_is_isolated_and_tagged_and_the_wait_loop_creates_one_instance() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("aur-prod-");
    let snap = prod_cluster(&client, &source, true).await;
    let cfg = settings(Some(&net));
    let d = started_drill(&source).await;
    let started = rds::restore_cluster(&client, &cfg, &d, &input(&source), Utc::now())
        .await
        .unwrap();
    let (id, instance) = names(&started);
    assert!(
        id.starts_with("rdrill-") && instance.starts_with("rdrill-"),
        "{id} {instance}"
    );
    assert_eq!(started.backup.kind.as_str(), "rds-snapshot");
    assert!(started.backup.id.ends_with(&snap), "{:?}", started.backup);

    let c = cluster(&client, &id).await;
    // Isolation and removability, as asked of RDS (moto ignored false before its fix: the
    // source is protected).
    assert_eq!(c.deletion_protection(), Some(false));
    assert_eq!(c.backup_retention_period(), Some(1));
    assert_eq!(c.copy_tags_to_snapshot(), Some(false));
    assert_eq!(c.db_subnet_group(), Some(net.subnet_group.as_str()));
    let sgs: Vec<_> = c
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(sgs, [net.security_group.as_str()]);
    let scaling = c.serverless_v2_scaling_configuration().unwrap();
    // 16.4 supports auto-pause: the minimum AWS allows is 0 ACUs.
    assert_eq!(scaling.min_capacity(), Some(0.0));
    assert_eq!(scaling.max_capacity(), Some(4.0));
    let tags = rds::cluster_facts(&c).tags;
    assert_eq!(tags[tag::ROLE], tag::ROLE_TEMP);
    assert_eq!(tags[tag::EXECUTION], d.drill_id);
    assert_eq!(tags[tag::SOURCE], source);
    // By ARN: an automated cluster snapshot's `rds:` name is no valid tag value.
    assert!(
        tags[tag::RESTORED_FROM].starts_with("arn:aws:rds:")
            && tags[tag::RESTORED_FROM].ends_with(&format!(":cluster-snapshot:{snap}")),
        "{}",
        tags[tag::RESTORED_FROM]
    );
    assert!(tags.contains_key(tag::EXPIRES_AT));
    assert!(
        !tags.contains_key("env"),
        "production's tags are not the temp's"
    );
    assert!(c.master_user_secret().is_none());

    // A retry of the same execution takes over its own cluster.
    let again = rds::restore_cluster(&client, &cfg, &d, &input(&source), Utc::now())
        .await
        .unwrap();
    assert_eq!(again.temp, started.temp);

    let (seen, ready) = wait_available(&client, &cfg, &d, &started).await;
    assert!(seen.contains(&TempState::SecretNeeded), "{seen:?}");
    let conn = ready.connection.expect("a connection once available");
    assert_eq!(
        Some(conn.host.as_str()),
        cluster(&client, &id).await.endpoint()
    );
    let drill_core::events::SecretRef::SecretsManager { secret_id } = &conn.secret else {
        panic!("{conn:?}")
    };
    assert!(secret_id.contains("rds!cluster-"), "{secret_id}");
    // Further status calls create nothing more: one instance, ours, with the drill's tags.
    for _ in 0..3 {
        assert_eq!(
            status(&client, &cfg, &d, &started).await.state,
            TempState::Available
        );
    }
    let c = cluster(&client, &id).await;
    assert_eq!(rds::cluster_members(&c), std::slice::from_ref(&instance));
    let db = rds::describe_instance(&client, &instance)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.db_instance_class(), Some("db.serverless"));
    assert_eq!(db.publicly_accessible(), Some(false));
    let itags = rds::instance_facts(&db).tags;
    assert_eq!(itags[tag::EXECUTION], d.drill_id);
    assert_eq!(itags[tag::RESTORED_FROM], tags[tag::RESTORED_FROM]);

    // Deleted by its own drill: instance first, then the cluster; then gone is success.
    let out = rds::delete_cluster_temp(&client, &cfg, &d, &id, &instance)
        .await
        .unwrap();
    assert_eq!(out.deleted, [instance.clone(), id.clone()]);
    assert!(rds::describe_cluster(&client, &id).await.unwrap().is_none());
    // DeleteAutomatedBackups=false: the drill never destroys automated backups.
    let kept = rds::retained_cluster_backups(&client, &id).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].facts.status, "retained");
    assert!(!exists(&client, &instance).await);
    let out = rds::delete_cluster_temp(&client, &cfg, &d, &id, &instance)
        .await
        .unwrap();
    assert_eq!(out.already_gone, [id]);
    assert!(rds::describe_cluster(&client, &source)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn a_point_in_time_restore_records_the_moment_and_gets_the_same_settings() {
    let client = rds().await;
    let net = network(&client).await;
    let source = unique("aur-pitr-");
    prod_cluster(&client, &source, true).await;
    let cfg = settings(Some(&net));
    let d = started_drill(&source).await;
    let pitr = PointInTimeInput {
        moment: Moment::Random,
        seed: Some(42),
        replicated_from: None,
    };
    let started =
        rds::restore_cluster_point_in_time(&client, &cfg, &d, &input(&source), &pitr, Utc::now())
            .await
            .unwrap();
    assert_eq!(started.backup.kind.as_str(), "rds-point-in-time");
    assert!(
        started.backup.id.contains("seed 42"),
        "{:?}",
        started.backup
    );
    let (id, _) = names(&started);
    let c = cluster(&client, &id).await;
    assert_eq!(c.deletion_protection(), Some(false));
    assert_eq!(c.backup_retention_period(), Some(1));
    let tags = rds::cluster_facts(&c).tags;
    assert!(tags.contains_key(tag::MOMENT), "{tags:?}");
    assert_eq!(tags[tag::EXECUTION], d.drill_id);
    assert!(tags[tag::RESTORED_FROM].contains(&source), "{tags:?}");
    // No managed secret from the source: the call takes no ManageMasterUserPassword.
    assert!(c.master_user_secret().is_none());
    let (seen, ready) = wait_available(&client, &cfg, &d, &started).await;
    assert!(seen.contains(&TempState::SecretNeeded), "{seen:?}");
    assert!(ready.connection.is_some());
    // A retry reports the moment recorded, not a new one.
    let again =
        rds::restore_cluster_point_in_time(&client, &cfg, &d, &input(&source), &pitr, Utc::now())
            .await
            .unwrap();
    assert_eq!(again.backup, started.backup);
    let bad = PointInTimeInput {
        replicated_from: Some("us-west-2".into()),
        ..pitr
    };
    let err =
        rds::restore_cluster_point_in_time(&client, &cfg, &d, &input(&source), &bad, Utc::now())
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

fn refused(err: RdsError) -> Vec<(String, String)> {
    assert_eq!(err.kind(), ErrorKind::GuardViolation, "{err}");
    match err {
        RdsError::Guard { refusals, .. } => refusals
            .into_iter()
            .map(|r| (r.identifier, r.guard))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_cluster_guard_matrix_deletes_only_the_drills_own_cluster() {
    let client = rds().await;
    let net = network(&client).await;
    let mut cfg = settings(Some(&net));
    // Production, with and without deletion protection.
    let prod = unique("aur-prod-");
    prod_cluster(&client, &prod, true).await;
    let prod_open = unique("aur-open-");
    prod_cluster(&client, &prod_open, false).await;
    cfg.sources = vec![prod_open.clone()];
    let d = started_drill(&prod).await;
    for target in [&prod, &prod_open] {
        let got = refused(
            rds::delete_cluster_temp(&client, &cfg, &d, target, "none")
                .await
                .unwrap_err(),
        );
        let guards: Vec<&str> = got.iter().map(|(_, g)| g.as_str()).collect();
        assert!(
            guards.contains(&"prefix") && guards.contains(&"owner"),
            "{got:?}"
        );
        assert_eq!(
            guards.contains(&"deletion-protection"),
            target == &prod,
            "{got:?}"
        );
        assert!(rds::describe_cluster(&client, target)
            .await
            .unwrap()
            .is_some());
    }

    // A look-alike: the prefix, no tags.
    let lookalike = unique("rdrill-look-");
    prod_cluster(&client, &lookalike, false).await;
    let got = refused(
        rds::delete_cluster_temp(&client, &cfg, &d, &lookalike, "none")
            .await
            .unwrap_err(),
    );
    assert!(got.iter().any(|(_, g)| g == "role-tag"), "{got:?}");
    assert!(rds::describe_cluster(&client, &lookalike)
        .await
        .unwrap()
        .is_some());

    // Another execution's temp cluster, with its instance.
    let theirs = started_drill(&prod).await;
    let other = rds::restore_cluster(&client, &cfg, &theirs, &input(&prod), Utc::now())
        .await
        .unwrap();
    wait_available(&client, &cfg, &theirs, &other).await;
    let (other_id, other_instance) = names(&other);
    let got = refused(
        rds::delete_cluster_temp(&client, &cfg, &d, &other_id, &other_instance)
            .await
            .unwrap_err(),
    );
    assert!(got.contains(&(other_id.clone(), "owner".into())), "{got:?}");
    assert!(exists(&client, &other_instance).await);

    // Our own cluster, but someone added an instance of theirs to it: nothing is deleted.
    let ours = rds::restore_cluster(&client, &cfg, &d, &input(&prod), Utc::now())
        .await
        .unwrap();
    wait_available(&client, &cfg, &d, &ours).await;
    let (id, instance) = names(&ours);
    let stranger = unique("analytics-reader-");
    client
        .create_db_instance()
        .db_instance_identifier(&stranger)
        .db_cluster_identifier(&id)
        .engine("aurora-postgresql")
        .db_instance_class("db.serverless")
        .send()
        .await
        .unwrap();
    let got = refused(
        rds::delete_cluster_temp(&client, &cfg, &d, &id, &instance)
            .await
            .unwrap_err(),
    );
    assert!(got.iter().all(|(who, _)| who == &stranger), "{got:?}");
    assert!(
        exists(&client, &instance).await,
        "not even our instance goes"
    );
    assert!(exists(&client, &stranger).await);

    // Once the stranger is gone, ours is deleted, and everything else is still there.
    client
        .delete_db_instance()
        .db_instance_identifier(&stranger)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let out = rds::delete_cluster_temp(&client, &cfg, &d, &id, &instance)
        .await
        .unwrap();
    assert_eq!(out.deleted, [instance, id]);
    for survivor in [&prod, &prod_open, &lookalike, &other_id] {
        assert!(
            rds::describe_cluster(&client, survivor)
                .await
                .unwrap()
                .is_some(),
            "{survivor}"
        );
    }
}

#[tokio::test]
async fn the_janitor_sweeps_expired_temp_clusters_with_their_instances() {
    let client = rds().await;
    let net = network(&client).await;
    // A prefix of its own: a sweep "in 13 hours" would otherwise expire other tests' temps in
    // the shared moto (theirs fail this prefix's guard and are only reported).
    let mut cfg = settings(Some(&net));
    cfg.prefix = "rdjan-".into();
    let prod = unique("aur-jan-");
    prod_cluster(&client, &prod, true).await;
    let d = started_drill(&prod).await;
    let started = rds::restore_cluster(&client, &cfg, &d, &input(&prod), Utc::now())
        .await
        .unwrap();
    wait_available(&client, &cfg, &d, &started).await;
    let (id, instance) = names(&started);
    assert!(id.starts_with("rdjan-"), "{id}");
    let early = rds::janitor(&client, &cfg, Utc::now()).await.unwrap();
    assert!(early.not_due.contains(&id), "{early:?}");
    assert!(!early.deleted.contains(&instance), "{early:?}");
    let late = Utc::now() + Duration::hours(i64::from(cfg.temp_ttl_hours) + 1);
    let out = rds::janitor(&client, &cfg, late).await.unwrap();
    assert!(
        out.deleted.contains(&instance) && out.deleted.contains(&id),
        "{out:?}"
    );
    assert!(rds::describe_cluster(&client, &id).await.unwrap().is_none());
    assert!(rds::describe_cluster(&client, &prod)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn moto_holds_the_cluster_facts_aws_documents() {
    let client = rds().await;
    let prod = unique("aur-facts-");
    let snap = prod_cluster(&client, &prod, true).await;
    let temp = unique("rdrill-facts-");
    client
        .restore_db_cluster_from_snapshot()
        .db_cluster_identifier(&temp)
        .snapshot_identifier(&snap)
        .engine("aurora-postgresql")
        .deletion_protection(false)
        .send()
        .await
        .unwrap();
    // No instance before the restored cluster is available.
    let early = client
        .create_db_instance()
        .db_instance_identifier(format!("{temp}-w"))
        .db_cluster_identifier(&temp)
        .engine("aurora-postgresql")
        .db_instance_class("db.serverless")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        early
            .as_service_error()
            .and_then(aws_sdk_rds::error::ProvideErrorMetadata::code),
        Some("InvalidDBClusterStateFault")
    );
    assert_eq!(
        cluster(&client, &temp).await.deletion_protection(),
        Some(false)
    );
    client
        .create_db_instance()
        .db_instance_identifier(format!("{temp}-w"))
        .db_cluster_identifier(&temp)
        .engine("aurora-postgresql")
        .db_instance_class("db.serverless")
        .send()
        .await
        .unwrap();
    // A cluster with instances cannot be deleted.
    let err = client
        .delete_db_cluster()
        .db_cluster_identifier(&temp)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .and_then(aws_sdk_rds::error::ProvideErrorMetadata::code),
        Some("InvalidDBClusterStateFault")
    );
    // The smallest minimum capacity per engine version.
    assert_eq!(
        rds::version_min_capacity(&client, Some("16.4"))
            .await
            .unwrap(),
        Some(0.0)
    );
    assert_eq!(
        rds::version_min_capacity(&client, Some("15.4"))
            .await
            .unwrap(),
        Some(0.5)
    );
    // A retried restore into the same name is refused, not a replacement of the cluster.
    let again = client
        .restore_db_cluster_from_snapshot()
        .db_cluster_identifier(&temp)
        .snapshot_identifier(&snap)
        .engine("aurora-postgresql")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        again
            .as_service_error()
            .and_then(aws_sdk_rds::error::ProvideErrorMetadata::code),
        Some("DBClusterAlreadyExistsFault")
    );
}
