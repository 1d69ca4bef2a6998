//! `drill demo` end to end: two nights, the flagged data loss, the intact first backup, and
//! nothing left running or lying around. Builds on `target/debug/drill`.

use std::collections::BTreeSet;
use std::path::Path;

use drill_tests::cli::{drill, processes_mentioning, run_demo, text};

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn check<'a>(night: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    night["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {night}"))
}

#[test]
fn demo_flags_night_two_data_loss_keeps_night_one_restorable_and_stops_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let r = run_demo(&["--rows", "20000", "--dir", dir.to_str().unwrap()]);

    // Night 1: every check passed on the full data set.
    let n1 = &r["nights"][0];
    assert_eq!(n1["label"], "night 1");
    assert_eq!(n1["report"]["passed"], true, "{n1}");
    assert_eq!(n1["rows"], 20000);
    assert_eq!(n1["checks_failed"], 0);
    for name in [
        "schema",
        "row_counts",
        "integrity",
        "full_read",
        "freshness:public.homework_submissions",
        "sql:every_submission_has_an_enrollment",
    ] {
        assert_eq!(check(n1, name)["status"], "pass", "{name}: {n1}");
    }
    let steps: Vec<&str> = n1["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["export", "create_temp", "restore", "validate", "drop_temp"]
    );
    assert_eq!(n1["temp_dropped"], true);

    // Night 2: the DELETE is caught as data loss, naming the table and the counts.
    let n2 = &r["nights"][1];
    let deleted = r["deleted_rows"].as_u64().unwrap();
    assert!(deleted > 1000, "{r}");
    assert_eq!(n2["rows"].as_u64().unwrap(), 20000 - deleted);
    assert_eq!(n2["report"]["outcome"], "backup_invalid");
    let rc = check(n2, "row_counts");
    assert_eq!(rc["status"], "fail");
    let details: Vec<&str> = rc["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(details[0].starts_with("data loss suspected"), "{details:?}");
    // 20,000 rows split as 5 courses, 2,000 students, 5,000 enrollments, 3,000 scores and
    // 9,995 homework submissions; the DELETE hit only the submissions.
    let expected = format!(
        "public.homework_submissions: 9995 -> {} rows",
        9995 - deleted
    );
    assert!(
        details.iter().any(|d| d.starts_with(&expected)),
        "{expected}: {details:?}"
    );
    assert_eq!(r["data_loss_flagged"], true);
    // Only the row counts failed: the rest of the restore is sound.
    assert_eq!(n2["checks_failed"], 1, "{n2}");

    // Night 1's set was restored again, verified, and its temp database dropped.
    let proof = &r["night_one_proof"];
    assert_eq!(proof["backup_set"], n1["backup_set"]);
    assert_eq!(proof["rows"], 20000);
    assert_eq!(proof["temp_dropped"], true);

    // Nothing left running: the cluster's processes are gone, its port closed, its files removed.
    let cluster = &r["cluster"];
    assert_eq!(cluster["stopped"], true);
    let data_dir = cluster["data_dir"].as_str().unwrap();
    assert!(
        processes_mentioning(data_dir).is_empty(),
        "postgres still running for {data_dir}"
    );
    assert!(!Path::new(data_dir).exists(), "{data_dir} left behind");
    let port = cluster["port"].as_u64().unwrap() as u16;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still open"
    );
    assert_eq!(r["leftover_temp_databases"].as_array().unwrap().len(), 0);

    // What stays: the backup store and the reports, nothing else.
    assert_eq!(
        names(&dir),
        BTreeSet::from(
            [
                ".restore-drill-demo",
                "backups",
                "history",
                "report.html",
                "summary.json"
            ]
            .map(String::from)
        )
    );
    let sets = dir.join("backups/learning-platform");
    assert_eq!(names(&sets).len(), 2, "two nights, two backup sets");
    for set in names(&sets) {
        assert!(sets.join(set).join("manifest.json").exists());
    }
    // Night 2's drill failed: its set is marked so and never picked as the newest by default.
    let set_dir = |night: &serde_json::Value| {
        let url = night["backup_set"].as_str().unwrap();
        std::path::PathBuf::from(url.strip_prefix("file://").unwrap())
    };
    assert!(set_dir(n2).join("drill-failed.json").exists(), "{n2}");
    assert!(!set_dir(n1).join("drill-failed.json").exists(), "{n1}");
    let reports = names(&dir.join("history/reports"));
    assert_eq!(
        reports.iter().filter(|r| r.ends_with(".pass.json")).count(),
        1,
        "{reports:?}"
    );
    assert_eq!(names(&dir.join("history/runs")).len(), 2);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["data_loss_flagged"], true);
}

#[test]
fn demo_on_a_given_server_of_either_major_drops_every_database_it_created_and_prints_no_password() {
    for server in drill_tests::servers() {
        let url = server.url.clone();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo");
        let database = drill_tests::unique("demo_e2e_");
        let out = drill()
            .args(["demo", "--rows", "5000", "--database", &database, "--dir"])
            .arg(&dir)
            .env("DATABASE_URL", &url)
            // The deployment's pairing: the newest pg_dump, whatever the server's major.
            .env("DRILL_PG_DUMP", drill_tests::newest_pg_dump())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        // People's output: the story, the flag, and never the URL's password.
        assert!(stdout.contains("what the demo proved"), "{stdout}");
        assert!(stdout.contains("data loss suspected"), "{stdout}");
        let password = url.split("://").nth(1).unwrap().split('@').next().unwrap();
        let password = password.split(':').nth(1).unwrap_or("");
        assert!(!password.is_empty());
        for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(!text.contains(password), "{name} shows the password");
        }
        for f in ["summary.json", "report.html"] {
            let body = std::fs::read_to_string(dir.join(f)).unwrap();
            assert!(!body.contains(password), "{f} holds the password");
        }
        for entry in walk(&dir.join("history")) {
            assert!(
                !std::fs::read_to_string(&entry).unwrap().contains(password),
                "{}",
                entry.display()
            );
        }

        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let admin = drill_tests::connect(&url).await;
            let ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(
                &std::fs::read(dir.join("summary.json")).unwrap(),
            )
            .unwrap()["nights"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["temp_database"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(ids.len(), 2);
            for name in ids.iter().map(String::as_str).chain([database.as_str()]) {
                let n: i64 = admin
                    .query_one(
                        "SELECT count(*) FROM pg_database WHERE datname = $1",
                        &[&name],
                    )
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(n, 0, "database {name} left on the server");
            }
        });
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
