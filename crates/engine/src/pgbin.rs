//! Where the local PostgreSQL binaries are: the export's `pg_dump` fallback, and the throwaway
//! clusters of `drill demo` and the tests (`localpg`, feature `localpg`).

use std::path::PathBuf;
use std::process::Command;

/// No PostgreSQL server binaries on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no PostgreSQL server binaries found (looked for initdb via pg_config and in /usr/lib/postgresql/*/bin); install PostgreSQL or set DRILL_PG_BIN")]
pub struct NoBinaries;

/// The directory holding `initdb`, `pg_ctl`, `pg_dump`, ...: `DRILL_PG_BIN`, then
/// `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`.
pub fn pg_bindir() -> Result<PathBuf, NoBinaries> {
    for var in ["DRILL_PG_BIN", "DRILL_TEST_PG_BIN"] {
        if let Some(dir) = std::env::var_os(var) {
            let dir = PathBuf::from(dir);
            if dir.join("initdb").exists() {
                return Ok(dir);
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().ok_or(NoBinaries)
}
