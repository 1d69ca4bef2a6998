//! Throwaway PostgreSQL clusters: `initdb` + `pg_ctl` on a free port in a private directory.
//!
//! Used by `drill demo` (the embedded default) and by tests that need a cluster of their own (to
//! corrupt it, stop it, or make it unreachable). `initdb` and `postgres` refuse to run as root, so
//! as root they run as the `postgres` user. A cluster stops and its directory is removed on drop,
//! including when a test panics; a cluster left by a killed process is found by `scripts/stack`
//! through the `postmaster.pid` under its directory. Feature `localpg`: never compiled into the
//! Lambda functions.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error("no PostgreSQL server binaries found (looked for initdb via pg_config and in /usr/lib/postgresql/*/bin); install PostgreSQL or set DRILL_PG_BIN")]
    NoBinaries,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl drill_core::Classified for LocalPgError {
    fn kind(&self) -> drill_core::ErrorKind {
        drill_core::ErrorKind::CouldNotRun
    }
}

/// The directory holding `initdb`, `pg_ctl`, `pg_dump`, ... (see [`crate::pgbin::pg_bindir`]).
pub fn pg_bindir() -> Result<PathBuf, LocalPgError> {
    crate::pgbin::pg_bindir().map_err(|_| LocalPgError::NoBinaries)
}

/// A free TCP port on 127.0.0.1 (the listener is dropped; the tiny race is acceptable for tests).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn postgres_ids() -> Result<(u32, u32), LocalPgError> {
    let id = |flag: &str| -> Result<u32, LocalPgError> {
        let out = Command::new("id").args([flag, "postgres"]).output()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| LocalPgError::Command {
                what: "looking up the postgres user".into(),
                detail: "running as root needs a `postgres` user to run the server as".into(),
            })
    };
    Ok((id("-u")?, id("-g")?))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Options for a new cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Parent directory; the cluster lives in a new subdirectory. Default: the stack's
    /// `$DRILL_STACK_PG_DIR` when set (so the stack can clean up after a killed run; it is where
    /// the `postgres` user can reach even when the checkout is not), else the system temp dir.
    pub parent: Option<PathBuf>,
    /// Extra `-c name=value` server settings.
    pub settings: Vec<(String, String)>,
}

/// A running throwaway cluster. Superuser `postgres`, password auth over TCP on 127.0.0.1.
#[derive(Debug)]
pub struct LocalCluster {
    root: PathBuf,
    bindir: PathBuf,
    port: u16,
    password: String,
    settings: Vec<(String, String)>,
    as_postgres: bool,
    running: bool,
}

impl LocalCluster {
    /// Creates and starts a cluster (~1-2 s).
    pub fn start(options: ClusterOptions) -> Result<Self, LocalPgError> {
        let bindir = pg_bindir()?;
        let parent = match options.parent {
            Some(p) => p,
            None => match std::env::var_os("DRILL_STACK_PG_DIR") {
                Some(d) => PathBuf::from(d),
                None => std::env::temp_dir(),
            },
        };
        std::fs::create_dir_all(&parent)?;
        let root = tempfile::Builder::new()
            .prefix("drill-pg-")
            .tempdir_in(&parent)?
            .keep();
        let password = uuid::Uuid::new_v4().simple().to_string();
        let as_postgres = running_as_root();
        let mut cluster = LocalCluster {
            root,
            bindir,
            port: 0,
            password,
            settings: options.settings,
            as_postgres,
            running: false,
        };
        cluster.init()?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bindir.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, what: &str, mut cmd: Command) -> Result<Output, LocalPgError> {
        let out = cmd.output()?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(LocalPgError::Command {
                what: what.to_owned(),
                detail: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            })
        }
    }

    fn init(&self) -> Result<(), LocalPgError> {
        let pwfile = self.root.join("pwfile");
        std::fs::write(&pwfile, format!("{}\n", self.password))?;
        if self.as_postgres {
            let (uid, gid) = postgres_ids()?;
            chown_tree(&self.root, uid, gid)?;
        }
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()));
        let result = self.run("initdb", cmd);
        let _ = std::fs::remove_file(&pwfile);
        result.map(|_| ())
    }

    fn start_server(&mut self) -> Result<(), LocalPgError> {
        // A port can be taken between choosing and binding; try a few.
        let mut last = None;
        for _ in 0..5 {
            self.port = free_port()?;
            let mut opts = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                self.port,
                self.root.display()
            );
            for (k, v) in &self.settings {
                opts.push_str(&format!(" -c {k}={v}"));
            }
            let mut cmd = self.command("pg_ctl");
            cmd.arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.root.join("server.log"))
                .args(["-w", "-t", "60", "-o", &opts, "start"]);
            match self.run("pg_ctl start", cmd) {
                Ok(_) => {
                    self.running = true;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
        Err(match last {
            Some(LocalPgError::Command { what, detail }) => LocalPgError::Command {
                what,
                detail: format!("{detail}\n{log}"),
            },
            Some(e) => e,
            None => LocalPgError::NoBinaries,
        })
    }

    /// Stops the server (fast shutdown), keeping the data directory.
    pub fn stop(&mut self) -> Result<(), LocalPgError> {
        if self.running {
            let mut cmd = self.command("pg_ctl");
            cmd.arg("-D")
                .arg(self.data_dir())
                .args(["-w", "-m", "fast", "stop"]);
            self.run("pg_ctl stop", cmd)?;
            self.running = false;
        }
        Ok(())
    }

    /// Starts a stopped server again (on a new port).
    pub fn restart(&mut self) -> Result<(), LocalPgError> {
        self.stop()?;
        self.start_server()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `postgres://postgres:<password>@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{}",
            self.password, self.port, database
        )
    }

    /// Runs a PostgreSQL client program (`psql`, `pg_dump`, `pgbench`, ...) from the same
    /// installation, as the current user.
    pub fn client(&self, program: &str) -> Command {
        let mut c = Command::new(self.bindir.join(program));
        c.env("PGPASSWORD", &self.password)
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres");
        c
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if self.running {
            let mut cmd = self.command("pg_ctl");
            cmd.arg("-D")
                .arg(self.data_dir())
                .args(["-w", "-m", "immediate", "stop"]);
            let _ = cmd.output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
