//! What the CLI prints: errors a person can act on, JSON for machines, logs on stderr.

use drill_core::{Classified, ErrorKind, ExitCode};

/// A failed command: what happened and, where we know it, what to do about it.
#[derive(Debug)]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl<E: Classified> From<E> for CliError {
    fn from(err: E) -> Self {
        CliError::new(err.kind(), err.to_string())
    }
}

pub type CliResult = Result<ExitCode, CliError>;

/// A drill error with the hint that fits it.
pub fn drill_error(err: drill_engine::drill::DrillError) -> CliError {
    let sqlstate = err.sqlstate().map(str::to_owned);
    let mut out = CliError::from(err);
    if out.hint.is_none() {
        out.hint = explain(out.kind, &out.message, sqlstate.as_deref());
    }
    out
}

/// What a person can do about an error, recognised from its kind, SQLSTATE and text: one
/// paragraph each for the failures people meet first (a wrong URL, a server that does not
/// answer, missing privileges, a corrupt backup set, a full disk).
pub fn explain(kind: ErrorKind, message: &str, sqlstate: Option<&str>) -> Option<String> {
    let m = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    if has(&[
        "no space left on device",
        "os error 28",
        "disk quota exceeded",
        "os error 122",
    ]) || sqlstate == Some("53100")
    {
        return Some(
            "The disk ran out of space (the backup store's, or the database server's when the \
             message comes from PostgreSQL). Free space or point the backup store at a larger \
             disk (drill demo --dir, `store =` in the drill configuration, --to for export), then \
             run again. The unfinished backup set has no manifest.json, so it is never mistaken \
             for a complete backup; delete its directory to get the space back."
                .into(),
        );
    }
    if kind == ErrorKind::InvalidInput && has(&["invalid postgresql url", "invalid store url"]) {
        return Some(
            "Write database URLs as postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode \
             special characters in the password, e.g. @ as %40; add ?sslmode=disable only for a \
             server without TLS), and backup stores as file:///absolute/dir or \
             s3://bucket/prefix. Nothing was changed."
                .into(),
        );
    }
    if matches!(sqlstate, Some("42501"))
        || has(&["permission denied", "must be owner", "must have createdb"])
    {
        return Some(
            "The database role lacks a privilege the drill needs. It must read every table of the \
             source (e.g. GRANT pg_read_all_data TO <role>; on PostgreSQL 14+) and create and drop \
             databases on the restore server for the temporary database (ALTER ROLE <role> \
             CREATEDB). Grant these, or use a role that has them; nothing was changed on the \
             source."
                .into(),
        );
    }
    if has(&[
        "password authentication failed",
        "no password supplied",
        "role \"",
        "does not exist",
    ]) && has(&["could not connect", "authentication", "role"])
    {
        return Some(
            "The server answered but refused the login: check the user name, the password and the \
             database name in the URL or secret, and that pg_hba.conf allows this host. Nothing \
             was changed."
                .into(),
        );
    }
    if has(&["could not connect"]) {
        return Some(
            "Nothing accepted the connection. Check that the server is running and reachable \
             from this machine (`pg_isready -h HOST -p PORT`), that host and port are right, and \
             that no firewall or security group blocks the port; with TLS, that the certificate \
             matches the host name (--ca-bundle / DRILL_CA_BUNDLE for a private CA). The drill \
             changed nothing and can simply be run again."
                .into(),
        );
    }
    if kind == ErrorKind::BackupInvalid
        && has(&[
            "manifest",
            "sha256",
            "checksum",
            "corrupt",
            "missing from the backup set",
            "mismatch",
            "decode",
            "rows",
        ])
    {
        return Some(
            "This backup set failed verification: an object was changed, truncated or removed \
             after the export finished, so the set must not be trusted. Nothing outside the \
             temporary (or given) target database was touched. Restore an earlier set instead \
             (sets are kept side by side under the store, newest last) and investigate the \
             storage that holds this one."
                .into(),
        );
    }
    None
}

/// Options every command shares.
#[derive(Debug, Clone)]
pub struct Globals {
    pub json: bool,
    pub verbose: u8,
}

impl Globals {
    pub fn new(json: bool, verbose: u8) -> Self {
        Self { json, verbose }
    }

    pub fn init_logging(&self) {
        let default = match self.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_env("DRILL_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }

    /// Prints a result for machines (`--json`) or people.
    pub fn print_json(&self, value: &serde_json::Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    }

    pub fn print_error(&self, err: &CliError) {
        let explained;
        let err = if err.hint.is_none() {
            explained = CliError {
                kind: err.kind,
                message: err.message.clone(),
                hint: explain(err.kind, &err.message, None),
            };
            &explained
        } else {
            err
        };
        if self.json {
            let v = serde_json::json!({
                "error": {
                    "type": err.kind.error_type(),
                    "message": err.message,
                    "hint": err.hint,
                }
            });
            println!("{v}");
        }
        eprintln!("error: {}", err.message);
        if let Some(hint) = &err.hint {
            eprintln!("\n{hint}");
        }
    }
}
