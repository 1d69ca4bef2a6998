//! AWS sandboxes of a backup-set source, through the two sandbox functions' handlers: moto for
//! STS, S3 and Secrets Manager; the local PostgreSQL as the source's restore server (its admin
//! secret in Secrets Manager, as in the deployment). The newest *validated* set becomes a sandbox
//! database owned by a login role of its own, whose password only its secret holds; the "clean
//! up old test data" statement without its WHERE is destructive in the diff; only the caller's
//! own sandbox goes, and the janitor sweeps expired ones — database, base, role and secret.

use chrono::{Duration, Utc};
use drill_core::diff::Verdict;
use drill_core::events::DeleteOutcome;
use drill_core::sandbox::SandboxInfo;
use drill_core::sandbox_diff::SandboxDiffOutcome;
use drill_engine::lambda::HandlerError;
use drill_engine::sandbox::SandboxSettings;
use drill_tests::rds::*;
use drill_tests::sandbox::{iam_user, proof, sandbox_settings, validated_backup_set};
use drill_tests::{aws_config, connect, pg_url, unique, with_database};
use serde_json::{json, Value};

struct World {
    restore: restore::Deps,
    delete: delete_temp::Deps,
    settings: SandboxSettings,
    sm: aws_sdk_secretsmanager::Client,
    source: String,
    _reports: tempfile::TempDir,
}

async fn create(
    w: &World,
    user: &aws_config::SdkConfig,
    ttl: u32,
) -> Result<SandboxInfo, HandlerError> {
    let event = json!({"action": "sandbox_create", "source_id": w.source, "ttl_hours": ttl,
        "caller": proof(user, "sandbox_create", &w.source).await});
    let out = restore::sandbox::dispatch(&w.restore, &w.settings, event, Utc::now()).await?;
    Ok(serde_json::from_value(out).unwrap())
}

async fn on(
    w: &World,
    action: &str,
    user: &aws_config::SdkConfig,
    id: &str,
) -> Result<Value, HandlerError> {
    let mut event = json!({"action": action, "caller": proof(user, action, id).await});
    if !id.is_empty() {
        event["identifier"] = id.into();
    }
    if action == "sandbox_delete" {
        delete_temp::sandbox::dispatch(&w.delete, &w.settings, event, Utc::now()).await
    } else {
        restore::sandbox::dispatch(&w.restore, &w.settings, event, Utc::now()).await
    }
}

async fn exists(kind: &str, name: &str) -> bool {
    let table = if kind == "role" {
        "pg_roles WHERE rolname"
    } else {
        "pg_database WHERE datname"
    };
    connect(&pg_url())
        .await
        .query_opt(&format!("SELECT 1 FROM {table} = $1"), &[&name])
        .await
        .unwrap()
        .is_some()
}

async fn secret_exists(w: &World, name: &str) -> bool {
    w.sm.describe_secret().secret_id(name).send().await.is_ok()
}

async fn world() -> World {
    let config = aws_config().await;
    let reports = tempfile::tempdir().unwrap();
    let (source, bucket) = validated_backup_set(reports.path()).await;
    let mut settings = sandbox_settings(reports.path());
    // A prefix of this test's own: the janitor tests run 90 minutes ahead on the shared server
    // and must not sweep the sandboxes other tests are making.
    settings.prefix = format!("s{}-", &unique("")[..8]);
    settings.diff_reports_url = Some(format!("s3://{bucket}/sandboxes"));
    let rds = settings_for_tests();
    World {
        restore: restore_deps(rds.clone(), config.clone()),
        delete: delete_deps(rds, config.clone()),
        sm: aws_sdk_secretsmanager::Client::new(&config),
        settings,
        source,
        _reports: reports,
    }
}

fn settings_for_tests() -> drill_engine::rds::RdsSettings {
    settings(None)
}

#[tokio::test]
async fn a_backup_set_sandbox_is_a_database_of_its_own_role_and_only_its_owner_diffs_or_deletes_it()
{
    let w = world().await;
    let (_, alice) = iam_user(&unique("alice-")).await;
    let (_, bob) = iam_user(&unique("bob-")).await;

    let made = create(&w, &alice, 4).await.unwrap();
    let id = made.identifier.clone();
    assert!(
        id.starts_with(&format!("{}sbx-", w.settings.prefix)),
        "{made:?}"
    );
    assert_eq!(made.database.as_deref(), Some(id.as_str()));
    assert!(made.restored_from.contains("/backups/"), "{made:?}");
    let secret_name = format!("restore-drill/sandbox/{id}");

    // The secret holds the sandbox role's credentials, tagged as the sandbox.
    let value =
        w.sm.get_secret_value()
            .secret_id(&secret_name)
            .send()
            .await
            .unwrap();
    let creds: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(creds["username"], id.as_str());
    assert_eq!(creds["dbname"], id.as_str());
    let described =
        w.sm.describe_secret()
            .secret_id(&secret_name)
            .send()
            .await
            .unwrap();
    let tag = |k: &str| {
        described
            .tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_owned)
    };
    assert_eq!(tag("drill:role").as_deref(), Some("sandbox"));
    assert_eq!(tag("drill:source").as_deref(), Some(w.source.as_str()));
    assert!(tag("drill:owner").unwrap().contains("alice-"));
    // The sandbox users' policy lets only the caller whose aws:userid this is read the secret.
    let alice_id = aws_sdk_sts::Client::new(&alice)
        .get_caller_identity()
        .send()
        .await
        .unwrap()
        .user_id()
        .unwrap()
        .to_owned();
    assert_eq!(tag("drill:owner-id"), Some(alice_id));

    // The role logs in with that password, owns what was restored, and has no other power.
    let url = url::Url::parse(&pg_url()).unwrap();
    let as_role = format!(
        "postgresql://{}:{}@127.0.0.1:{}/{id}",
        id,
        creds["password"].as_str().unwrap(),
        url.port().unwrap()
    );
    let sandbox = connect(&as_role).await;
    let row = sandbox
        .query_one(
            "SELECT (SELECT count(*) FROM public.students), (SELECT count(*) FROM public.submissions), \
                    (SELECT tableowner::text FROM pg_tables WHERE tablename = 'submissions'), \
                    (SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = current_user)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (500, 3000));
    assert_eq!(row.get::<_, String>(2), id);
    assert!(!row.get::<_, bool>(3));
    // A migration's DDL works: the role owns the tables.
    sandbox
        .batch_execute("ALTER TABLE public.students ADD COLUMN nickname text")
        .await
        .unwrap();
    // The base copy is not for the role.
    let base_url = with_database(&as_role, &format!("{id}-base"));
    let refused = tokio_postgres::connect(&base_url, tokio_postgres::NoTls).await;
    assert!(refused.is_err(), "the sandbox role reached its base");

    // list: alice sees it, bob does not; bob can neither connect, diff nor delete it.
    let listed: Vec<SandboxInfo> =
        serde_json::from_value(on(&w, "sandbox_list", &alice, "").await.unwrap()).unwrap();
    assert!(listed.iter().any(|s| s.identifier == id), "{listed:?}");
    let listed: Vec<SandboxInfo> =
        serde_json::from_value(on(&w, "sandbox_list", &bob, "").await.unwrap()).unwrap();
    assert!(listed.iter().all(|s| s.identifier != id), "{listed:?}");
    for action in ["sandbox_connect", "sandbox_diff", "sandbox_delete"] {
        let err = on(&w, action, &bob, &id).await.unwrap_err();
        assert_eq!(err.error_type(), "Drill.GuardViolation", "{action}: {err}");
        assert!(err.message.contains("owner"), "{action}: {err}");
    }
    assert!(exists("database", &id).await && exists("role", &id).await);

    let info: SandboxInfo =
        serde_json::from_value(on(&w, "sandbox_connect", &alice, &id).await.unwrap()).unwrap();
    assert_eq!(info.secret_arn.as_deref(), Some(secret_name.as_str()));
    assert_eq!(info.endpoint.as_deref(), Some("127.0.0.1"));

    // "Clean up old test data" without its WHERE: destructive, the table named.
    sandbox
        .batch_execute("DELETE FROM public.submissions")
        .await
        .unwrap();
    drop(sandbox);
    let out: SandboxDiffOutcome =
        serde_json::from_value(on(&w, "sandbox_diff", &alice, &id).await.unwrap()).unwrap();
    assert_eq!(out.report.verdict, Verdict::Destructive, "{out:?}");
    let subs = out
        .report
        .tables
        .iter()
        .find(|t| t.name == "submissions")
        .unwrap();
    assert_eq!(subs.rows.deleted, 3000, "{subs:?}");
    assert!(
        out.report_url.contains(&format!("/sandboxes/{id}/diff-")),
        "{}",
        out.report_url
    );

    let gone: DeleteOutcome =
        serde_json::from_value(on(&w, "sandbox_delete", &alice, &id).await.unwrap()).unwrap();
    assert_eq!(gone.deleted.len(), 4, "{gone:?}");
    for (kind, name) in [
        ("database", id.clone()),
        ("database", format!("{id}-base")),
        ("role", id.clone()),
    ] {
        assert!(!exists(kind, &name).await, "{kind} {name} is still there");
    }
    assert!(!secret_exists(&w, &secret_name).await);
}

#[tokio::test]
async fn the_janitor_sweeps_expired_backup_set_sandboxes_and_leaves_the_others() {
    let w = world().await;
    let (_, alice) = iam_user(&unique("alice-")).await;
    let short = create(&w, &alice, 1).await.unwrap().identifier;
    let long = create(&w, &alice, 8).await.unwrap().identifier;
    // A look-alike nobody marked: the janitor must not touch it.
    let lookalike = format!("{}sbx-{}", w.settings.prefix, unique("lookalike-"));
    connect(&pg_url())
        .await
        .batch_execute(&format!("CREATE DATABASE \"{lookalike}\""))
        .await
        .unwrap();

    // 90 minutes on (the function's clock: an event may only replay the past). Not more: the
    // janitor sees every sandbox on the shared stack, and other tests' live 2 h.
    let event = json!({"action": "sandbox_janitor"});
    let later = Utc::now() + Duration::minutes(90);
    let out: DeleteOutcome = serde_json::from_value(
        delete_temp::sandbox::dispatch(&w.delete, &w.settings, event, later)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(out.deleted.contains(&short), "{out:?}");
    assert!(out.not_due.contains(&long), "{out:?}");
    assert!(!exists("database", &short).await && !exists("role", &short).await);
    assert!(!secret_exists(&w, &format!("restore-drill/sandbox/{short}")).await);
    assert!(exists("database", &long).await && exists("database", &lookalike).await);

    let _ = on(&w, "sandbox_delete", &alice, &long).await.unwrap();
    connect(&pg_url())
        .await
        .batch_execute(&format!("DROP DATABASE \"{lookalike}\""))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_set_outside_the_configured_store_or_never_validated_is_no_sandbox() {
    let w = world().await;
    let (_, alice) = iam_user(&unique("alice-")).await;
    // The run report is data: one naming a set of another store is refused before anything.
    let runs = w._reports.path().join(&w.source).join("runs");
    let mut r: Value =
        serde_json::from_slice(&std::fs::read(runs.join("a.json")).unwrap()).unwrap();
    r["backup"]["id"] = "s3://elsewhere/backups/other/set".into();
    r["backup"]["taken_at"] = json!(Utc::now() - Duration::minutes(1));
    std::fs::write(runs.join("c.json"), serde_json::to_vec(&r).unwrap()).unwrap();
    let err = create(&w, &alice, 1).await.unwrap_err();
    assert_eq!(err.error_type(), "Drill.GuardViolation", "{err}");
    let listed: Vec<SandboxInfo> =
        serde_json::from_value(on(&w, "sandbox_list", &alice, "").await.unwrap()).unwrap();
    assert!(listed.is_empty(), "{listed:?}");

    // Without a passed run there is nothing to offer.
    for f in ["a.json", "c.json"] {
        std::fs::remove_file(runs.join(f)).unwrap();
    }
    let err = create(&w, &alice, 1).await.unwrap_err();
    assert!(err.message.contains("no validated backup"), "{err}");
}

/// What the sandbox's user can change (its own database) decides nothing: the janitor reads the
/// role's marker, the diff reads the sandbox as the role (an aggregate shadowing `count` through
/// the database's search_path runs as the role, not as the admin), and the role reaches no
/// drill temp database on the same server.
#[tokio::test]
async fn a_sandbox_user_can_neither_outlive_its_expiry_nor_run_code_as_the_admin_nor_read_a_drill_temp(
) {
    let w = world().await;
    let (_, alice) = iam_user(&unique("alice-")).await;
    let made = create(&w, &alice, 1).await.unwrap();
    let id = made.identifier.clone();
    let value =
        w.sm.get_secret_value()
            .secret_id(made.secret_arn.as_deref().unwrap())
            .send()
            .await
            .unwrap();
    let creds: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    let port = url::Url::parse(&pg_url()).unwrap().port().unwrap();
    let as_role = |db: &str| {
        format!(
            "postgresql://{id}:{}@127.0.0.1:{port}/{db}",
            creds["password"].as_str().unwrap()
        )
    };
    let sandbox = connect(&as_role(&id)).await;

    // A forged marker on its own database: ten days more, and someone else's.
    let forged = drill_core::sandboxdb::SandboxMarker {
        role: drill_core::sandboxdb::Role::Sandbox,
        database: id.clone(),
        owner: "arn:aws:iam::123456789012:user/someone-else".into(),
        source_id: w.source.clone(),
        expires_at: Utc::now() + Duration::days(10),
    };
    sandbox
        .batch_execute(&format!(
            "COMMENT ON DATABASE \"{id}\" IS '{}'",
            forged.comment().replace('\'', "''")
        ))
        .await
        .unwrap();
    // Its role's marker is out of its reach.
    let err = sandbox
        .batch_execute(&format!("COMMENT ON ROLE \"{id}\" IS 'mine now'"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("permission denied") || format!("{err:?}").contains("42501"),
        "{err:?}"
    );

    // Code of its user on the diff's path: `count` shadowed through the database's search_path.
    sandbox
        .batch_execute(&format!(
            "CREATE SCHEMA evil;
             CREATE FUNCTION evil.step(bigint) RETURNS bigint LANGUAGE plpgsql AS $$
               BEGIN
                 IF current_user <> '{id}' THEN RAISE EXCEPTION 'ran as %', current_user; END IF;
                 RETURN $1 + 1;
               END $$;
             CREATE AGGREGATE evil.count(*) (sfunc = evil.step, stype = bigint, initcond = '0');
             ALTER DATABASE \"{id}\" SET search_path = evil, pg_catalog;"
        ))
        .await
        .unwrap();
    drop(sandbox);
    let out: SandboxDiffOutcome =
        serde_json::from_value(on(&w, "sandbox_diff", &alice, &id).await.unwrap()).unwrap();
    assert_eq!(out.report.verdict, Verdict::NoChange, "{out:?}");
    // Still alice's: list and delete go by the role's marker.
    let listed: Vec<SandboxInfo> =
        serde_json::from_value(on(&w, "sandbox_list", &alice, "").await.unwrap()).unwrap();
    let mine = listed.iter().find(|s| s.identifier == id).expect("listed");
    assert!(
        mine.expires_at.unwrap() < Utc::now() + Duration::hours(2),
        "{mine:?}"
    );

    // A drill temp database on the same server is closed to the sandbox's role.
    let temp = format!("rdrill-{}", unique("t"));
    let admin = connect(&pg_url()).await;
    drill_engine::drill::create_temp(&admin, &temp, "drill-x")
        .await
        .unwrap();
    let reached = tokio_postgres::connect(&as_role(&temp), tokio_postgres::NoTls).await;
    assert!(
        reached.is_err(),
        "the sandbox role reached a drill temp database"
    );
    admin
        .batch_execute(&format!("DROP DATABASE \"{temp}\""))
        .await
        .unwrap();

    // The janitor 90 minutes on: the role's expiry (1 h) counts, not the forged ten days.
    let event = json!({"action": "sandbox_janitor"});
    let later = Utc::now() + Duration::minutes(90);
    let swept: DeleteOutcome = serde_json::from_value(
        delete_temp::sandbox::dispatch(&w.delete, &w.settings, event, later)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(swept.deleted.contains(&id), "{swept:?}");
    assert!(!exists("database", &id).await && !exists("role", &id).await);
}
