//! The `drill` binary for command tests: finding it, running it, reading its output.

use std::path::PathBuf;
use std::process::{Command, Output};

/// `target/debug/drill`, next to the test binary's `deps/` directory. The tests crate does not
/// depend on the CLI crate, so the binary must have been built (`cargo build -p drill-cli`).
pub fn drill_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let bin = dir.join("drill");
    assert!(
        bin.exists(),
        "{} is missing: build the CLI first (`cargo build -p drill-cli`; scripts/test does)",
        bin.display()
    );
    bin
}

pub fn drill() -> Command {
    let mut c = Command::new(drill_bin());
    // The caller's environment must not pick the server or the log level.
    c.env_remove("DATABASE_URL")
        .env_remove("DRILL_LOG")
        .env("NO_COLOR", "1");
    c
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// PIDs of running processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Runs `drill demo --json` with `args` and returns the parsed result (asserting exit 0).
pub fn run_demo(args: &[&str]) -> serde_json::Value {
    let out = drill()
        .arg("demo")
        .args(args)
        .arg("--json")
        .output()
        .expect("run drill demo");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("demo JSON: {e}\n{stdout}"))
}
