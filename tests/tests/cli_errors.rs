//! Errors a person can act on: each bad input gives its exit code and a paragraph saying what
//! happened and what to do, without ever showing a password.

use std::path::Path;

use drill_tests::cli::{drill, text};

const PW: &str = "pw-never-shown-9f3";

fn assert_no_password(out: &std::process::Output) {
    let (stdout, stderr) = text(out);
    assert!(
        !stdout.contains(PW) && !stderr.contains(PW),
        "password shown:\n{stdout}\n{stderr}"
    );
}

#[test]
fn a_malformed_url_exits_2_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = drill()
        .args(["demo", "--dir", dir.to_str().unwrap(), "--source"])
        .arg(format!("postgres://app:{PW}@db.example.com:54x2/app"))
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid PostgreSQL URL"), "{stderr}");
    assert!(
        stderr.contains("postgres://USER:PASSWORD@HOST:PORT/DATABASE"),
        "{stderr}"
    );
    assert!(!dir.exists(), "the demo started work despite a bad URL");
    assert_no_password(&out);

    // The same for a configuration whose store is not a URL.
    let config = tmp.path().join("drill.toml");
    std::fs::write(
        &config,
        "source_id = \"app\"\nstore = \"/var/backups\"\n[source]\nhost = \"h\"\nport = 5432\n\
         database = \"app\"\nsecret = { env = { var = \"X\" } }\n",
    )
    .unwrap();
    let out = drill()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("file:///absolute/dir or s3://bucket/prefix"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_server_exits_3_with_what_to_check() {
    let port = drill_engine::localpg::free_port().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = drill()
        .args([
            "demo",
            "--rows",
            "100",
            "--dir",
            tmp.path().join("d").to_str().unwrap(),
        ])
        .env(
            "DATABASE_URL",
            format!("postgres://app:{PW}@127.0.0.1:{port}/postgres"),
        )
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("could not connect to 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("Nothing accepted the connection"),
        "{stderr}"
    );
    assert!(stderr.contains("pg_isready"), "{stderr}");
    assert_no_password(&out);
}

#[tokio::test]
async fn missing_privileges_exit_3_with_the_grants_to_make() {
    let url = drill_tests::pg_url();
    let admin = drill_tests::connect(&url).await;
    let role = drill_tests::unique("noperm_");
    admin
        .batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD '{PW}'"))
        .await
        .unwrap();
    let (host_port, _) = url.split_once('@').unwrap().1.split_once('/').unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = drill()
        .args([
            "demo",
            "--rows",
            "100",
            "--dir",
            tmp.path().join("d").to_str().unwrap(),
        ])
        .env(
            "DATABASE_URL",
            format!("postgres://{role}:{PW}@{host_port}/postgres"),
        )
        .output()
        .unwrap();
    admin
        .batch_execute(&format!("DROP ROLE {role}"))
        .await
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(stderr.contains("ALTER ROLE <role> CREATEDB"), "{stderr}");
    assert_no_password(&out);
}

/// A database on the stack with ~20,000 rows of incompressible-ish text.
async fn source_db() -> drill_tests::TestDb {
    let db = drill_tests::TestDb::create("errsrc").await;
    let client = drill_tests::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL); \
             INSERT INTO t SELECT i, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 20000) i",
        )
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn a_corrupt_backup_set_exits_1_and_says_not_to_trust_it() {
    let src = source_db().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = drill()
        .args(["export", "--json", "--to"])
        .arg(format!("file://{}", tmp.path().display()))
        .env("DRILL_EXPORT_SOURCE", &src.url)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let set = serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["backup_set"]
        .as_str()
        .unwrap()
        .to_owned();
    // Flip bytes in the middle of the table's data object.
    let data = Path::new(set.strip_prefix("file://").unwrap()).join("data");
    let object = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&object).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0x5a;
    }
    std::fs::write(&object, bytes).unwrap();

    let target = drill_tests::TestDb::create("errdst").await;
    let out = drill()
        .args(["restore", "--from", &set])
        .env("DRILL_RESTORE_TARGET", &target.url)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("public.t"), "{stderr}");
    assert!(stderr.contains("failed verification"), "{stderr}");
    assert!(stderr.contains("Restore an earlier set"), "{stderr}");
}

/// A 64 kB tmpfs, unmounted when dropped.
struct TinyDisk(std::path::PathBuf);

impl TinyDisk {
    fn mount(dir: &Path) -> TinyDisk {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test needs to mount a tiny tmpfs (root or CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TinyDisk(dir.to_owned())
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

#[tokio::test]
async fn a_full_disk_exits_3_and_says_how_to_recover() {
    let src = source_db().await;
    let tmp = tempfile::tempdir().unwrap();
    let disk = TinyDisk::mount(tmp.path());
    let out = drill()
        .args(["export", "--to"])
        .arg(format!("file://{}", disk.0.display()))
        .env("DRILL_EXPORT_SOURCE", &src.url)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("The disk ran out of space"), "{stderr}");
    assert!(stderr.contains("has no manifest.json"), "{stderr}");
    // No set on the full disk looks complete.
    let complete = walk(&disk.0)
        .into_iter()
        .any(|p| p.ends_with("manifest.json"));
    assert!(!complete, "a manifest was written to the full disk");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
