use super::*;

fn at(h: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + h * 3600, 0).unwrap()
}

fn marker(name: &str, owner: &str, expires: i64) -> SandboxMarker {
    SandboxMarker {
        role: Role::Sandbox,
        database: name.into(),
        owner: owner.into(),
        source_id: "learning".into(),
        expires_at: at(expires),
    }
}

fn policy(expired_by: Option<DateTime<Utc>>) -> SandboxDropPolicy {
    SandboxDropPolicy {
        prefix: "rdrill-".into(),
        user: "ana".into(),
        expired_by,
        source_database: "learning".into(),
        session_database: "postgres".into(),
        protected: vec!["rdrill-sbx-keep".into()],
    }
}

fn guards(name: &str, comment: Option<String>, p: &SandboxDropPolicy) -> Vec<String> {
    let f = SandboxDbFacts {
        name: name.into(),
        comment,
        is_template: false,
    };
    check_drop(&f, p)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.guard)
        .collect()
}

const NAME: &str = "rdrill-sbx-learning-202701150800-1234abcd";

#[test]
fn the_owners_sandbox_goes_and_its_base_too() {
    let m = marker(NAME, "ana", 4);
    assert!(guards(NAME, Some(m.comment()), &policy(None)).is_empty());
    let b = m.for_base();
    assert_eq!(b.database, format!("{NAME}-base"));
    assert_eq!(b.role, Role::SandboxBase);
    assert!(guards(&b.database, Some(b.comment()), &policy(None)).is_empty());
    assert_eq!(SandboxMarker::parse(&m.comment()), Some(m));
}

#[test]
fn another_users_sandbox_a_drill_temp_and_a_copied_marker_are_refused() {
    let m = marker(NAME, "bob", 4);
    assert_eq!(guards(NAME, Some(m.comment()), &policy(None)), ["owner"]);
    let temp = crate::tempdb::ownership_marker("d1");
    assert_eq!(guards(NAME, Some(temp), &policy(None)), ["role"]);
    let other = "rdrill-sbx-learning-202701150800-ffffffff";
    let m = marker(NAME, "ana", 4);
    assert_eq!(
        guards(other, Some(m.comment()), &policy(None)),
        ["created-by-drill"]
    );
}

#[test]
fn the_janitor_takes_only_expired_sandboxes() {
    let m = marker(NAME, "ana", 4);
    assert_eq!(
        guards(NAME, Some(m.comment()), &policy(Some(at(3)))),
        ["expiry"]
    );
    assert!(guards(NAME, Some(m.comment()), &policy(Some(at(4)))).is_empty());
}

#[test]
fn production_look_alikes_and_protected_names_are_refused() {
    // The source itself, even if someone gave it the prefix and a marker.
    let mut p = policy(None);
    p.source_database = NAME.into();
    let m = marker(NAME, "ana", 4);
    assert_eq!(guards(NAME, Some(m.comment()), &p), ["not-protected"]);
    assert_eq!(
        guards("learning", None, &policy(None)),
        ["prefix", "role", "not-protected"]
    );
    let keep = marker("rdrill-sbx-keep", "ana", 4);
    assert_eq!(
        guards("rdrill-sbx-keep", Some(keep.comment()), &policy(None)),
        ["not-protected"]
    );
    // A plain drill temp name (no sbx-) is not a sandbox.
    let temp = marker("rdrill-learning-1", "ana", 4);
    assert_eq!(
        guards("rdrill-learning-1", Some(temp.comment()), &policy(None)),
        ["prefix"]
    );
    let f = SandboxDbFacts {
        name: NAME.into(),
        comment: Some(marker(NAME, "ana", 4).comment()),
        is_template: true,
    };
    let refused = check_drop(&f, &policy(None)).unwrap_err();
    assert_eq!(refused[0].guard, "not-template");
}

#[test]
fn names_fit_with_the_base_suffix() {
    let long = "a-very-long-source-identifier-that-goes-on-and-on-forever";
    let n = sandbox_name("rdrill-", long, "x", at(0)).unwrap();
    assert!(base_name(&n).len() <= 63, "{n}");
    assert!(n.starts_with("rdrill-sbx-a-very"), "{n}");
    assert!(!n.contains("--"), "{n}");
    let short = sandbox_name("rdrill-", "learning", "x", at(0)).unwrap();
    assert!(short.starts_with("rdrill-sbx-learning-"), "{short}");
    assert_ne!(
        short,
        sandbox_name("rdrill-", "learning", "y", at(0)).unwrap()
    );
    assert!(sandbox_name("x", "learning", "y", at(0)).is_err());
}

#[test]
fn lifetimes_are_parsed_and_capped() {
    assert_eq!(parse_ttl("4h"), Ok(Duration::hours(4)));
    assert_eq!(parse_ttl("90m"), Ok(Duration::minutes(90)));
    assert_eq!(parse_ttl("1d"), Ok(Duration::days(1)));
    assert!(parse_ttl("4 weeks").is_err());
    assert!(parse_ttl("h").is_err());
    assert_eq!(expiry(at(0), Duration::hours(4), 24), Ok(at(4)));
    assert!(expiry(at(0), Duration::hours(25), 24)
        .unwrap_err()
        .contains("maximum of 24 h"));
    assert!(expiry(at(0), Duration::zero(), 24).is_err());
}

#[test]
fn secret_names_take_the_deployment_prefix_and_refuse_what_secrets_manager_does() {
    assert_eq!(
        secret_name("restore-drill/sandbox/", "rsbx-sbx-app-1").as_deref(),
        Ok("restore-drill/sandbox/rsbx-sbx-app-1")
    );
    for bad in ["", "x/", "no-slash", "with space/", "semi;colon/"] {
        assert!(secret_name(bad, "rsbx-sbx-app-1").is_err(), "{bad:?}");
    }
    assert!(secret_name("rd/", "a b").is_err());
}

#[test]
fn a_secret_goes_only_when_it_is_the_sandboxs_own_and_the_callers() {
    use std::collections::BTreeMap;
    let prefix = "rd/sandbox/";
    let name = "rd/sandbox/rdrill-sbx-learning-1";
    let tags = |owner: &str, expires: i64| -> BTreeMap<String, String> {
        [
            ("drill:role", "sandbox".to_owned()),
            ("drill:owner", owner.to_owned()),
            (
                "drill:expires-at",
                crate::guards::tag::expires_at_value(at(expires)),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    let sandbox = "rdrill-sbx-learning-1";
    let check = |name: &str, tags: &BTreeMap<String, String>, p: &SandboxDropPolicy| {
        check_secret_drop(prefix, sandbox, name, tags, p)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.guard)
            .collect::<Vec<_>>()
    };
    assert!(check(name, &tags("ana", 4), &policy(None)).is_empty());
    assert_eq!(check(name, &tags("bob", 4), &policy(None)), ["owner"]);
    assert_eq!(
        check(
            "rd/sandbox/rdrill-sbx-other",
            &tags("ana", 4),
            &policy(None)
        ),
        ["prefix"]
    );
    assert_eq!(
        check("prod/db-password", &tags("ana", 4), &policy(None)),
        ["prefix"]
    );
    let mut untagged = tags("ana", 4);
    untagged.remove("drill:role");
    assert_eq!(check(name, &untagged, &policy(None)), ["role"]);
    // The janitor: only once the expiry has passed.
    assert_eq!(
        check(name, &tags("ana", 4), &policy(Some(at(3)))),
        ["expiry"]
    );
    assert!(check(name, &tags("ana", 4), &policy(Some(at(4)))).is_empty());
}
