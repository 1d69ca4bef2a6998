//! Schema capture with `pg_dump --schema-only`, pre-data and post-data sections, against the
//! export's snapshot.

use std::path::PathBuf;

use super::{Database, DumpError};

/// The `pg_dump` to run: `DRILL_PG_DUMP`, else the one next to the local PostgreSQL server
/// binaries, else `pg_dump` on `PATH`.
pub(crate) fn pg_dump_program(explicit: Option<&PathBuf>) -> PathBuf {
    if let Some(p) = explicit {
        return p.clone();
    }
    if let Some(p) = std::env::var_os("DRILL_PG_DUMP") {
        return PathBuf::from(p);
    }
    if let Ok(dir) = crate::localpg::pg_bindir() {
        let p = dir.join("pg_dump");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("pg_dump")
}

/// Removes the psql meta-commands recent pg_dump versions put around plain output
/// (`\restrict <key>` / `\unrestrict <key>`), so the file is plain SQL a driver can execute.
/// Only the exact lines carrying the dump's own key are removed, so a function body that happens
/// to contain a backslash line is left alone.
pub fn strip_psql_meta(sql: &str) -> String {
    let key = sql
        .lines()
        .find_map(|l| l.strip_prefix("\\restrict "))
        .map(|k| k.trim().to_owned());
    let Some(key) = key else {
        return sql.to_owned();
    };
    let restrict = format!("\\restrict {key}");
    let unrestrict = format!("\\unrestrict {key}");
    let mut out = String::with_capacity(sql.len());
    for line in sql.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == restrict || bare == unrestrict {
            continue;
        }
        out.push_str(line);
    }
    out
}

/// Runs `pg_dump --schema-only --section=<section> --snapshot=<snapshot>`; returns the SQL with
/// meta-commands stripped.
pub(crate) async fn dump_section(
    db: &Database,
    program: &std::path::Path,
    section: &str,
    snapshot: &str,
) -> Result<String, DumpError> {
    let err = |reason: String| DumpError::PgDump {
        section: section.to_owned(),
        reason,
    };
    // The shipped RDS CA bundle has to be a file for libpq.
    let mut ca_tmp = None;
    let ca_path = match db.ca_bundle() {
        Some(p) => Some(p),
        None if db.tls == drill_core::events::TlsMode::VerifyFull => {
            let f = tempfile::NamedTempFile::new().map_err(|e| err(format!("CA file: {e}")))?;
            std::fs::write(f.path(), crate::pg::RDS_CA_BUNDLE)
                .map_err(|e| err(format!("CA file: {e}")))?;
            let p = f.path().to_path_buf();
            ca_tmp = Some(f);
            Some(p)
        }
        None => None,
    };
    let mut cmd = tokio::process::Command::new(program);
    // Inherited PG* variables (PGSERVICE, PGOPTIONS, ...) could point pg_dump elsewhere.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&k);
        }
    }
    cmd.envs(db.libpq_env(ca_path.as_deref()))
        .arg("--schema-only")
        .arg(format!("--section={section}"))
        .arg(format!("--snapshot={snapshot}"))
        .arg("--no-password")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = cmd
        .output()
        .await
        .map_err(|e| err(format!("could not run {}: {e}", program.display())))?;
    drop(ca_tmp);
    if !out.status.success() {
        return Err(err(format!(
            "{} exited with {}: {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let sql = String::from_utf8(out.stdout).map_err(|_| err("output is not UTF-8".into()))?;
    Ok(strip_psql_meta(&sql))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_lines_with_the_dump_key_are_removed() {
        let sql = "--\n\\restrict abc123\n\nSET x = 1;\nCREATE FUNCTION f() AS $$\n\\restrict other\n$$;\n\\unrestrict abc123\n";
        let out = strip_psql_meta(sql);
        assert!(!out.contains("\\restrict abc123"), "{out}");
        assert!(!out.contains("\\unrestrict"), "{out}");
        assert!(out.contains("\\restrict other"), "{out}");
        assert!(out.contains("SET x = 1;\nCREATE FUNCTION"), "{out}");
    }

    #[test]
    fn dumps_without_meta_commands_are_unchanged() {
        let sql = "SET x = 1;\nCREATE TABLE t ();\n";
        assert_eq!(strip_psql_meta(sql), sql);
    }
}
