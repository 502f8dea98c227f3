//! The dashboard's history: every [`HISTORY_INTERVAL`] a [`Sample`] of the node's metrics
//! goes into a bounded ring of [`HISTORY_LEN`] samples (one hour), which `/api/dashboard`
//! sends with the present.

use super::State;
use qudag_peer::MetricsSnapshot;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// How often the dashboard's history takes a sample.
pub const HISTORY_INTERVAL: Duration = Duration::from_secs(5);
/// Samples the history keeps (at [`HISTORY_INTERVAL`], one hour).
pub const HISTORY_LEN: usize = 720;

/// One point of the dashboard's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// Unix time, milliseconds.
    pub t: u64,
    /// Connected peers.
    pub connected: usize,
    /// Mean smoothed round trip of the connected peers that have one, milliseconds.
    pub mean_latency_ms: Option<f64>,
    /// Bytes sent plus received by the live connections.
    pub live_bytes: u64,
    /// Dials that ended connected (cumulative).
    pub dials_ok: u64,
    /// Dials that ended otherwise (cumulative).
    pub dials_failed: u64,
}

impl Sample {
    /// The sample of a snapshot taken at unix time `t` (ms).
    pub fn of(m: &MetricsSnapshot, t: u64) -> Sample {
        let lat: Vec<f64> = m.peers.iter().filter_map(|p| p.latency_seconds).collect();
        let (ok, failed) = dial_split(m);
        Sample {
            t,
            connected: m.peers_by_status.get("connected").copied().unwrap_or(0),
            mean_latency_ms: (!lat.is_empty())
                .then(|| lat.iter().sum::<f64>() * 1000.0 / lat.len() as f64),
            live_bytes: m
                .peers
                .iter()
                .map(|p| p.bytes_sent + p.bytes_received)
                .sum(),
            dials_ok: ok,
            dials_failed: failed,
        }
    }
}

/// Dials that ended connected, and the others (cumulative).
pub(super) fn dial_split(m: &MetricsSnapshot) -> (u64, u64) {
    let o = &m.counters.dial_outcomes;
    let ok = o.get("connected").copied().unwrap_or(0);
    (ok, o.values().sum::<u64>() - ok)
}

/// A bounded ring of samples.
#[derive(Debug, Default)]
pub struct History {
    samples: VecDeque<Sample>,
}

impl History {
    /// Adds a sample, dropping the oldest beyond [`HISTORY_LEN`].
    pub fn push(&mut self, s: Sample) {
        if self.samples.len() >= HISTORY_LEN {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.iter().cloned().collect()
    }
}

/// Samples the node into `state`'s history until the node stops.
pub(super) async fn sample_loop(state: Arc<State>) {
    let mut tick = tokio::time::interval(HISTORY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Ok(m) = state.handle.with_node(|n, now| n.metrics(now)).await else {
            return;
        };
        let s = Sample::of(&m, crate::util::unix_now_ms());
        if let Ok(mut h) = state.history.lock() {
            h.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tests::empty_snapshot;

    #[test]
    fn history_is_bounded() {
        let mut h = History::default();
        let m = empty_snapshot();
        for t in 0..(HISTORY_LEN as u64 + 10) {
            h.push(Sample::of(&m, t));
        }
        let s = h.samples();
        assert_eq!(s.len(), HISTORY_LEN);
        assert_eq!(s[0].t, 10);
        assert_eq!(s[HISTORY_LEN - 1].t, HISTORY_LEN as u64 + 9);
    }
}
