//! The local stack cleans up after itself, and after a run that was killed midway.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use drill_engine::localpg::{ClusterOptions, LocalCluster};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack")
}

fn alive(pid: u32) -> bool {
    // A zombie (state Z) has exited; only its process-table entry is left.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn stack(dir: &Path, action: &str) -> HashMap<String, String> {
    let out = Command::new(script())
        .arg(action)
        .env("DRILL_STACK_DIR", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/stack {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn pid_in(path: PathBuf) -> u32 {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn recorded_pids(dir: &Path, env: &HashMap<String, String>) -> Vec<u32> {
    let pg = PathBuf::from(&env["DRILL_STACK_PG_DIR"]);
    vec![
        pid_in(dir.join("moto.pid")),
        pid_in(dir.join("lambda-host.pid")),
        pid_in(pg.join("shared/data/postmaster.pid")),
        pid_in(pg.join("newest/data/postmaster.pid")),
    ]
}

#[test]
fn a_killed_run_leaves_nothing_running_after_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    // The postgres user must be able to reach the cluster directories below it.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("stack");

    let env = stack(&dir, "start");
    assert!(env.contains_key("DRILL_TEST_PG_URL"), "{env:?}");
    assert!(env.contains_key("DRILL_TEST_PG_NEWEST_URL"), "{env:?}");
    let first = recorded_pids(&dir, &env);
    assert!(first.iter().all(|&p| alive(p)), "{first:?}");

    // A test's own cluster whose process was killed before it could drop it.
    let orphan = LocalCluster::start(ClusterOptions {
        parent: Some(PathBuf::from(&env["DRILL_STACK_PG_DIR"])),
        ..Default::default()
    })
    .unwrap();
    let orphan_pid = pid_in(orphan.data_dir().join("postmaster.pid"));
    std::mem::forget(orphan);
    assert!(alive(orphan_pid));

    // The next run starts without the previous one having stopped anything.
    let env2 = stack(&dir, "start");
    let second = recorded_pids(&dir, &env2);
    for pid in first.iter().chain([&orphan_pid]) {
        assert!(!alive(*pid), "stale process {pid} survived the next start");
    }
    assert!(second.iter().all(|&p| alive(p)), "{second:?}");

    stack(&dir, "stop");
    for pid in second {
        assert!(!alive(pid), "process {pid} survived stop");
    }
    assert!(!dir.exists(), "stop must remove the state directory");
    assert!(
        !Path::new(&env2["DRILL_STACK_PG_DIR"]).exists(),
        "stop must remove the clusters' directory"
    );
}

/// A clone under a home other users cannot enter (root's own, mode 0700): the clusters, run as
/// `postgres` when root, must live where that user can reach them, and both must answer.
#[test]
fn a_stack_in_a_0700_directory_starts_both_clusters() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let dir = tmp.path().join("clone/.stack");
    let env = stack(&dir, "start");
    for (var, major) in [
        ("DRILL_TEST_PG_URL", None),
        ("DRILL_TEST_PG_NEWEST_URL", Some("18")),
    ] {
        let out = Command::new(PathBuf::from(&env["DRILL_TEST_PG_BIN"]).join("psql"))
            .args(["-XAtc", "show server_version", &env[var]])
            .output()
            .unwrap();
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success(),
            "{var}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(major) = major {
            assert!(version.starts_with(major), "{var}: {version}");
        }
    }
    stack(&dir, "stop");
    assert!(!dir.exists());
}

#[test]
fn a_local_cluster_is_stopped_and_removed_on_drop() {
    let cluster = LocalCluster::start(ClusterOptions::default()).unwrap();
    let root = cluster.root().to_owned();
    let pid = pid_in(cluster.data_dir().join("postmaster.pid"));
    let out = cluster
        .client("psql")
        .args(["-XAtc", "select 40 + 2", "postgres"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    drop(cluster);
    assert!(!alive(pid), "postgres {pid} still running after drop");
    assert!(!root.exists(), "{} still exists", root.display());
}

#[test]
fn a_test_that_needs_a_missing_stack_part_fails_saying_how_to_start_it() {
    let err =
        std::panic::catch_unwind(|| drill_tests::stack_var("DRILL_TEST_NOT_A_PART")).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("scripts/test"), "{msg}");
    assert!(msg.contains("scripts/stack start"), "{msg}");
}
