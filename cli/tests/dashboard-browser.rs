//! End to end in a real browser: headless Chromium (Debian's `chromium`, installed by
//! scripts/test.sh) loads the dashboard of a node with two peers, runs its script, and the
//! rendered DOM has the peer rows and the charts; a screenshot is saved under
//! `target/test-artifacts/`. Never skipped: without Chromium the test fails and says how to
//! install it.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long one Chromium run may take before it is killed.
const BROWSER_DEADLINE: Duration = Duration::from_secs(120);

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is needed for the dashboard test and was not found; install it with `apt-get install -y chromium` (scripts/test.sh does)"
    );
}

/// A Chromium command with a fresh profile and nothing that talks to the network by itself.
fn browser(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--metrics-recording-only",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .env_remove("http_proxy")
    .env_remove("https_proxy");
    c
}

fn artifacts_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is target/tmp: its sibling test-artifacts/ keeps the screenshot.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

#[test]
fn dashboard_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = quiet_config(tmp.path(), "");
    let cfg = cfg.to_str().unwrap();
    let node = NodeProc::start(&tmp.path().join("main"), &["--config", cfg]);
    let p1 = NodeProc::start(&tmp.path().join("p1"), &["--config", cfg]);
    let p2 = NodeProc::start(&tmp.path().join("p2"), &["--config", cfg]);
    for p in [&p1, &p2] {
        let o = node.cli(&["peer", "add", &p.addr]);
        assert!(o.status.success(), "add failed: {}", stderr(&o));
    }
    let m = node.metrics.clone().expect("metrics address");
    let url = format!("http://{m}/");

    // The DOM after the page's script has fetched /api/dashboard and drawn everything.
    let mut c = browser(&tmp.path().join("profile-dom"));
    c.arg("--dump-dom").arg(&url);
    let o = run_with_deadline(c, BROWSER_DEADLINE);
    let dom = stdout(&o);
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    assert!(dom.contains("QuDAG node"), "no page: {dom}");
    assert!(
        dom.contains("status ok"),
        "the page did not load its data: {dom}"
    );
    for p in [&p1, &p2] {
        assert!(
            dom.contains(&format!("data-peer-id=\"{}\"", p.id)),
            "no row for peer {}: {dom}",
            p.id
        );
    }
    assert_eq!(dom.matches("class=\"peer-row\"").count(), 2, "{dom}");
    for chart in [
        "chart-peers",
        "chart-latency",
        "chart-reputation",
        "chart-outcomes",
        "chart-bandwidth",
        "chart-netgroups",
    ] {
        assert!(
            dom.contains(&format!("id=\"{chart}\"")),
            "no {chart}: {dom}"
        );
    }
    // Drawn, not empty: bars (reputation deciles, outcomes, bandwidth, netgroups) and the
    // connected-peers line.
    assert!(dom.matches("<rect").count() >= 10, "no bars: {dom}");
    assert!(dom.contains("<polyline"), "no trend line: {dom}");
    assert!(
        dom.contains("data-label=\"dial connected\" data-value=\"2\""),
        "{dom}"
    );
    assert!(
        dom.contains("id=\"v-connected\">2<"),
        "connected count: {dom}"
    );

    // A screenshot at a laptop size, kept as a test artifact.
    let png = artifacts_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    let mut c = browser(&tmp.path().join("profile-shot"));
    c.arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,900")
        .arg("--hide-scrollbars")
        .arg(&url);
    let o = run_with_deadline(c, BROWSER_DEADLINE);
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    let bytes = std::fs::read(&png).expect("the screenshot was written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 900));
    // A blank page compresses to a few kilobytes; the drawn dashboard is far larger.
    assert!(bytes.len() > 20_000, "screenshot of {} bytes", bytes.len());
    eprintln!("dashboard screenshot: {}", png.display());
}
