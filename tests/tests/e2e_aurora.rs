//! The Aurora path end to end in moto's executor with our real handlers: an `aurora-cluster`
//! source with a cluster snapshot is restored to a temp cluster, the wait loop creates its one
//! instance and turns on the cluster's managed secret, validate and export run through the
//! cluster endpoint, and delete-temp removes the instance, then the cluster. A failure after the
//! cluster exists (a failing check) still deletes both.
//!
//! moto's endpoints are names, not servers: the validate and export functions connect to the
//! stack's PostgreSQL through `DRILL_RDS_PG_OVERRIDE` (127.0.0.1 only, plaintext only with
//! `DRILL_ALLOW_PLAINTEXT`). This test's Lambda host plays RDS's part of a restore: the
//! cluster's master user exists in "the restored database" with the password of its managed
//! secret, created when that secret is first handed to a function.

use std::sync::{Arc, Mutex};

use drill_engine::lambda::HandlerError;
use drill_tests::e2e::{source_db, Drill, Options, PREFIX};
use drill_tests::lambda_host::{serve, Handlers, Invoke};
use drill_tests::{aws_config, connect, pg_url, unique, TestDb};
use serde_json::{json, Value};

/// The real handlers, after making the master user of every RDS-managed secret in the payload a
/// login of the stack's PostgreSQL (what the restored cluster's database would have).
struct RestoredMasterUser {
    real: Handlers,
    secrets: aws_sdk_secretsmanager::Client,
    /// The master users (and passwords) the functions were handed by their secrets.
    logins: Mutex<Vec<(String, String)>>,
}

impl RestoredMasterUser {
    async fn ensure_login(&self, secret_id: &str) -> Result<(), String> {
        let value = match self
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
        {
            Ok(v) => v,
            // The report steps carry the (deleted) temp's connection too: RDS deleted the secret
            // with the cluster, and nothing connects any more.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(())
            }
            Err(e) => return Err(format!("{e:?}")),
        };
        let creds: Value = serde_json::from_str(value.secret_string().unwrap_or("{}"))
            .map_err(|e| e.to_string())?;
        let (Some(user), Some(password)) = (creds["username"].as_str(), creds["password"].as_str())
        else {
            return Err(format!("secret {secret_id} has no username/password"));
        };
        self.logins
            .lock()
            .unwrap()
            .push((user.to_owned(), password.to_owned()));
        let admin = connect(&pg_url()).await;
        let exists = admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&user])
            .await
            .map_err(|e| e.to_string())?
            .is_some();
        if !exists {
            // Superuser: an RDS master user may read everything validation and export read.
            let sql = format!(
                "CREATE ROLE \"{}\" LOGIN SUPERUSER PASSWORD '{}'",
                user.replace('"', "\"\""),
                password.replace('\'', "''")
            );
            if let Err(e) = admin.batch_execute(&sql).await {
                // Two invocations at once: the other one made it.
                if e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_OBJECT) {
                    return Err(e.to_string());
                }
            }
        }
        Ok(())
    }
}

/// Every `secrets_manager.secret_id` of an RDS-managed secret (`rds!...`) in `v`.
fn rds_secrets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(id)) = map.get("secret_id") {
                if id.contains(":secret:rds!") {
                    out.push(id.clone());
                }
            }
            map.values().for_each(|v| rds_secrets(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| rds_secrets(v, out)),
        _ => {}
    }
}

impl Invoke for RestoredMasterUser {
    async fn invoke(&self, function_name: &str, payload: Value) -> Result<Value, HandlerError> {
        let mut secrets = Vec::new();
        rds_secrets(&payload, &mut secrets);
        for id in secrets {
            if let Err(e) = self.ensure_login(&id).await {
                panic!("test host: the restored master user of {id}: {e}");
            }
        }
        self.real.invoke(function_name, payload).await
    }
}

/// A production Aurora PostgreSQL cluster (deletion protection on, managed master password)
/// with one manual snapshot; returns (cluster, master username).
async fn prod_cluster(rds: &aws_sdk_rds::Client) -> (String, String) {
    let id = unique("aur-prod-");
    // Master usernames are letters and digits, starting with a letter.
    let user = unique("drill").replace('-', "");
    rds.create_db_cluster()
        .db_cluster_identifier(&id)
        .engine("aurora-postgresql")
        .engine_version("16.4")
        .master_username(&user)
        .manage_master_user_password(true)
        .backup_retention_period(7)
        .deletion_protection(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create cluster {id}: {e:?}"));
    rds.create_db_cluster_snapshot()
        .db_cluster_identifier(&id)
        .db_cluster_snapshot_identifier(format!("{id}-manual"))
        .send()
        .await
        .unwrap();
    (id, user)
}

/// The drill's clusters and instances of `prod` still known to RDS (any status but gone).
async fn temps_of(rds: &aws_sdk_rds::Client, prod: &str) -> (Vec<String>, Vec<String>) {
    let clusters = rds.describe_db_clusters().send().await.unwrap();
    let clusters: Vec<String> = clusters
        .db_clusters()
        .iter()
        .filter_map(|c| c.db_cluster_identifier())
        .filter(|id| id.starts_with(PREFIX) && id.contains(prod))
        .map(str::to_owned)
        .collect();
    let instances = rds.describe_db_instances().send().await.unwrap();
    let instances: Vec<String> = instances
        .db_instances()
        .iter()
        .filter(|i| {
            i.db_cluster_identifier()
                .is_some_and(|c| c.starts_with(PREFIX) && c.contains(prod))
        })
        .filter_map(|i| i.db_instance_identifier().map(str::to_owned))
        .collect();
    (clusters, instances)
}

struct Aurora {
    rds: aws_sdk_rds::Client,
    drill: Drill,
    prod: String,
    user: String,
    db: TestDb,
    host: Arc<RestoredMasterUser>,
}

/// A production cluster, a deployment for it whose validate and export functions reach the
/// stack's PostgreSQL, and the database "inside" the restored cluster.
async fn aurora_drill() -> Aurora {
    let config = aws_config().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let net = drill_tests::rds::network(&rds).await;
    let (prod, user) = prod_cluster(&rds).await;
    let port = url::Url::parse(&pg_url()).unwrap().port().unwrap();
    let reach = format!("127.0.0.1:{port}");
    let drill = Drill::deploy(Options {
        env: vec![
            ("restore", "DRILL_SUBNET_GROUP", net.subnet_group.clone()),
            ("restore", "DRILL_SECURITY_GROUPS", net.security_group),
            ("restore", "DRILL_SOURCES", prod.clone()),
            ("delete-temp", "DRILL_SOURCES", prod.clone()),
            ("validate", "DRILL_RDS_PG_OVERRIDE", reach.clone()),
            ("export", "DRILL_RDS_PG_OVERRIDE", reach),
        ],
        backups_url: None,
        wait_seconds: 1,
    })
    .await;
    let host = Arc::new(RestoredMasterUser {
        real: Handlers::with_config(drill.config.clone()),
        secrets: aws_sdk_secretsmanager::Client::new(&drill.config),
        logins: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, host.clone()));
    drill.forward("validate", &url).await;
    drill.forward("export", &url).await;
    Aurora {
        rds,
        drill,
        prod,
        user,
        db: source_db().await,
        host,
    }
}

impl Aurora {
    fn source(&self, id: &str, checks: Option<&str>) -> Value {
        json!({
            "id": id,
            "checks": checks,
            "source": {
                "kind": "aurora-cluster",
                "cluster_identifier": self.prod,
                "snapshot": {"pick": "newest-manual"},
                "database": self.db.name,
            }
        })
    }

    /// Production is untouched, and no temp cluster or instance of this drill is left.
    async fn assert_nothing_left(&self, report: &Value) {
        let (clusters, instances) = temps_of(&self.rds, &self.prod).await;
        assert!(clusters.is_empty(), "temp clusters left: {clusters:?}");
        assert!(instances.is_empty(), "temp instances left: {instances:?}");
        let prod = drill_engine::rds::describe_cluster(&self.rds, &self.prod)
            .await
            .unwrap()
            .expect("production cluster survives");
        assert_eq!(prod.status(), Some("available"));
        // Cleanup deleted the instance, then the cluster: both named, in that order.
        let cluster = report["temp"]["identifier"].as_str().unwrap();
        let instance = report["temp"]["instance"].as_str().unwrap();
        assert!(cluster.starts_with(PREFIX) && instance.starts_with(PREFIX));
        assert_eq!(
            report["cleanup"]["deleted"],
            json!([instance, cluster]),
            "{report:#}"
        );
    }

    async fn drop_login(&self) {
        let admin = connect(&pg_url()).await;
        let _ = admin
            .batch_execute(&format!("DROP ROLE IF EXISTS \"{}\"", self.user))
            .await;
    }
}

#[tokio::test]
async fn an_aurora_cluster_snapshot_is_restored_validated_exported_and_deleted() {
    let a = aurora_drill().await;
    let mut source = a.source("prod-aurora", None);
    // The nightly copy of the newest automated cluster snapshot, to another region, shared.
    source["snapshot_copy"] =
        json!({"region": "eu-west-1", "share_with": ["210987654321"], "keep_newest": 1});
    let (status, exec) = a.drill.run(vec![source]).await;
    let report = a.drill.report("prod-aurora", &exec).await;
    assert_eq!(status, "SUCCEEDED", "{report:#}");
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["failed_step"], Value::Null);
    assert!(report["snapshot_copy_failure"].is_null(), "{report:#}");
    let copy = &report["snapshot_copy"]["copy"];
    let copy_id = copy["copy"]
        .as_str()
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(copy_id.starts_with(PREFIX), "{copy_id}");
    assert_eq!(copy["region"], "eu-west-1");
    assert_eq!(copy["shared"], json!([copy_id]));
    assert!(
        copy["source_snapshot"]
            .as_str()
            .is_some_and(|s| s.contains(&format!(":cluster-snapshot:rds:{}-", a.prod))),
        "{report:#}"
    );
    let away = drill_engine::rds::client_in_region(&a.rds, "eu-west-1");
    let there = away
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(copy_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        there.db_cluster_snapshots()[0].db_cluster_identifier(),
        Some(a.prod.as_str())
    );
    assert!(
        report["snapshot_copy"]["expiry"]["expired"].is_array(),
        "{report:#}"
    );
    assert_eq!(report["backup"]["kind"], "rds-snapshot", "{report:#}");
    assert!(
        report["backup"]["id"]
            .as_str()
            .unwrap()
            .contains(&format!("{}-manual", a.prod)),
        "{report:#}"
    );
    // Validated through the cluster endpoint: the source's 3500 rows.
    assert_eq!(report["validation"]["passed"], true, "{report:#}");
    assert_eq!(report["validation"]["rows"], 3500, "{report:#}");
    // The validated restore was exported under the source's prefix, with its manifest.
    assert_eq!(report["export"]["rows"], 3500, "{report:#}");
    let keys = a.drill.keys("backups/prod-aurora/").await;
    assert_eq!(
        keys.iter().filter(|k| k.ends_with("manifest.json")).count(),
        1,
        "{keys:?}"
    );
    a.assert_nothing_left(&report).await;
    // The functions logged in as the cluster's master user, from its managed secret (moto fix
    // fix_rds_managed_secret_username: moto's secret said "admin" whatever the master user).
    let logins = a.host.logins.lock().unwrap().clone();
    assert!(
        !logins.is_empty(),
        "no function was handed the cluster's secret"
    );
    assert!(
        logins.iter().all(|(u, _)| *u == a.user),
        "{} expected",
        a.user
    );
    // No credential in the report.
    let text = report.to_string();
    assert!(
        logins.iter().all(|(_, p)| !text.contains(p.as_str())),
        "the report leaks the password"
    );
    a.drop_login().await;
}

#[tokio::test]
async fn a_failed_check_after_the_cluster_exists_still_deletes_instance_and_cluster() {
    let a = aurora_drill().await;
    let checks = r#"
[[sql]]
name = "enough students"
query = "SELECT count(*) FROM students"
expect = { at_least = 1000000 }
"#;
    let (status, exec) = a
        .drill
        .run(vec![a.source("prod-aurora-bad", Some(checks))])
        .await;
    let report = a.drill.report("prod-aurora-bad", &exec).await;
    assert_eq!(status, "FAILED", "{report:#}");
    assert_eq!(report["passed"], false);
    assert_eq!(report["failed_step"], "validate", "{report:#}");
    assert_eq!(
        report["failure"]["error"], "Drill.BackupInvalid",
        "{report:#}"
    );
    // Validation reached the database (the check failed, not the connection), and nothing was
    // exported from a restore that did not pass.
    let cause = report["failure"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("enough students"), "{report:#}");
    assert!(
        a.drill.keys("backups/prod-aurora-bad/").await.is_empty(),
        "an invalid restore is never exported"
    );
    a.assert_nothing_left(&report).await;
    a.drop_login().await;
}
