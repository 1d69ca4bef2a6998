//! One deployment of the drill in moto for the end-to-end tests (`e2e_statemachine`): bucket,
//! secret, topic, the four functions served by lambda-host, and the real state machine
//! definition, rendered as Terraform renders it.

use std::time::Duration;

use drill_engine::dump::{self, Database, ExportOptions};
use drill_engine::store::Store;
use serde_json::{json, Value};

use crate::infra::{render_asl, sample_template_vars};
use crate::wait;
use crate::{aws_config, connect, lambda_role, pg_url, s3, unique, TestDb};

pub const PREFIX: &str = "rdrill-";

/// One deployment of the drill in moto: bucket, secret, topic, four functions, state machine.
pub struct Drill {
    pub config: aws_config::SdkConfig,
    pub topic: String,
    pub name: String,
    pub bucket: String,
    pub state_machine: String,
    pub server: Value,
    pub backups_url: String,
}

pub struct Options {
    /// Environment overrides per function suffix.
    pub env: Vec<(&'static str, &'static str, String)>,
    /// Override of the backups URL the export step writes to.
    pub backups_url: Option<String>,
    /// Seconds the wait loop waits before each status call.
    pub wait_seconds: u32,
}

impl Drill {
    pub async fn deploy(options: Options) -> Drill {
        let config = aws_config().await;
        let name = unique("e2e-");
        let bucket = format!("{name}-backups");
        let s3 = s3(&config);
        s3.create_bucket()
            .bucket(&bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .unwrap();

        // The restore server's credentials live in Secrets Manager, like RDS-managed secrets.
        let server = crate::restore_server(&config, &name).await;

        let sns = aws_sdk_sns::Client::new(&config);
        let topic = sns
            .create_topic()
            .name(format!("{name}-alerts"))
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_owned();

        let backups_url = options
            .backups_url
            .clone()
            .unwrap_or_else(|| format!("s3://{bucket}/backups"));
        let role = lambda_role(&config).await;
        let mut arns = std::collections::HashMap::new();
        for f in ["restore", "validate", "export", "delete-temp"] {
            let mut vars: std::collections::HashMap<String, String> = [
                ("DRILL_PREFIX", PREFIX.to_owned()),
                ("DRILL_STACK", name.clone()),
                ("DRILL_REPORTS_URL", format!("s3://{bucket}/reports")),
                ("DRILL_ALERT_TOPIC_ARN", topic.clone()),
                ("DRILL_TEMP_TTL_HOURS", "12".to_owned()),
                (
                    "DRILL_CONFIG_URL",
                    format!("s3://{bucket}/config/drill.json"),
                ),
                // The throwaway cluster has no TLS; in AWS plaintext is refused.
                ("DRILL_ALLOW_PLAINTEXT", "true".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            for (suffix, k, v) in &options.env {
                if *suffix == f {
                    vars.insert((*k).to_owned(), v.clone());
                }
            }
            let arn = crate::create_function(&config, &format!("{name}-{f}"), vars).await;
            arns.insert(f, arn);
        }

        let mut vars = sample_template_vars();
        vars.insert("restore_function_arn", arns["restore"].clone());
        vars.insert("validate_function_arn", arns["validate"].clone());
        vars.insert("report_function_arn", arns["validate"].clone());
        vars.insert("export_function_arn", arns["export"].clone());
        vars.insert("delete_temp_function_arn", arns["delete-temp"].clone());
        vars.insert("wait_seconds", options.wait_seconds.to_string());
        vars.insert("restore_budget_seconds", "120".into());
        vars.insert("map_results_bucket", bucket.clone());
        let sfn = aws_sdk_sfn::Client::new(&config);
        let state_machine = sfn
            .create_state_machine()
            .name(name.clone())
            .role_arn(&role)
            .definition(render_asl(&vars))
            .send()
            .await
            .unwrap()
            .state_machine_arn()
            .to_owned();
        Drill {
            config,
            topic,
            name,
            bucket,
            state_machine,
            server,
            backups_url,
        }
    }

    /// Sends this deployment's `function` invocations to a test's own Lambda host at `url`
    /// (moto_server.py forwards by the `drill:local-invoke-url` tag).
    pub async fn forward(&self, function: &str, url: &str) {
        let lambda = aws_sdk_lambda::Client::new(&self.config);
        let arn = lambda
            .get_function()
            .function_name(format!("{}-{function}", self.name))
            .send()
            .await
            .unwrap()
            .configuration()
            .and_then(|c| c.function_arn())
            .unwrap()
            .to_owned();
        lambda
            .tag_resource()
            .resource(arn)
            .tags("drill:local-invoke-url", url)
            .send()
            .await
            .unwrap();
    }

    /// Writes the deployment configuration with these sources, as Terraform does.
    pub async fn configure(&self, sources: &[Value]) {
        let doc = json!({
            "temp_prefix": PREFIX,
            "backups_url": self.backups_url,
            "object_lock_days": 1,
            "copy_accounts": ["210987654321"],
            "copy_regions": ["eu-west-1"],
            "sources": sources,
        });
        s3(&self.config)
            .put_object()
            .bucket(&self.bucket)
            .key("config/drill.json")
            .body(serde_json::to_vec(&doc).unwrap().into())
            .send()
            .await
            .unwrap();
    }

    /// Subscribes a local HTTP endpoint to the alert topic; returns what it receives.
    pub async fn subscribe_alerts(&self) -> crate::Received {
        let (url, received) = crate::http_sink().await;
        aws_sdk_sns::Client::new(&self.config)
            .subscribe()
            .topic_arn(&self.topic)
            .protocol("http")
            .endpoint(url)
            .send()
            .await
            .unwrap();
        received
    }

    /// Exports `db` as last night's backup set of `source`.
    pub async fn seed_backup(&self, source: &str, db: &TestDb) {
        let s3 = drill_engine::aws::s3_client(&self.config);
        let store =
            Store::open(&format!("s3://{}/backups/{source}", self.bucket), Some(&s3)).unwrap();
        let options = ExportOptions {
            source_label: Some(source.to_owned()),
            ..Default::default()
        };
        dump::export(&Database::from_url(&db.url).unwrap(), &store, &options)
            .await
            .unwrap();
    }

    /// A backup-set source `id` restoring the sets that source `store_source` exported.
    pub fn backup_set_source(&self, id: &str, store_source: &str, checks: Option<&str>) -> Value {
        json!({
            "id": id,
            "checks": checks,
            "source": {
                "kind": "backup-set",
                "store": format!("s3://{}/backups/{store_source}", self.bucket),
                "server": self.server,
            }
        })
    }

    /// Configures these sources and runs the nightly form (`{}`: every configured source) to its
    /// end; returns (status, execution name).
    pub async fn run(&self, sources: Vec<Value>) -> (String, String) {
        self.configure(&sources).await;
        let (status, name, _) = self.run_input(json!({})).await;
        (status, name)
    }

    /// Runs one execution with this input to its end; returns (status, name, error and cause).
    pub async fn run_input(&self, input: Value) -> (String, String, String) {
        let sfn = aws_sdk_sfn::Client::new(&self.config);
        let exec_name = unique("night-");
        let arn = sfn
            .start_execution()
            .state_machine_arn(&self.state_machine)
            .name(&exec_name)
            .input(input.to_string())
            .send()
            .await
            .unwrap()
            .execution_arn()
            .to_owned();
        let d = wait::execution_end(&sfn, &arn, Duration::from_secs(240)).await;
        let status = d.status().as_str().to_owned();
        let why = format!("{} {}", d.error().unwrap_or(""), d.cause().unwrap_or(""));
        (status, exec_name, why)
    }

    pub async fn report(&self, source: &str, exec_name: &str) -> Value {
        let s3 = s3(&self.config);
        let key = format!("reports/{source}/runs/{exec_name}-{source}.json");
        let body = s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("no report at {key}: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        serde_json::from_slice(&body).unwrap()
    }

    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let out = s3(&self.config)
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

/// Temp databases on the restore server that belong to `exec_name`'s drills.
pub async fn temp_databases(exec_name: &str) -> Vec<String> {
    let admin = connect(&pg_url()).await;
    admin
        .query(
            "SELECT datname::text FROM pg_database \
             WHERE shobj_description(oid, 'pg_database') LIKE '%' || $1 || '%'",
            &[&exec_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

pub async fn source_db() -> TestDb {
    let db = TestDb::create("e2e_src_").await;
    let c = connect(&db.url).await;
    c.batch_execute(
        "CREATE TABLE students (id int PRIMARY KEY, name text NOT NULL, joined timestamptz NOT NULL DEFAULT now());
         CREATE TABLE submissions (id bigserial PRIMARY KEY, student int REFERENCES students, score numeric, body jsonb);
         INSERT INTO students SELECT g, 'student ' || g, now() - g * interval '1 minute' FROM generate_series(1, 500) g;
         INSERT INTO submissions (student, score, body)
           SELECT 1 + g % 500, g % 100, jsonb_build_object('answer', g) FROM generate_series(1, 3000) g;",
    )
    .await
    .unwrap();
    db
}

/// A production instance in moto (deletion protection on) and a drill deployment for it.
pub async fn rds_drill(wait_seconds: u32) -> (aws_sdk_rds::Client, String, Drill) {
    let rds = aws_sdk_rds::Client::new(&aws_config().await);
    let net = crate::rds::network(&rds).await;
    let prod = unique("prod-");
    crate::rds::create_instance(&rds, &prod, true, vec![]).await;
    let drill = Drill::deploy(Options {
        env: vec![
            ("restore", "DRILL_SUBNET_GROUP", net.subnet_group.clone()),
            (
                "restore",
                "DRILL_SECURITY_GROUPS",
                net.security_group.clone(),
            ),
            ("restore", "DRILL_SOURCES", prod.clone()),
            ("delete-temp", "DRILL_SOURCES", prod.clone()),
        ],
        backups_url: None,
        wait_seconds,
    })
    .await;
    (rds, prod, drill)
}

pub fn defaults() -> Options {
    Options {
        env: Vec::new(),
        backups_url: None,
        wait_seconds: 1,
    }
}
