//! The demo's HTML report opened in headless Chromium without network access: the browser must
//! see the check table and the history chart with one data point per night and measure.

use std::process::Command;

use drill_tests::cli::run_demo;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(profile: &std::path::Path) -> Command {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: scripts/setup installs the Debian package `chromium`"
    );
    let mut c = Command::new(CHROMIUM);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn the_html_report_renders_its_check_table_and_history_chart_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let html = tmp.path().join("report.html");
    let r = run_demo(&[
        "--rows",
        "5000",
        "--dir",
        dir.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(r["html"], html.to_str().unwrap());
    let source = std::fs::read_to_string(&html).unwrap();
    // Self-contained: no script, stylesheet link, image or font fetched from anywhere.
    for banned in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!source.contains(banned), "report references {banned}");
    }

    let profile = tempfile::tempdir().unwrap();
    let out = chromium(profile.path())
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The check table of the latest night (night 2), with its failed row count check.
    assert!(dom.contains("<table id=\"checks\">"), "{dom}");
    let checks = dom.matches("<tr class=\"check\"").count();
    assert_eq!(
        checks,
        r["nights"][1]["report"]["checks"].as_array().unwrap().len()
    );
    assert!(
        dom.contains("data-status=\"fail\""),
        "no failed check shown"
    );
    assert!(dom.contains("data loss suspected"));
    // The chart: three series (RTO, backup size, rows), a point per night in each.
    assert!(dom.contains("<div class=\"charts\" id=\"charts\">"));
    assert_eq!(dom.matches("<svg").count(), 3, "{dom}");
    assert_eq!(dom.matches("<circle class=\"point\"").count(), 6);
    for series in ["rto", "backup-size", "rows"] {
        assert!(
            dom.contains(&format!("data-series=\"{series}\"")),
            "{series}"
        );
    }
    let rows2 = r["nights"][1]["rows"].as_u64().unwrap();
    assert!(
        dom.contains(&format!("data-night=\"night 2\" data-value=\"{rows2}\"")),
        "night 2's row count is not charted"
    );

    // And it paints: a screenshot of a real page is far larger than a blank one.
    let shot = tmp.path().join("report.png");
    let out = chromium(profile.path())
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,1600")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&shot).unwrap().len();
    assert!(size > 20_000, "screenshot is only {size} bytes");
}
