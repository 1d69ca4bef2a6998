//! Sandboxes in AWS against moto, through the sandbox actions of the restore and delete-temp
//! binaries: create from the newest validated backup, list, delete, the janitor, and the guard
//! matrix (another user's sandbox, a drill temp, a production look-alike: only the caller's own
//! sandbox goes). Callers are two IAM users with their own keys; the owner is what STS answers
//! for their signature, never a value of the event.

use chrono::{Duration, Utc};
use drill_core::events::DeleteOutcome;
use drill_core::guards::tag;
use drill_core::sandbox::{self, SandboxInfo};
use drill_engine::sandbox::identity::sign_caller_proof;
use drill_engine::sandbox::SandboxSettings;
use drill_tests::rds::*;
use drill_tests::sandbox::{iam_user, proof, sandbox_settings};
use drill_tests::{aws_config, unique};
use serde_json::json;

async fn create(
    deps: &restore::Deps,
    settings: &SandboxSettings,
    user: &aws_config::SdkConfig,
    source: &str,
) -> SandboxInfo {
    let event = json!({"action": "sandbox_create", "source_id": source, "ttl_hours": 2,
        "caller": proof(user, "sandbox_create", source).await});
    let out = restore::sandbox::dispatch(deps, settings, event, Utc::now())
        .await
        .expect("sandbox created");
    assert!(
        !out.to_string().to_lowercase().contains("password"),
        "{out}"
    );
    serde_json::from_value(out).unwrap()
}

async fn delete(
    deps: &delete_temp::Deps,
    settings: &SandboxSettings,
    user: &aws_config::SdkConfig,
    identifier: &str,
) -> Result<DeleteOutcome, drill_engine::lambda::HandlerError> {
    let event = json!({"action": "sandbox_delete", "identifier": identifier,
        "caller": proof(user, "sandbox_delete", identifier).await});
    delete_temp::sandbox::dispatch(deps, settings, event, Utc::now())
        .await
        .map(|v| serde_json::from_value(v).unwrap())
}

#[tokio::test]
async fn sandboxes_are_owned_listed_and_deleted_by_their_caller_only() {
    let client = rds().await;
    let net = network(&client).await;
    let reports = tempfile::tempdir().unwrap();
    let settings = sandbox_settings(reports.path());
    let (source, snapshot) =
        drill_tests::sandbox::validated_source(&client, reports.path(), "app").await;
    let deps = restore_deps(settings_for(&net), aws_config().await);
    let (alice_arn, alice) = iam_user(&unique("alice-")).await;
    let (bob_arn, bob) = iam_user(&unique("bob-")).await;

    let mine = create(&deps, &settings, &alice, &source).await;
    let theirs = create(&deps, &settings, &bob, &source).await;
    assert_eq!(mine.owner, alice_arn);
    assert_eq!(theirs.owner, bob_arn);
    assert_ne!(mine.identifier, theirs.identifier);
    assert!(mine.identifier.starts_with("rsbx-"), "{}", mine.identifier);
    let tags = instance_tags(&client, &mine.identifier).await;
    assert_eq!(tags[tag::ROLE], sandbox::ROLE_SANDBOX);
    assert_eq!(tags[sandbox::OWNER], alice_arn);
    assert!(tags[tag::RESTORED_FROM].contains(&snapshot), "{tags:?}");
    let expires = drill_core::guards::expires_at(&tags).unwrap();
    assert!(expires <= Utc::now() + Duration::hours(2), "{expires}");
    assert!(expires > Utc::now() + Duration::minutes(110), "{expires}");
    let db = drill_engine::rds::describe_instance(&client, &mine.identifier)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some(net.subnet_group.as_str())
    );

    let list = |user| {
        let deps = &deps;
        let settings = &settings;
        async move {
            let event =
                json!({"action": "sandbox_list", "caller": proof(user, "sandbox_list", "").await});
            let out = restore::sandbox::dispatch(deps, settings, event, Utc::now())
                .await
                .unwrap();
            serde_json::from_value::<Vec<SandboxInfo>>(out)
                .unwrap()
                .into_iter()
                .map(|s| s.identifier)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(&alice).await, vec![mine.identifier.clone()]);
    assert_eq!(list(&bob).await, vec![theirs.identifier.clone()]);

    // The guard matrix, as alice: bob's sandbox, a drill temp, a production look-alike.
    let del = delete_deps(settings_for(&net), aws_config().await);
    let drill = drill(&source, Utc::now());
    let temp = unique("rdrill-temp-");
    create_instance(
        &client,
        &temp,
        false,
        temp_tags(&drill, Utc::now() + Duration::hours(1)),
    )
    .await;
    let lookalike = unique("rsbx-prod-");
    create_instance(
        &client,
        &lookalike,
        false,
        vec![t(sandbox::OWNER, &alice_arn)],
    )
    .await;
    for (id, guard) in [
        (&theirs.identifier, "owner"),
        (&temp, "prefix"),
        (&lookalike, "role-tag"),
        (&source, "not-protected"),
    ] {
        let err = delete(&del, &settings, &alice, id).await.unwrap_err();
        assert_eq!(err.error_type(), "Drill.GuardViolation", "{id}: {err}");
        assert!(
            err.message.contains(&format!("guard {guard}")),
            "{id}: {err}"
        );
        assert!(exists(&client, id).await, "{id} was deleted");
    }
    let out = delete(&del, &settings, &alice, &mine.identifier)
        .await
        .unwrap();
    assert_eq!(out.deleted, vec![mine.identifier.clone()]);
    assert!(!exists(&client, &mine.identifier).await);
    assert!(exists(&client, &theirs.identifier).await);
}

#[tokio::test]
async fn untrusted_events_cannot_claim_an_owner_a_longer_life_or_another_sts() {
    let client = rds().await;
    let net = network(&client).await;
    let reports = tempfile::tempdir().unwrap();
    let settings = sandbox_settings(reports.path());
    let (source, _) = drill_tests::sandbox::validated_source(&client, reports.path(), "app").await;
    let deps = restore_deps(settings_for(&net), aws_config().await);
    let (_, alice) = iam_user(&unique("alice-")).await;
    let caller = proof(&alice, "sandbox_create", &source).await;
    // A backup-set source no drill run validated: nothing is offered (sandbox_aws_db.rs makes
    // backup-set sandboxes).
    let set_source = unique("set-");
    drill_tests::deployment::configure_source(
        &set_source,
        json!({"kind": "backup-set", "store": "s3://backups/sets", "server": {"host": "restore.internal",
            "port": 5432, "database": "postgres", "secret": {"env": {"var": "NOPE"}}}}),
        None,
        None,
    );
    let cases = [
        (
            json!({"action": "sandbox_create", "source_id": set_source, "caller": caller}),
            "Drill.InvalidInput",
            "has no validated backup",
        ),
        (
            json!({"action": "sandbox_create", "source_id": source, "ttl_hours": 9, "caller": caller}),
            "Drill.InvalidInput",
            "maximum of 8",
        ),
        (
            json!({"action": "sandbox_list", "owner": "arn:aws:iam::123456789012:user/x", "caller": caller}),
            "Drill.InvalidInput",
            "owner",
        ),
        (
            json!({"action": "sandbox_list", "sts_endpoint": "http://127.0.0.1:1", "caller": caller}),
            "Drill.InvalidInput",
            "sts_endpoint",
        ),
        (
            json!({"action": "sandbox_list", "caller": {"authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/eu-west-1/sts/aws4_request", "amz_date": "20260101T000000Z"}}),
            "Drill.InvalidInput",
            "region us-east-1",
        ),
        (
            json!({"action": "sandbox_create", "source_id": "nope", "caller": caller}),
            "Drill.InvalidInput",
            "nope",
        ),
        (
            json!({"action": "restore", "drill": drill(&source, Utc::now())}),
            "Drill.InvalidInput",
            "sandbox_",
        ),
    ];
    for (event, kind, says) in cases {
        let err = restore::sandbox::dispatch(&deps, &settings, event.clone(), Utc::now())
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), kind, "{event}: {err}");
        assert!(err.message.contains(says), "{event}: {err}");
    }
    assert!(
        drill_engine::rds::list_instances(&client)
            .await
            .unwrap()
            .iter()
            .all(|db| drill_engine::rds::instance_facts(db).tags.get(tag::SOURCE) != Some(&source)),
        "a refused request made an instance"
    );
}

#[tokio::test]
async fn the_janitor_sweeps_expired_sandboxes_only() {
    let client = rds().await;
    let reports = tempfile::tempdir().unwrap();
    let settings = sandbox_settings(reports.path());
    let owner = "arn:aws:iam::123456789012:user/someone";
    // Expires 10 s from now; the sweep runs at a `now` just past that (within the allowed skew).
    let expires = Utc::now() + Duration::seconds(10);
    let sandbox_tags = |expires| {
        aws_tags(&sandbox::tags(
            owner,
            "prod",
            expires,
            "arn:aws:rds:us-east-1:123456789012:snapshot:rds:prod-1",
        ))
    };
    let expired = unique("rsbx-expired-");
    create_instance(&client, &expired, false, sandbox_tags(expires)).await;
    let fresh = unique("rsbx-fresh-");
    create_instance(
        &client,
        &fresh,
        false,
        sandbox_tags(Utc::now() + Duration::hours(3)),
    )
    .await;
    let forever = unique("rsbx-forever-");
    create_instance(
        &client,
        &forever,
        false,
        sandbox_tags(Utc::now() + Duration::days(30)),
    )
    .await;
    let lookalike = unique("rsbx-lookalike-");
    create_instance(&client, &lookalike, false, vec![]).await;
    let drill = drill(&unique("src-"), Utc::now());
    let temp = unique("rdrill-temp-");
    create_instance(&client, &temp, false, temp_tags(&drill, expires)).await;

    let deps = delete_deps(drill_tests::rds::settings(None), aws_config().await);
    let sweep = |now: Option<chrono::DateTime<Utc>>| {
        let deps = &deps;
        let settings = &settings;
        async move {
            let out = delete_temp::sandbox::dispatch(
                deps,
                settings,
                json!({"action": "sandbox_janitor", "now": now}),
                Utc::now(),
            )
            .await
            .unwrap();
            serde_json::from_value::<DeleteOutcome>(out).unwrap()
        }
    };
    let early = sweep(None).await;
    assert!(early.not_due.contains(&expired), "{early:?}");
    assert!(exists(&client, &expired).await);

    let out = sweep(Some(expires + Duration::seconds(1))).await;
    assert!(out.deleted.contains(&expired), "{out:?}");
    assert!(out.not_due.contains(&fresh), "{out:?}");
    let refused = |id: &str| {
        out.refused
            .iter()
            .filter(|r| r.identifier == id)
            .map(|r| r.guard.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        refused(&forever).contains(&"created-by-drill".to_owned()),
        "{out:?}"
    );
    assert!(
        refused(&lookalike).contains(&"role-tag".to_owned()),
        "{out:?}"
    );
    assert!(
        refused(&temp).is_empty() && !out.not_due.contains(&temp),
        "{out:?}"
    );
    assert!(!exists(&client, &expired).await);
    for id in [&fresh, &forever, &lookalike, &temp] {
        assert!(exists(&client, id).await, "{id} was deleted");
    }
}

fn settings_for(net: &Network) -> drill_engine::rds::RdsSettings {
    settings(Some(net))
}

/// What the sandbox function sends to STS is exactly what the caller signed: POST /, the
/// query-protocol body, and the signed header values. moto checks no signature, so a local STS
/// stand-in captures the request (AWS recomputes the signature over these same parts).
#[tokio::test]
async fn the_function_replays_exactly_the_signed_request_to_its_own_sts() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&buf).contains(sandbox::GET_CALLER_IDENTITY_BODY) {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "request ended early: {}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/carol</Arn>\
                    </GetCallerIdentityResult></GetCallerIdentityResponse>";
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(reply.as_bytes()).await.unwrap();
        String::from_utf8(buf).unwrap()
    });
    let (_, carol) = iam_user(&unique("carol-")).await;
    let binding = sandbox::binding("sandbox_delete", "rsbx-carols");
    let proof = sign_caller_proof(&carol, &endpoint, "us-east-1", &binding)
        .await
        .unwrap();
    let function = aws_config().await;
    let owner = drill_engine::sandbox::identity::verify_caller(
        &function,
        &endpoint,
        "us-east-1",
        &proof,
        &binding,
    )
    .await
    .unwrap();
    assert_eq!(owner, "arn:aws:iam::123456789012:user/carol");
    let request = server.await.unwrap();
    let lower = request.to_lowercase();
    assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
    let header = |name: &str| {
        lower
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(str::trim)
            .map(str::to_owned)
    };
    assert_eq!(
        header("authorization").unwrap(),
        proof.authorization.to_lowercase()
    );
    assert_eq!(header("x-amz-date").unwrap(), proof.amz_date.to_lowercase());
    assert_eq!(
        header("content-type").as_deref(),
        Some(sandbox::GET_CALLER_IDENTITY_CONTENT_TYPE)
    );
    assert_eq!(
        header("host").unwrap(),
        endpoint.trim_start_matches("http://")
    );
    assert!(
        proof
            .authorization
            .contains("SignedHeaders=content-type;host;x-amz-date;x-restore-drill-request,"),
        "{}",
        proof.authorization
    );
    // The request is bound: the function sent the binding of the request it served, which the
    // caller signed. Re-signing at the proof's time gives the same signature for that binding
    // and another for any other request: what STS recomputes (moto checks no signature at all,
    // so this, not moto, shows that a proof replayed for another action would be refused).
    assert_eq!(header(sandbox::BINDING_HEADER).unwrap(), binding);
    let at = chrono::NaiveDateTime::parse_from_str(&proof.amz_date, "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let resign = |b: String| {
        let carol = &carol;
        let endpoint = &endpoint;
        async move {
            drill_engine::sandbox::identity::sign_caller_proof_at(
                carol,
                endpoint,
                "us-east-1",
                &b,
                at.into(),
            )
            .await
            .unwrap()
            .authorization
        }
    };
    assert_eq!(resign(binding.clone()).await, proof.authorization);
    for (action, subject) in [
        ("sandbox_delete", "rsbx-someone-else"),
        ("sandbox_diff", "rsbx-carols"),
    ] {
        assert_ne!(
            resign(sandbox::binding(action, subject)).await,
            proof.authorization,
            "{action} {subject}"
        );
    }
    assert!(
        request.ends_with(sandbox::GET_CALLER_IDENTITY_BODY),
        "{request}"
    );
    // The function's own (placeholder) signature never leaves.
    assert!(!request.contains("Credential=unused"), "{request}");
}
