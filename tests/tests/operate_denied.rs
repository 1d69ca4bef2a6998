//! `drill aws` without the permission: a real AccessDenied from moto's IAM enforcement, not a
//! scripted reply. moto enforces IAM for every request of its process once enabled, so this test
//! runs its own moto (the shared stack's serves every other test with the `testing` keys).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use drill_tests::cli::{drill, text};
use drill_tests::wait;

/// A moto server of this test alone, stopped when dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let python = drill_tests::infra::repo().join(".venv/bin/python");
    let child = Command::new(&python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    wait::until(
        "the test's own moto answers",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async { std::net::TcpStream::connect(("127.0.0.1", port)).ok() },
    )
    .await;
    moto
}

async fn config(url: &str, key: &str, secret: &str) -> SdkConfig {
    let creds = aws_sdk_s3::config::Credentials::new(key, secret, None, None, "test");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(creds)
        .load()
        .await
}

#[tokio::test]
async fn an_operator_without_the_policy_gets_a_clear_permission_error_and_exit_3() {
    let moto = start_moto().await;
    // Set up before IAM is enforced: a state machine, and a user with no policy at all.
    let admin = config(&moto.url, "testing", "testing").await;
    let arn = aws_sdk_sfn::Client::new(&admin)
        .create_state_machine()
        .name("denied-drill")
        .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#)
        .role_arn("arn:aws:iam::123456789012:role/denied-drill")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    let iam = aws_sdk_iam::Client::new(&admin);
    iam.create_user()
        .user_name("no-policy")
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("no-policy")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    // From now on moto authorises every request against IAM, as AWS does.
    let reply = post(&moto.url, "/moto-api/reset-auth", "0");
    assert!(reply.contains("\"status\": \"ok\""), "{reply}");

    // `history` reads S3 only; moto's S3 signature check refuses the CLI's path-style requests
    // once auth is on (SignatureDoesNotMatch), so its denial cannot be produced here.
    for args in [vec!["status"], vec!["run", "--sources", "app"]] {
        let out = drill()
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", key.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", key.secret_access_key())
            .args([
                "aws",
                "--state-machine",
                &arn,
                "--reports",
                "s3://denied-reports/reports",
            ])
            .args(&args)
            .output()
            .unwrap();
        let (stdout, err) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(3),
            "drill aws {args:?}: {stdout}{err}"
        );
        assert!(
            err.contains("permission denied") || err.contains("AccessDenied"),
            "drill aws {args:?} does not say it lacks a permission:\n{err}"
        );
        assert!(
            !stdout.contains("PASS") && !err.contains("PASS"),
            "drill aws {args:?} reported a success:\n{stdout}{err}"
        );
    }
}

/// One POST with a plain-text body over a raw socket (the kit has no HTTP client).
fn post(base: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let hostport = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}
