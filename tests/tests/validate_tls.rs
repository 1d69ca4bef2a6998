//! TLS verification is real: a cluster serving a certificate from a CA made by this test is
//! accepted with that CA's bundle and refused with the shipped Amazon RDS bundle.

use std::path::Path;
use std::process::Command;

use chrono::Utc;
use drill_core::checks::{CheckConfig, Outcome, Status};
use drill_engine::localpg::{ClusterOptions, LocalCluster};
use drill_engine::pg::{ConnectOptions, Database};
use drill_engine::validate::{validate, ValidateInput};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=restore-drill test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ],
    );
    // The server runs as `postgres` when we are root, and refuses a key others can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("server.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if root {
        let status = Command::new("chown")
            .args(["postgres"])
            .arg(dir.join("server.key"))
            .status()
            .unwrap();
        assert!(status.success());
    }
}

#[tokio::test]
async fn verify_full_accepts_the_right_ca_and_refuses_the_rds_bundle() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let cluster = LocalCluster::start(ClusterOptions {
        settings: vec![
            ("ssl".into(), "on".into()),
            (
                "ssl_cert_file".into(),
                certs.path().join("server.pem").display().to_string(),
            ),
            (
                "ssl_key_file".into(),
                certs.path().join("server.key").display().to_string(),
            ),
        ],
        ..Default::default()
    })
    .unwrap();
    let url = format!("{}?sslmode=verify-full", cluster.url("postgres"));
    let test_ca = ConnectOptions {
        ca_bundle: Some(certs.path().join("ca.pem")),
        ..ConnectOptions::default()
    };

    let client = Database::from_url(&url)
        .unwrap()
        .with_options(test_ca.clone())
        .connect()
        .await
        .unwrap();
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the session must be encrypted");

    // The shipped RDS bundle does not know the test CA: refused during the handshake.
    let rds = ConnectOptions {
        ca_bundle: None,
        ..ConnectOptions::default()
    };
    let err = Database::from_url(&url)
        .unwrap()
        .with_options(rds.clone())
        .connect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("UnknownIssuer") || err.contains("certificate"),
        "{err}"
    );
    assert!(!err.contains(cluster.password()), "{err}");

    // The same through the validation engine: connect passes with the right CA, and is
    // "could not run" with the wrong one.
    let input = || ValidateInput {
        source_id: "tls".into(),
        drill_id: drill_tests::unique("d-"),
        drill_started_at: Utc::now(),
        backup: None,
        // The `postgres` database has no tables: this test is about the connection.
        config: CheckConfig::from_toml(
            "[integrity]\nenabled = false\n[row_counts]\nallow_empty = true",
        )
        .unwrap(),
        manifest: None,
        history: None,
    };
    let ok = validate(
        &Database::from_url(&url).unwrap().with_options(test_ca),
        input(),
    )
    .await
    .unwrap();
    assert_eq!(ok.report.checks[0].status, Status::Pass);
    assert!(ok.report.passed, "{}", ok.report.render_table());
    let refused = validate(
        &Database::from_url(&url).unwrap().with_options(rds),
        input(),
    )
    .await
    .unwrap();
    assert_eq!(refused.report.checks[0].status, Status::Error);
    assert_eq!(refused.report.outcome, Outcome::CouldNotRun);
}
