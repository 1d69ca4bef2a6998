//! A damaged or incomplete backup set is never restored: each case exits non-zero through the
//! `drill` binary with a message naming the object and table, and never prints success. The
//! flipped byte and the changed row count run on both server majors.
//!
//! Needs `target/debug/drill` (`cargo build -p drill-cli`; `scripts/test` builds everything).

use std::path::PathBuf;
use std::process::Output;

use drill_core::manifest;
use drill_tests::cli::text;
use drill_tests::dump::psql;
use drill_tests::TestDb;

fn drill(args: &[&str]) -> Output {
    drill_tests::cli::drill()
        .args(args)
        .env_remove("DRILL_RESTORE_TARGET")
        .env_remove("DRILL_EXPORT_SOURCE")
        .output()
        .expect("run drill")
}

struct Fixture {
    _source: TestDb,
    _dir: tempfile::TempDir,
    /// Backup set directory of a good export.
    set: PathBuf,
    manifest: manifest::Manifest,
}

/// Exports a small two-table database with `drill export --json` (packaged major).
async fn exported() -> Fixture {
    exported_on(&drill_tests::packaged_server()).await
}

/// The same on `server`, dumped with the newest pg_dump as deployed.
async fn exported_on(server: &drill_tests::Server) -> Fixture {
    let source = TestDb::create_on(&server.url, "dump_bad_src_").await;
    psql(
        &source.url,
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text); \
         INSERT INTO accounts SELECT i, 'owner ' || i FROM generate_series(1, 5000) i; \
         CREATE TABLE notes (id serial PRIMARY KEY, body text); \
         INSERT INTO notes (body) SELECT md5(i::text) FROM generate_series(1, 300) i;",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = drill(&[
        "export",
        "--json",
        "--source",
        &source.url,
        "--to",
        &format!("file://{}", dir.path().display()),
        "--pg-dump",
        drill_tests::newest_pg_dump().to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "export failed: {stderr}");
    assert!(
        !stdout.contains(&source.url) && !stderr.contains(&source.url),
        "no credentials in output"
    );
    let summary: drill_core::events::ExportSummary = serde_json::from_str(&stdout).expect(&stdout);
    assert_eq!((summary.tables, summary.rows), (2, 5300));
    let set = PathBuf::from(summary.backup_set.strip_prefix("file://").unwrap());
    let manifest =
        manifest::parse(&std::fs::read(set.join(manifest::MANIFEST_KEY)).unwrap()).unwrap();
    Fixture {
        _source: source,
        _dir: dir,
        set,
        manifest,
    }
}

impl Fixture {
    fn object(&self, table: &str) -> PathBuf {
        let t = self
            .manifest
            .tables
            .iter()
            .find(|t| t.name == table)
            .unwrap();
        self.set.join(&t.objects[0].key)
    }

    fn key(&self, table: &str) -> String {
        let t = self
            .manifest
            .tables
            .iter()
            .find(|t| t.name == table)
            .unwrap();
        t.objects[0].key.clone()
    }

    /// Restores into a new empty database; returns the output and the target.
    async fn restore(&self) -> (Output, TestDb) {
        let target = self._source.sibling("dump_bad_dst_").await;
        let out = drill(&[
            "restore",
            "--from",
            &format!("file://{}", self.set.display()),
            "--target",
            &target.url,
        ]);
        (out, target)
    }
}

/// Asserts a failed restore: exit code, message fragments, and no claim of success.
fn assert_fails(out: &Output, code: i32, needles: &[&str]) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    for n in needles {
        assert!(stderr.contains(n), "{n:?} not in: {stderr}");
    }
    assert!(!stdout.contains("restored"), "claims success: {stdout}");
}

async fn count(url: &str, table: &str) -> i64 {
    let c = drill_tests::connect(url).await;
    c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_set_restores_and_says_so() {
    let f = exported().await;
    let (out, target) = f.restore().await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("restored") && stdout.contains("5300 rows"),
        "{stdout}"
    );
    assert_eq!(count(&target.url, "accounts").await, 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_fails_and_loads_nothing_of_that_object() {
    for server in drill_tests::servers() {
        let f = exported_on(&server).await;
        let path = f.object("accounts");
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
        let (out, target) = f.restore().await;
        assert_fails(
            &out,
            1,
            &["public.accounts", &f.key("accounts"), "sha256 mismatch"],
        );
        // The object's COPY was rolled back: no partial table.
        assert!(count(&target.url, "accounts").await <= 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_object_fails() {
    let f = exported().await;
    let path = f.object("accounts");
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let (out, _t) = f.restore().await;
    assert_fails(
        &out,
        1,
        &["public.accounts", &f.key("accounts"), "truncated"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_object_fails() {
    let f = exported().await;
    std::fs::remove_file(f.object("notes")).unwrap();
    let (out, _t) = f.restore().await;
    assert_fails(&out, 1, &["public.notes", &f.key("notes"), "missing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_row_count_fails() {
    for server in drill_tests::servers() {
        let f = exported_on(&server).await;
        let path = f.set.join(manifest::MANIFEST_KEY);
        let original = f.manifest.clone();

        // Consistent edit (object and table agree): caught while loading the object.
        let mut m = original.clone();
        let t = m.tables.iter_mut().find(|t| t.name == "notes").unwrap();
        t.rows += 1;
        t.objects[0].rows = Some(t.rows);
        std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
        let (out, _t) = f.restore().await;
        assert_fails(
            &out,
            1,
            &["public.notes", &f.key("notes"), "300 rows", "301"],
        );

        // Table total alone edited: caught before anything is loaded.
        let mut m = original;
        m.tables
            .iter_mut()
            .find(|t| t.name == "accounts")
            .unwrap()
            .rows = 4999;
        std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
        let (out, target) = f.restore().await;
        assert_fails(&out, 1, &["public.accounts", "4999"]);
        assert_eq!(count(&target.url, "accounts").await, -1, "nothing created");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_unsupported_manifest_fails() {
    let f = exported().await;
    let path = f.set.join(manifest::MANIFEST_KEY);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["format_version"] = 99.into();
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let (out, _t) = f.restore().await;
    assert_fails(&out, 1, &["manifest.json", "version 99", "not supported"]);

    std::fs::remove_file(&path).unwrap();
    let (out, target) = f.restore().await;
    assert_fails(&out, 1, &["no manifest.json", "incomplete"]);
    assert_eq!(count(&target.url, "accounts").await, -1, "nothing created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_empty_target_is_refused_untouched() {
    let f = exported().await;
    let target = TestDb::create("dump_bad_full_").await;
    psql(
        &target.url,
        "CREATE TABLE precious (x int); INSERT INTO precious VALUES (1);",
    );
    let out = drill(&[
        "restore",
        "--from",
        &format!("file://{}", f.set.display()),
        "--target",
        &target.url,
    ]);
    assert_fails(&out, 4, &["not empty", "public.precious"]);
    assert_eq!(count(&target.url, "precious").await, 1);
    assert_eq!(count(&target.url, "accounts").await, -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_are_usage_errors() {
    let out = drill(&[
        "restore",
        "--from",
        "ftp://x/y",
        "--target",
        "postgres://u@127.0.0.1:1/d",
    ]);
    assert_fails(&out, 2, &["ftp://x/y"]);
    let out = drill(&[
        "export",
        "--source",
        "postgres://u:pw@127.0.0.1:1/d",
        "--to",
        "file://relative",
    ]);
    assert_fails(&out, 2, &["file://relative"]);
}
