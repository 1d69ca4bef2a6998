//! `drill run --config`: the local drill of a real database, twice, with a data loss between
//! the nights; exit codes, the report, the HTML history and the dropped temp databases.

use drill_tests::cli::{drill, text};

fn config(store: &str, var: &str) -> String {
    format!(
        r#"
source_id = "shop"
store = "{store}"
jobs = 2

[source]
host = "127.0.0.1"
port = 5432
database = "ignored-the-secret-decides"
secret = {{ env = {{ var = "{var}" }} }}
tls = "disable"

[checks]
exclude_schemas = []
[checks.row_counts]
max_drop_percent = 20.0
[[checks.freshness.tables]]
table = "public.orders"
column = "created_at"
max_lag_seconds = 3600
[[checks.sql]]
name = "orders_have_totals"
query = "SELECT count(*) FROM orders WHERE total IS NULL"
expect = {{ equals = 0 }}
"#
    )
}

#[tokio::test]
async fn run_passes_then_flags_the_deleted_orders_and_drops_its_temp_databases() {
    let db = drill_tests::TestDb::create("runcfg").await;
    let client = drill_tests::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE TABLE orders (id int PRIMARY KEY, total numeric NOT NULL, \
                                  created_at timestamptz NOT NULL DEFAULT now()); \
             INSERT INTO orders (id, total) SELECT i, i * 1.5 FROM generate_series(1, 5000) i",
        )
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store = format!("file://{}/store", tmp.path().display());
    // User and password come from the secret (a URL in an environment variable, like the
    // Lambdas' `env` secret reference); host, port and database from [source].
    let (host_port, _) = db.url.split_once('@').unwrap().1.split_once('/').unwrap();
    let (_, port) = host_port.split_once(':').unwrap();
    let text_cfg = config(&store, "DRILL_RUN_TEST_SOURCE")
        .replace("port = 5432", &format!("port = {port}"))
        .replace("ignored-the-secret-decides", &db.name);
    let path = tmp.path().join("drill.toml");
    std::fs::write(&path, text_cfg).unwrap();
    let html = tmp.path().join("report.html");

    let run = |label: &str| {
        drill()
            .args(["run", "--json", "--label", label, "--html"])
            .arg(&html)
            .arg("--config")
            .arg(&path)
            .env("DRILL_RUN_TEST_SOURCE", &db.url)
            .output()
            .unwrap()
    };
    let out = run("monday");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let first: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(first["report"]["passed"], true);
    assert_eq!(first["rows"], 5000);
    assert_eq!(first["label"], "monday");
    assert!(first["temp_database"]
        .as_str()
        .unwrap()
        .starts_with("rdrill-shop-"));

    client
        .batch_execute("DELETE FROM orders WHERE id > 1000")
        .await
        .unwrap();
    let out = run("tuesday");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let second: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rc = second["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "row_counts")
        .unwrap()
        .clone();
    assert_eq!(rc["status"], "fail");
    assert!(
        rc["details"]
            .to_string()
            .contains("public.orders: 5000 -> 1000 rows"),
        "{rc}"
    );
    // The password of the source never reaches the output or the history.
    let password = db
        .url
        .split("://")
        .nth(1)
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    let password = password.split_once(':').unwrap().1;
    assert!(!stdout.contains(password) && !stderr.contains(password));

    // Both temp databases are gone; the source is untouched.
    for r in [&first, &second] {
        let name = r["temp_database"].as_str().unwrap();
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{name} left behind");
    }
    let left: i64 = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1000);

    // The HTML history charts both runs.
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<circle class=\"point\"").count(), 6);
    assert!(
        page.contains("data-night=\"tuesday\" data-value=\"1000\""),
        "rows not charted"
    );
}
