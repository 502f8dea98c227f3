//! The live dashboard: its page (plain HTML/CSS/JS in `assets/`, compiled into the binary,
//! loading nothing from the network) and `/api/dashboard`, the JSON it refreshes from.

use super::sampler::{dial_split, Sample, HISTORY_INTERVAL};
use super::State;
use crate::render::PeerView;
use qudag_peer::MetricsSnapshot;

const INDEX_HTML: &str = include_str!("assets/index.html");
const DASHBOARD_JS: &str = include_str!("assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("assets/dashboard.css");

/// The page's file at `path`: its content type and text, `None` if there is none.
pub(super) fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/" | "/index.html" => Some(("text/html; charset=utf-8", INDEX_HTML)),
        "/dashboard.js" => Some(("text/javascript; charset=utf-8", DASHBOARD_JS)),
        "/dashboard.css" => Some(("text/css; charset=utf-8", DASHBOARD_CSS)),
        _ => None,
    }
}

/// `/api/dashboard` now: the stored history with the present as its last point; `None` when
/// the node is stopping.
pub(super) async fn current(state: &State) -> Option<serde_json::Value> {
    let (m, peers) = state
        .handle
        .with_node(|n, now| (n.metrics(now), n.peers()))
        .await
        .ok()?;
    let now = crate::util::unix_now_ms();
    // The stored samples, then the present as the last point.
    let mut history = match state.history.lock() {
        Ok(h) => h.samples(),
        Err(_) => Vec::new(),
    };
    history.push(Sample::of(&m, now));
    let peers: Vec<PeerView> = peers.iter().map(PeerView::from_info).collect();
    Some(dashboard_json(
        &state.handle.node_id().to_hex(),
        &m,
        &peers,
        &history,
        now,
    ))
}

/// `/api/dashboard`: everything the page shows.
pub fn dashboard_json(
    node_id: &str,
    m: &MetricsSnapshot,
    peers: &[PeerView],
    history: &[Sample],
    now_ms: u64,
) -> serde_json::Value {
    let (ok, failed) = dial_split(m);
    serde_json::json!({
        "version": 1,
        "node_id": node_id,
        "generated_at_ms": now_ms,
        "metrics": m,
        "peers": peers,
        "dials": { "succeeded": ok, "failed": failed },
        "history": history,
        "history_interval_secs": HISTORY_INTERVAL.as_secs(),
    })
}
