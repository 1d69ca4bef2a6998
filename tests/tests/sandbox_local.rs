//! The incident as a test, end to end through the `drill` binary: a source with the demo's
//! learning platform and some QA test data, drilled once (a validated backup set); a sandbox of
//! it where the "clean up old test data" statement runs without its WHERE — the diff says
//! destructive (exit 11); a second sandbox where the intended statements delete exactly the test
//! rows — the diff names them per table (exit 10); the janitor sweeps the expired sandbox and
//! leaves the unexpired one and another user's; delete drops the rest through the guards.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use drill_tests::cli::{drill, text};
use drill_tests::TestDb;
use serde_json::Value;

/// The intended cleanup (submissions go with their enrollments: ON DELETE CASCADE).
const INTENDED: &str = "\
DELETE FROM enrollments WHERE student_id IN (SELECT id FROM students WHERE email LIKE '%@test.invalid'); \
DELETE FROM students WHERE email LIKE '%@test.invalid';";
/// The same, as it ran in production: the WHERE got lost.
const WITHOUT_WHERE: &str = "DELETE FROM enrollments;";

struct Env<'a> {
    config: &'a Path,
    state: &'a Path,
    password_url: &'a str,
}

impl Env<'_> {
    fn run(&self, user: &str, args: &[&str]) -> (Option<i32>, String, String) {
        let out: Output = drill()
            .arg("sandbox")
            .arg("--state-dir")
            .arg(self.state)
            .args(args)
            .env("USER", user)
            .env("DRILL_SOURCE_URL", self.password_url)
            .output()
            .expect("run drill sandbox");
        let (stdout, stderr) = text(&out);
        (out.status.code(), stdout, stderr)
    }

    fn json(&self, user: &str, args: &[&str], code: i32) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (got, stdout, stderr) = self.run(user, &all);
        assert_eq!(
            got,
            Some(code),
            "drill sandbox {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    fn create(&self, user: &str, ttl: &str) -> String {
        let cfg = self.config.to_str().unwrap();
        let v = self.json(
            user,
            &[
                "create", "--config", cfg, "--source", "learning", "--ttl", ttl,
            ],
            0,
        );
        v["name"].as_str().unwrap().to_owned()
    }

    fn psql(&self, id: &str, sql: &str) {
        let (code, stdout, stderr) = self.run(
            "tester",
            &["connect", id, "--", "-v", "ON_ERROR_STOP=1", "-c", sql],
        );
        assert_eq!(code, Some(0), "psql in the sandbox:\n{stdout}\n{stderr}");
    }
}

fn table<'a>(diff: &'a Value, name: &str) -> &'a Value {
    diff["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {diff:#}"))
}

async fn databases_like(admin_url: &str, prefix: &str) -> Vec<String> {
    drill_tests::connect(admin_url)
        .await
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE $1 || '%' ORDER BY 1",
            &[&prefix],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_on_a_copy_first() {
    let server = drill_tests::packaged_server();
    let src = TestDb::create_on(&server.url, "sbx_learning_").await;
    let out = drill()
        .args(["demo", "--load-into", &src.url, "--rows", "5000", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandboxes");
    let config = dir.path().join("drill.toml");
    // A prefix of this test alone: the cleanup below drops only what carries it.
    let prefix = format!("st{}-", &drill_tests::unique("")[..8]);
    let url = url::Url::parse(&server.url).unwrap();
    std::fs::write(
        &config,
        format!(
            "source_id = \"learning\"\nstore = \"file://{}/backups\"\nprefix = \"{prefix}\"\n\
             [source]\nhost = \"{h}\"\nport = {p}\ndatabase = \"{db}\"\n\
             secret = {{ env = {{ var = \"DRILL_SOURCE_URL\" }} }}\ntls = \"disable\"\n\
             [restore_server]\nhost = \"{h}\"\nport = {p}\ndatabase = \"postgres\"\n\
             secret = {{ env = {{ var = \"DRILL_SOURCE_URL\" }} }}\ntls = \"disable\"\n\
             [sandbox]\nmax_ttl_hours = 2\nmax_changed_share = 0.10\n",
            dir.path().display(),
            h = url.host_str().unwrap(),
            p = url.port().unwrap_or(5432),
            db = src.name,
        ),
    )
    .unwrap();
    let env = Env {
        config: &config,
        state: &state,
        password_url: &server.url,
    };
    let cfg = config.to_str().unwrap();

    // No validated backup yet: nothing to copy, said so (backup invalid, exit 1).
    let (code, _, stderr) = env.run(
        "tester",
        &[
            "create", "--config", cfg, "--source", "learning", "--ttl", "1h",
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no validated backup set"), "{stderr}");
    // Bad input keeps the usage exit code.
    let (code, _, stderr) = env.run("tester", &["create", "--config", cfg, "--source", "other"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, _, stderr) = env.run(
        "tester",
        &[
            "create", "--config", cfg, "--source", "learning", "--ttl", "3h",
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("maximum of 2 h"), "{stderr}");

    let out = drill()
        .args(["run", "--config", cfg, "--json"])
        .env("DRILL_SOURCE_URL", &server.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "drill run: {:?}", text(&out));

    let outcome = async {
        // 1. The statement without its WHERE, on a copy: destructive, exit 11.
        let a = env.create("tester", "1h");
        assert!(a.starts_with(&format!("{prefix}sbx-learning-")), "{a}");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        for ext in ["json", "pgpass"] {
            assert_eq!(mode(&state.join(format!("{a}.{ext}"))), 0o600, "{ext}");
        }
        let registry = std::fs::read_to_string(state.join(format!("{a}.json"))).unwrap();
        let password = url::Url::parse(&server.url)
            .unwrap()
            .password()
            .map(str::to_owned);
        if let Some(pw) = &password {
            assert!(
                !registry.contains(pw.as_str()),
                "the registry JSON must hold no password"
            );
        }
        env.psql(&a, WITHOUT_WHERE);
        let diff = env.json("tester", &["diff", &a], 11);
        assert_eq!(diff["verdict"], "destructive");
        let findings: Vec<&str> = diff["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(
            findings
                .iter()
                .any(|f| f.starts_with("table public.enrollments emptied")),
            "{findings:?}"
        );
        assert!(
            findings
                .iter()
                .any(|f| f.starts_with("table public.homework_submissions emptied")),
            "{findings:?}"
        );
        // The table for people says it too, and the exit code is the same without --json.
        let (code, stdout, _) = env.run("tester", &["diff", &a]);
        assert_eq!(code, Some(11));
        assert!(
            stdout.contains("verdict: DESTRUCTIVE") && stdout.contains("public.enrollments"),
            "{stdout}"
        );

        // 2. The intended statements, on a fresh copy: exactly the test rows, exit 10.
        let b = env.create("tester", "20s");
        let created = std::time::Instant::now();
        env.psql(&b, INTENDED);
        let html = dir.path().join("diff.html");
        let diff = env.json(
            "tester",
            &["diff", &b, "--html", html.to_str().unwrap()],
            10,
        );
        assert_eq!(diff["verdict"], "changes", "{:#}", diff["findings"]);
        for (name, deleted) in [
            ("students", 10),
            ("enrollments", 20),
            ("homework_submissions", 60),
        ] {
            let t = table(&diff, name);
            assert_eq!(
                (
                    t["deleted"].as_u64(),
                    t["inserted"].as_u64(),
                    t["updated"].as_u64()
                ),
                (Some(deleted), Some(0), Some(0)),
                "{name}: {t:#}"
            );
            assert_eq!(t["change"], "changed");
        }
        for name in ["courses", "leaderboard_scores"] {
            assert_eq!(table(&diff, name)["change"], "unchanged", "{name}");
        }
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(
            page.contains("class=\"verdict error\"")
                && page.contains("public.homework_submissions")
        );

        // 3. Another user's sandbox, already expired.
        let m = env.create("mallory", "1s");

        // 4. Expiry: the janitor takes the expired sandbox of its user only.
        let wait = std::time::Duration::from_secs(21).saturating_sub(created.elapsed());
        std::thread::sleep(wait);
        let swept = env.json("tester", &["janitor", "--config", cfg], 0);
        let mut dropped: Vec<String> = swept["dropped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect();
        dropped.sort();
        assert_eq!(dropped, [b.clone(), format!("{b}-base")]);
        // Names end in a random hash: compare as sets, not in creation order.
        let mut left = databases_like(&server.url, &prefix).await;
        left.sort();
        let mut kept = vec![
            a.clone(),
            format!("{a}-base"),
            m.clone(),
            format!("{m}-base"),
        ];
        kept.sort();
        assert_eq!(left, kept);
        let listed = env.json("tester", &["list"], 0);
        let mut names: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        names.sort();
        let mut expected = [a.as_str(), m.as_str()];
        expected.sort();
        assert_eq!(names, expected, "the swept sandbox leaves the registry");

        // 5. delete: not another user's sandbox (guard owner, exit 4); one's own, yes.
        let (code, _, stderr) = env.run("tester", &["delete", &m]);
        assert_eq!(code, Some(4), "{stderr}");
        assert!(stderr.contains("guard owner"), "{stderr}");
        env.json("tester", &["delete", &a], 0);
        env.json("mallory", &["delete", &m], 0);
        assert_eq!(
            databases_like(&server.url, &prefix).await,
            Vec::<String>::new()
        );
        let (code, _, stderr) = env.run("tester", &["diff", &a]);
        assert_eq!(
            code,
            Some(2),
            "an unknown sandbox is a usage error: {stderr}"
        );
    }
    .await;
    // Whatever happened, nothing of this test stays on the shared server.
    let admin = drill_tests::connect(&server.url).await;
    for name in databases_like(&server.url, &prefix).await {
        let _ = admin
            .batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await;
    }
    outcome
}
