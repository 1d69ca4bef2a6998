//! Picking a backup set the way a person names it: `drill validate --manifest` takes the set's URL
//! as well as its manifest.json, and `drill restore --from` a source's store prefix restores its
//! newest set whose drill did not fail, saying which.

use drill_tests::cli::{drill, text};

fn export_to(store: &str, source: &str) -> String {
    let out = drill()
        .args(["export", "--json", "--to", store])
        .env("DRILL_EXPORT_SOURCE", source)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["backup_set"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

#[tokio::test]
async fn a_store_prefix_restores_its_newest_set_whose_drill_did_not_fail() {
    let src = drill_tests::TestDb::create("clisets_src_").await;
    let client = drill_tests::connect(&src.url).await;
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)",
        )
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store = format!("file://{}", tmp.path().display());
    let older = export_to(&store, &src.url);
    client
        .batch_execute("INSERT INTO t SELECT generate_series(11, 25)")
        .await
        .unwrap();
    // Set names carry the second: the newer set must sort after the older one.
    drill_tests::wait::next_second();
    let newer = export_to(&store, &src.url);
    // The newer set's drill failed: marked so.
    std::fs::write(
        std::path::Path::new(newer.strip_prefix("file://").unwrap())
            .join(drill_core::manifest::DRILL_FAILED_KEY),
        br#"{"drill_id":"night-2","reason":"validation failed"}"#,
    )
    .unwrap();

    let target = drill_tests::TestDb::create("clisets_dst_").await;
    let out = drill()
        .args(["restore", "--from", &store])
        .env("DRILL_RESTORE_TARGET", &target.url)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains(&format!("picked {older}")), "{stderr}");
    assert!(
        stderr.contains("skipped 1 newer set(s) whose drill failed"),
        "{stderr}"
    );
    let rows: i64 = drill_tests::connect(&target.url)
        .await
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 10, "the older, good set was restored");

    // The set's own URL names its manifest.
    for manifest in [older.clone(), format!("{older}/manifest.json")] {
        let out = drill()
            .args(["validate", "--source-id", "app", "--manifest", &manifest])
            .env("DRILL_TARGET_URL", &target.url)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "--manifest {manifest}: {stdout}\n{stderr}"
        );
    }
    // And a different set's manifest fails the restore it does not describe.
    let out = drill()
        .args(["validate", "--source-id", "app", "--manifest", &newer])
        .env("DRILL_TARGET_URL", &target.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
}
