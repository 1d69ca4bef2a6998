//! `drill validate` exit codes: 0 pass, 1 backup invalid, 2 usage, 3 could not run.
//! Needs the local test stack (`scripts/stack start`) for the cases that reach a database.

use std::process::Command;

use drill_engine::pg::Database;

fn drill() -> Command {
    Command::new(env!("CARGO_BIN_EXE_drill"))
}

fn stack_url() -> String {
    std::env::var("DRILL_TEST_PG_URL")
        .expect("DRILL_TEST_PG_URL is not set: start the stack, eval \"$(scripts/stack start)\"")
}

#[test]
fn an_unreachable_server_exits_3_and_a_bad_config_exits_2() {
    let port = drill_engine::localpg::free_port().unwrap();
    let out = drill()
        .args(["validate", "--source-id", "app", "--connect-timeout", "2"])
        .env(
            "DRILL_TARGET_URL",
            format!("postgres://u:pw@127.0.0.1:{port}/app"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ERROR: could not validate"), "{stdout}");
    assert!(!stdout.contains("pw@"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("checks.toml");
    std::fs::write(&config, "[row_counts]\nmax_drop_percent = 200\n").unwrap();
    let out = drill()
        .args(["validate", "--source-id", "app", "--target"])
        .arg(format!("postgres://u@127.0.0.1:{port}/app"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 0 and 100"));
}

#[tokio::test]
async fn a_passing_restore_exits_0_and_a_failed_assertion_exits_1() {
    let admin = Database::from_url(&stack_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let name = format!("vcli_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    let url = format!("{}/{name}", stack_url().rsplit_once('/').unwrap().0);
    Database::from_url(&url)
        .unwrap()
        .connect()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let history = format!("file://{}", dir.path().display());
    let config = dir.path().join("checks.toml");
    let run = |expect: &str| {
        std::fs::write(
            &config,
            format!(
                "[[sql]]\nname = \"ten\"\nquery = \"SELECT count(*) FROM t\"\nexpect = {expect}\n"
            ),
        )
        .unwrap();
        drill()
            .args([
                "--json",
                "validate",
                "--source-id",
                "app",
                "--history",
                &history,
            ])
            .arg("--config")
            .arg(&config)
            .env("DRILL_TARGET_URL", &url)
            .output()
            .unwrap()
    };
    let ok = run("{ equals = 10 }");
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["outcome"], "pass");
    assert_eq!(report["format_version"], 1);

    let bad = run("{ equals = 11 }");
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let report: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["outcome"], "backup_invalid");
    let sql = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sql:ten")
        .unwrap();
    assert_eq!(
        (sql["status"].as_str(), sql["measured"].as_str()),
        (Some("fail"), Some("10"))
    );
    // The failed run compared with the passing one, kept in the history.
    assert!(report["baseline_report"]
        .as_str()
        .unwrap()
        .ends_with(".pass.json"));

    drop(admin);
    let admin = Database::from_url(&stack_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}
