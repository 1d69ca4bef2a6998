//! The demo's output directory: created, or taken back from an earlier demo, never someone
//! else's.

use std::path::{Path, PathBuf};

use drill_core::ErrorKind;

use crate::output::CliError;

/// Marks a directory as the demo's, so a second run may replace its contents.
const DIR_MARKER: &str = ".restore-drill-demo";

pub(super) fn io_err(what: &str, path: &Path, e: std::io::Error) -> CliError {
    CliError::new(
        ErrorKind::CouldNotRun,
        format!("{what} {}: {e}", path.display()),
    )
}

/// Creates (or takes back) the demo directory and returns its absolute path.
pub(super) fn prepare_dir(dir: &Path) -> Result<PathBuf, CliError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err("creating", dir, e))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| io_err("resolving", dir, e))?;
    let mut entries = std::fs::read_dir(&dir)
        .map_err(|e| io_err("reading", &dir, e))?
        .flatten()
        .peekable();
    if entries.peek().is_some() && !dir.join(DIR_MARKER).exists() {
        return Err(CliError::usage(format!(
            "--dir {} is not empty and is not a restore-drill demo directory; the demo only \
             replaces its own output",
            dir.display()
        ))
        .with_hint("Choose a new or empty directory with --dir."));
    }
    // Only what an earlier demo wrote is removed.
    for name in ["backups", "history"] {
        let p = dir.join(name);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(|e| io_err("removing", &p, e))?;
        }
    }
    for name in ["report.html", "summary.json"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    std::fs::write(
        dir.join(DIR_MARKER),
        "written by `drill demo`; it replaces backups/, history/, report.html and summary.json here\n",
    )
    .map_err(|e| io_err("writing in", &dir, e))?;
    Ok(dir)
}
