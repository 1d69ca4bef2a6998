//! The validation engine against the shared throwaway cluster: a passing and a failing case for
//! every check, the night-over-night baseline, and the `validate` Lambda.

use chrono::{Duration as ChronoDuration, Utc};
use drill_core::checks::{CheckConfig, CheckResult, Outcome, Status};
use drill_core::events::BackupRef;
use drill_engine::pg::Database;
use drill_engine::store::Store;
use drill_engine::validate::{fingerprint, validate, ValidateInput, Validated};
use drill_tests::{connect, TestDb};

const SCHEMA: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text);
    CREATE INDEX customers_email_idx ON customers (email);
    CREATE TABLE orders (
        id bigserial PRIMARY KEY,
        customer_id int NOT NULL REFERENCES customers (id),
        created_at timestamptz NOT NULL,
        note text
    );
    INSERT INTO customers SELECT g, 'c' || g, 'c' || g || '@example.com' FROM generate_series(1, 100) g;
    -- Newest order 10 minutes old; one long note goes to TOAST.
    INSERT INTO orders (customer_id, created_at, note)
        SELECT 1 + g % 100, now() - make_interval(mins => 10 + g), NULL FROM generate_series(1, 500) g;
    UPDATE orders SET note = repeat(md5(id::text), 500) WHERE id = 1;
";

async fn app_db() -> TestDb {
    let db = TestDb::create("vchk_").await;
    connect(&db.url).await.batch_execute(SCHEMA).await.unwrap();
    db
}

fn input(config: CheckConfig) -> ValidateInput {
    ValidateInput {
        source_id: "app".into(),
        drill_id: drill_tests::unique("d-"),
        drill_started_at: Utc::now(),
        backup: Some(BackupRef {
            kind: drill_core::events::BackupKind::Cli,
            id: "b1".into(),
            taken_at: Utc::now(),
        }),
        config,
        manifest: None,
        history: None,
    }
}

fn config(toml: &str) -> CheckConfig {
    CheckConfig::from_toml(toml).unwrap()
}

fn check<'a>(v: &'a Validated, name: &str) -> &'a CheckResult {
    v.report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {:#?}", v.report.checks))
}

fn history() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("file://{}", dir.path().display()), None).unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_healthy_restore_passes_every_check_against_its_manifest() {
    let db = app_db().await;
    let expected = fingerprint(&connect(&db.url).await).await.unwrap();
    assert_eq!(expected.table("public", "orders").unwrap().rows, Some(500));
    let mut inp = input(config(
        r#"
        [freshness]
        max_lag_seconds = 3600
        tables = [{ table = "public.orders", column = "created_at" }]
        [[sql]]
        name = "customers"
        query = "SELECT count(*) FROM customers"
        expect = { equals = 100 }
        [[sql]]
        name = "has_orders"
        query = "SELECT 1 FROM orders LIMIT 1"
        expect = "non_empty"
        "#,
    ));
    inp.manifest = Some(expected);
    let v = validate(&Database::from_url(&db.url).unwrap(), inp)
        .await
        .unwrap();
    let r = &v.report;
    for c in &r.checks {
        assert_eq!(c.status, Status::Pass, "{c:#?}");
    }
    assert_eq!(
        r.checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        [
            "connect",
            "schema",
            "row_counts",
            "freshness:public.orders",
            "integrity",
            "full_read",
            "sql:customers",
            "sql:has_orders"
        ]
    );
    assert!(r.passed && r.outcome == Outcome::Pass);
    assert_eq!(r.total_rows(), 600);
    // The TOASTed note was read: more bytes than the plain rows could hold.
    let orders = r
        .tables
        .iter()
        .find(|t| t.table == "public.orders")
        .unwrap();
    assert!(orders.bytes > 16_000, "{orders:?}");
    assert!(
        check(&v, "integrity").measured.contains("3 B-tree indexes"),
        "{:?}",
        check(&v, "integrity")
    );
    // Newest order is ~10 minutes old: RPO measured from it.
    let rpo = r.rpo_seconds.unwrap();
    assert!((600..1200).contains(&rpo), "{rpo}");
    // The report never contains the password of the target URL.
    let json = serde_json::to_string(r).unwrap();
    let password = db.url.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(!json.contains(password));
}

#[tokio::test]
async fn row_counts_must_match_the_manifest_exactly() {
    let db = app_db().await;
    let client = connect(&db.url).await;
    let expected = fingerprint(&client).await.unwrap();
    client
        .batch_execute("DELETE FROM orders WHERE id = 7")
        .await
        .unwrap();
    let mut inp = input(config("[integrity]\nenabled = false"));
    inp.manifest = Some(expected);
    let v = validate(&Database::from_url(&db.url).unwrap(), inp)
        .await
        .unwrap();
    let rc = check(&v, "row_counts");
    assert_eq!(rc.status, Status::Fail, "{rc:#?}");
    assert!(rc
        .details
        .contains(&"public.orders: 499 rows, manifest has 500".to_owned()));
    assert_eq!(v.report.outcome, Outcome::BackupInvalid);
    assert!(!v.report.passed);
}

#[tokio::test]
async fn a_truncated_table_is_data_loss_against_the_last_good_drill() {
    let db = app_db().await;
    let (_dir, store) = history();
    let target = Database::from_url(&db.url).unwrap();
    let cfg = || config("[integrity]\nenabled = false");

    let mut first = input(cfg());
    first.history = Some(store.clone());
    let good = validate(&target, first).await.unwrap();
    assert!(good.report.passed, "{}", good.report.render_table());
    let good_url = good.report_url.clone().unwrap();
    assert!(good_url.ends_with(".pass.json"), "{good_url}");
    // First drill of the source: nothing to compare the schema with.
    assert_eq!(check(&good, "schema").status, Status::Skipped);

    connect(&db.url)
        .await
        .batch_execute("TRUNCATE orders")
        .await
        .unwrap();
    for _ in 0..2 {
        let mut next = input(cfg());
        next.history = Some(store.clone());
        let bad = validate(&target, next).await.unwrap();
        let rc = check(&bad, "row_counts");
        assert_eq!(rc.status, Status::Fail, "{rc:#?}");
        assert!(
            rc.measured.contains("data loss suspected"),
            "{}",
            rc.measured
        );
        assert!(
            rc.details
                .iter()
                .any(|d| d.starts_with("public.orders: 500 -> 0 rows (-100.0%")),
            "{:?}",
            rc.details
        );
        assert_eq!(bad.report.outcome, Outcome::BackupInvalid);
        // A failed drill never becomes the baseline: the second bad run still compares with
        // the good one.
        assert_eq!(
            bad.report.baseline_report.as_deref(),
            Some(good_url.as_str())
        );
        assert!(bad.report_url.unwrap().ends_with(".fail.json"));
    }
    assert_eq!(store.list("reports/").await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_dropped_index_fails_schema_naming_it() {
    let db = app_db().await;
    let client = connect(&db.url).await;
    let mut inp = input(config("[integrity]\nenabled = false"));
    inp.manifest = Some(fingerprint(&client).await.unwrap());
    let target = Database::from_url(&db.url).unwrap();
    let same = validate(&target, inp.clone()).await.unwrap();
    assert_eq!(check(&same, "schema").status, Status::Pass);

    client
        .batch_execute("DROP INDEX customers_email_idx")
        .await
        .unwrap();
    let v = validate(&target, inp).await.unwrap();
    let s = check(&v, "schema");
    assert_eq!(s.status, Status::Fail);
    assert_eq!(
        s.details,
        ["index public.customers_email_idx on public.customers is missing (CREATE INDEX customers_email_idx ON public.customers USING btree (email))"]
    );
    assert!(!v.report.passed);
}

#[tokio::test]
async fn rows_older_than_the_rpo_fail_freshness_with_the_lag() {
    let db = app_db().await;
    let cfg = r#"
        [integrity]
        enabled = false
        [freshness]
        max_lag_seconds = 3600
        tables = [{ table = "orders", column = "created_at" }]
    "#;
    let target = Database::from_url(&db.url).unwrap();
    let mut inp = input(config(cfg));
    // Backup taken 2 days after the newest order.
    inp.backup.as_mut().unwrap().taken_at = Utc::now() + ChronoDuration::days(2);
    let v = validate(&target, inp).await.unwrap();
    let f = check(&v, "freshness:orders");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(f.measured.contains("(lag 2d0h)"), "{}", f.measured);
    assert_eq!(v.report.outcome, Outcome::BackupInvalid);

    // An empty table has no newest row: fail, not pass.
    connect(&db.url)
        .await
        .batch_execute("DELETE FROM orders")
        .await
        .unwrap();
    let v = validate(&target, input(config(cfg))).await.unwrap();
    let f = check(&v, "freshness:orders");
    assert_eq!(
        (f.status, f.measured.as_str()),
        (Status::Fail, "no rows (max is NULL)")
    );

    // A column that does not exist is an error of the check, not a verdict on the backup.
    let bad_col = cfg.replace("created_at", "createdat");
    let v = validate(&target, input(config(&bad_col))).await.unwrap();
    assert_eq!(check(&v, "freshness:orders").status, Status::Error);
    assert_eq!(v.report.outcome, Outcome::CouldNotRun);
}

#[tokio::test]
async fn sql_assertions_pass_fail_error_and_time_out() {
    let db = app_db().await;
    let cfg = config(
        r#"
        [integrity]
        enabled = false
        [[sql]]
        name = "true"
        query = "SELECT count(*) = 100 FROM customers"
        expect = "true"
        [[sql]]
        name = "at_least"
        query = "SELECT count(*) FROM orders"
        expect = { at_least = 500 }
        [[sql]]
        name = "false"
        query = "SELECT count(*) FROM orders"
        expect = { at_most = 10 }
        [[sql]]
        name = "broken"
        query = "SELECT count(*) FROM no_such_table"
        expect = { equals = 0 }
        [[sql]]
        name = "slow"
        query = "SELECT pg_sleep(5)"
        expect = "non_empty"
        timeout_seconds = 1
        [[sql]]
        name = "writes"
        query = "DELETE FROM orders RETURNING id"
        expect = "non_empty"
        "#,
    );
    let started = std::time::Instant::now();
    let v = validate(&Database::from_url(&db.url).unwrap(), input(cfg))
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let st = |n: &str| check(&v, n).status;
    assert_eq!(st("sql:true"), Status::Pass);
    assert_eq!(st("sql:at_least"), Status::Pass);
    assert_eq!(st("sql:false"), Status::Fail);
    assert_eq!(check(&v, "sql:false").measured, "500");
    assert_eq!(st("sql:broken"), Status::Error);
    assert!(check(&v, "sql:broken").measured.contains("does not exist"));
    assert_eq!(st("sql:slow"), Status::Error);
    assert!(
        check(&v, "sql:slow")
            .measured
            .contains("timed out after 1s"),
        "{:?}",
        check(&v, "sql:slow")
    );
    // Assertions run read-only: the restore that gets exported next is never changed.
    assert_eq!(st("sql:writes"), Status::Error);
    assert!(check(&v, "sql:writes").measured.contains("read-only"));
    let n = connect(&db.url)
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(n, 500);
    // One failure among errors: the backup is invalid, and the report does not pass.
    assert_eq!(v.report.outcome, Outcome::BackupInvalid);
    assert!(!v.report.passed);
}

#[tokio::test]
async fn an_unreachable_server_is_could_not_run_and_the_report_is_kept() {
    let port = drill_engine::localpg::free_port().unwrap();
    let (_dir, store) = history();
    let mut inp = input(config(""));
    inp.history = Some(store.clone());
    let url = format!("postgres://postgres:pw@127.0.0.1:{port}/app");
    let v = validate(&Database::from_url(&url).unwrap(), inp)
        .await
        .unwrap();
    let c = check(&v, "connect");
    assert_eq!(c.status, Status::Error);
    assert!(
        c.measured.contains(&format!("127.0.0.1:{port}/app")),
        "{}",
        c.measured
    );
    assert!(v.report.checks[1..]
        .iter()
        .all(|c| c.status == Status::Skipped));
    assert_eq!(v.report.outcome, Outcome::CouldNotRun);
    assert!(!v.report.passed);
    let keys = store.list("reports/").await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].ends_with(".error.json"), "{keys:?}");
}

mod lambda {
    use super::*;
    use serde_json::json;

    /// A drill of the backup-set source `app-logical`: its temp database (named from the drill)
    /// holds SCHEMA, exported as the set the drill restored so that its manifest matches; the
    /// source is configured with `checks`. Returns the event and the temp database's name.
    async fn drill_of(
        store_dir: &std::path::Path,
        var: &str,
        checks: &str,
    ) -> (serde_json::Value, String) {
        let drill_id = drill_tests::unique("l-");
        let started_at = Utc::now() - ChronoDuration::minutes(30);
        let name =
            drill_core::tempdb::temp_database_name("rdrill-", "app-logical", &drill_id, started_at)
                .unwrap();
        connect(&drill_tests::pg_url())
            .await
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let url = drill_tests::with_database(&drill_tests::pg_url(), &name);
        connect(&url).await.batch_execute(SCHEMA).await.unwrap();
        let store_url = format!("file://{}/app", store_dir.display());
        let store = Store::open(&store_url, None).unwrap();
        let exported = drill_engine::dump::export(
            &drill_engine::dump::Database::from_url(&url).unwrap(),
            &store,
            &drill_engine::dump::ExportOptions {
                source_label: Some("app".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let set = exported.summary().backup_set;
        let pg = url::Url::parse(&drill_tests::pg_url()).unwrap();
        let server = json!({"host": pg.host_str().unwrap(), "port": pg.port().unwrap(), "database": "postgres",
                            "secret": {"env": {"var": var}}, "tls": "disable"});
        drill_tests::deployment::configure_source(
            "app-logical",
            json!({"kind": "backup-set", "store": store_url, "server": server}),
            (!checks.is_empty()).then_some(checks),
            None,
        );
        let mut target = server.clone();
        target["database"] = name.clone().into();
        let event = json!({
            "drill": {"drill_id": drill_id, "source_id": "app-logical", "started_at": started_at.to_rfc3339()},
            "target": target,
            "backup": {"kind": "backup-set", "id": set, "taken_at": Utc::now().to_rfc3339()},
        });
        (event, name)
    }

    async fn drop_db(name: &str) {
        let _ = connect(&drill_tests::pg_url())
            .await
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }

    #[tokio::test]
    async fn returns_the_summary_or_fails_as_backup_invalid_after_writing_the_report() {
        let var = drill_tests::unique("DRILL_TEST_SECRET_");
        std::env::set_var(&var, drill_tests::pg_url());
        let (dir, _) = history();
        let sets = tempfile::tempdir().unwrap();
        let deps = validate::Deps::new(
            validate::Config {
                allow_plaintext: true,
                reports_url: Some(format!("file://{}", dir.path().display())),
                config_url: Some(drill_tests::deployment::url()),
                ..Default::default()
            },
            drill_tests::aws_config().await,
        );
        // Reports of a source live under its id, as the configuration says.
        let store = Store::open(
            &format!("file://{}/app-logical", dir.path().display()),
            None,
        )
        .unwrap();

        let (event, db1) = drill_of(sets.path(), &var, "").await;
        let ok = validate::handle(&deps, event).await.unwrap();
        let summary: drill_core::events::ValidateSummary = serde_json::from_value(ok).unwrap();
        assert!(summary.passed);
        assert_eq!(
            (summary.checks_failed, summary.checks_errored, summary.rows),
            (0, 0, 600)
        );
        assert!(summary.rto_seconds >= 1800, "{}", summary.rto_seconds);
        assert!(summary.report.ends_with(".pass.json"));

        let failing = "[[sql]]\nname = \"orders\"\nquery = \"SELECT count(*) FROM orders\"\nexpect = { equals = 1 }";
        let (event, db2) = drill_of(sets.path(), &var, failing).await;
        let err = validate::handle(&deps, event).await.unwrap_err();
        assert_eq!(err.error_type(), "Drill.BackupInvalid");
        assert!(
            err.message.contains("sql:orders fail: 500"),
            "{}",
            err.message
        );
        let keys = store.list("reports/").await.unwrap();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(
            keys.iter().any(|k| err.message.contains(&store.url_of(k))),
            "{}",
            err.message
        );
        // The secret's password is in neither the error nor the stored reports.
        let password = url::Url::parse(&drill_tests::pg_url())
            .unwrap()
            .password()
            .unwrap()
            .to_owned();
        assert!(!err.message.contains(&password));
        for k in &keys {
            let body = store.get(k).await.unwrap();
            assert!(!String::from_utf8_lossy(&body).contains(&password));
        }

        let (event, db3) = drill_of(sets.path(), &var, "[nope]").await;
        let bad_config = validate::handle(&deps, event).await.unwrap_err();
        assert_eq!(bad_config.error_type(), "Drill.InvalidInput");
        for db in [db1, db2, db3] {
            drop_db(&db).await;
        }
    }
}
