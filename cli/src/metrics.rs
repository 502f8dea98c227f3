//! The node's metrics endpoint and live dashboard (`[metrics]` in the configuration).
//!
//! One small HTTP/1.1 server (hyper) on `metrics.listen`, `127.0.0.1:9184` by default:
//!
//! - `GET /metrics`: the core's [`MetricsSnapshot`] in the Prometheus text format (0.0.4),
//!   encoded by `prometheus-client`; every metric is listed in `docs/METRICS.md`.
//! - `GET /`: the dashboard, plain HTML/CSS/JS compiled into the binary, which refreshes from
//! - `GET /api/dashboard`: JSON built from the snapshot, the peer list and a bounded history.
//!
//! Bounded: at most [`MAX_HTTP_CONNECTIONS`] connections at once (more are closed at once),
//! request heads of at most [`MAX_REQUEST_HEAD_BYTES`] bytes and [`MAX_REQUEST_HEADERS`]
//! headers, [`HEADER_READ_TIMEOUT`] to send the head, [`CONNECTION_TIMEOUT`] for the whole
//! exchange, one request per connection. Only `GET` and `HEAD`. A server on loopback answers
//! only requests whose `Host` is an IP address or `localhost` (no DNS rebinding from a web
//! page). Nothing here fetches anything from the network: the page loads only its own files.

use crate::render::PeerView;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use qudag_peer::MetricsSnapshot;
use qudag_peer_tokio::NodeHandle;
use serde::Serialize;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{debug, warn};

/// Most HTTP connections served at once; further ones are closed without an answer.
pub const MAX_HTTP_CONNECTIONS: usize = 16;
/// Largest request head (request line and headers) read, in bytes (hyper's minimum is 8 KiB).
pub const MAX_REQUEST_HEAD_BYTES: usize = 16 * 1024;
/// Most request headers accepted.
pub const MAX_REQUEST_HEADERS: usize = 32;
/// How long a client may take to send the request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one connection may last, request and answer included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the dashboard's history takes a sample.
pub const HISTORY_INTERVAL: Duration = Duration::from_secs(5);
/// Samples the history keeps (at [`HISTORY_INTERVAL`], one hour).
pub const HISTORY_LEN: usize = 720;

/// The Prometheus text format's content type.
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("dashboard/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboard/dashboard.css");

/// The content security policy of every answer: the page may load only its own script, style
/// and JSON.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Peer-connection states always exported (zero when empty) so that dashboards see them.
const STATUSES: [&str; 3] = ["connecting", "handshaking", "connected"];
/// Reputation deciles, always exported.
const DECILES: [&str; 10] = [
    "0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-100",
];

// ---------------------------------------------------------------------------------------------
// Prometheus encoding
// ---------------------------------------------------------------------------------------------

/// The snapshot as a `prometheus-client` collector.
#[derive(Debug)]
struct SnapshotCollector(MetricsSnapshot);

/// A metric family being written: a descriptor and its samples.
struct Family<'e> {
    enc: prometheus_client::encoding::MetricEncoder<'e>,
}

impl Family<'_> {
    fn counter(&mut self, labels: &[(&str, &str)], v: u64) -> std::fmt::Result {
        ConstCounter::new(v).encode(self.enc.encode_family(&labels.to_vec())?)
    }
    fn gauge(&mut self, labels: &[(&str, &str)], v: f64) -> std::fmt::Result {
        ConstGauge::new(v).encode(self.enc.encode_family(&labels.to_vec())?)
    }
    fn gauge_i(&mut self, labels: &[(&str, &str)], v: usize) -> std::fmt::Result {
        let v = i64::try_from(v).unwrap_or(i64::MAX);
        ConstGauge::new(v).encode(self.enc.encode_family(&labels.to_vec())?)
    }
}

fn family<'e>(
    enc: &'e mut DescriptorEncoder<'_>,
    name: &'e str,
    help: &str,
    unit: Option<&'e Unit>,
    kind: MetricType,
) -> Result<Family<'e>, std::fmt::Error> {
    Ok(Family {
        enc: enc.encode_descriptor(name, help, unit, kind)?,
    })
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        use MetricType::{Counter, Gauge};
        let m = &self.0;
        let c = &m.counters;
        let seconds = Unit::Seconds;
        let bytes = Unit::Bytes;

        let mut f = family(
            &mut e,
            "qudag_peers",
            "Live peer connections by state.",
            None,
            Gauge,
        )?;
        for s in STATUSES {
            f.gauge_i(
                &[("status", s)],
                m.peers_by_status.get(s).copied().unwrap_or(0),
            )?;
        }
        for (s, n) in m
            .peers_by_status
            .iter()
            .filter(|(s, _)| !STATUSES.contains(s))
        {
            f.gauge_i(&[("status", *s)], *n)?;
        }
        let mut f = family(
            &mut e,
            "qudag_peers_connected",
            "Connected peers by direction.",
            None,
            Gauge,
        )?;
        for (d, n) in &m.connected_by_direction {
            f.gauge_i(&[("direction", *d)], *n)?;
        }
        family(
            &mut e,
            "qudag_known_addresses",
            "Addresses in the address book.",
            None,
            Gauge,
        )?
        .gauge_i(&[], m.known_addresses)?;
        family(&mut e, "qudag_bans_active", "Active bans.", None, Gauge)?
            .gauge_i(&[], m.active_bans)?;
        let mut f = family(
            &mut e,
            "qudag_peers_by_reputation",
            "Connected peers per reputation decile (range of the 0-100 score).",
            None,
            Gauge,
        )?;
        for d in DECILES {
            f.gauge_i(
                &[("range", d)],
                m.reputation_distribution.get(d).copied().unwrap_or(0),
            )?;
        }

        let labelled = |e: &mut DescriptorEncoder,
                        name: &str,
                        help: &str,
                        label: &str,
                        map: &std::collections::BTreeMap<&'static str, u64>|
         -> std::fmt::Result {
            let mut f = family(e, name, help, None, Counter)?;
            for (k, v) in map {
                f.counter(&[(label, *k)], *v)?;
            }
            Ok(())
        };
        labelled(
            &mut e,
            "qudag_peer_connections",
            "Handshakes completed, by direction.",
            "direction",
            &c.connections,
        )?;
        labelled(
            &mut e,
            "qudag_peer_disconnections",
            "Connected peers that went away, by disconnect reason.",
            "reason",
            &c.disconnections,
        )?;
        labelled(
            &mut e,
            "qudag_handshake_failures",
            "Connections that ended before the handshake completed, by cause.",
            "reason",
            &c.handshake_failures,
        )?;
        labelled(
            &mut e,
            "qudag_inbound_refused",
            "Inbound connections refused before any handshake, by reason.",
            "reason",
            &c.inbound_refused,
        )?;
        family(
            &mut e,
            "qudag_dials",
            "Outbound dials started.",
            None,
            Counter,
        )?
        .counter(&[], c.dials)?;
        labelled(
            &mut e,
            "qudag_dial_outcomes",
            "Outbound dial outcomes.",
            "outcome",
            &c.dial_outcomes,
        )?;
        let mut f = family(
            &mut e,
            "qudag_pex_requests",
            "Peer-exchange requests (GetPeers), sent and received.",
            None,
            Counter,
        )?;
        f.counter(&[("direction", "sent")], c.pex_requests_sent)?;
        f.counter(&[("direction", "received")], c.pex_requests_received)?;
        let mut f = family(
            &mut e,
            "qudag_pex_answers",
            "Peer-exchange answers (Peers): sent, and received and accepted.",
            None,
            Counter,
        )?;
        f.counter(&[("direction", "sent")], c.pex_answers_sent)?;
        f.counter(&[("direction", "received")], c.pex_answers_received)?;
        family(
            &mut e,
            "qudag_pex_refused",
            "Peer-exchange messages refused (over the rate limit, unsolicited).",
            None,
            Counter,
        )?
        .counter(&[], c.pex_refused)?;
        family(
            &mut e,
            "qudag_pex_addresses_learned",
            "Addresses learned from peer-exchange answers.",
            None,
            Counter,
        )?
        .counter(&[], c.pex_addresses_added)?;
        family(
            &mut e,
            "qudag_dns_queries",
            "DNS queries sent (retries included).",
            None,
            Counter,
        )?
        .counter(&[], c.dns_queries)?;
        family(
            &mut e,
            "qudag_dns_failures",
            "DNS questions that failed.",
            None,
            Counter,
        )?
        .counter(&[], c.dns_failures)?;
        labelled(
            &mut e,
            "qudag_bans",
            "Bans added, by origin.",
            "origin",
            &c.bans,
        )?;
        family(
            &mut e,
            "qudag_closed_connection_messages",
            "Frames sent and received by connections that have ended.",
            None,
            Counter,
        )?
        .counter(&[], c.closed_messages)?;
        family(
            &mut e,
            "qudag_closed_connection",
            "Bytes sent and received by connections that have ended.",
            Some(&bytes),
            Counter,
        )?
        .counter(&[], c.closed_bytes)?;

        // The latency histogram (the core keeps per-bucket counts; the encoder accumulates).
        let h = &c.latency;
        let buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(h.counts.iter().copied())
            .collect();
        let mut enc = e.encode_descriptor(
            "qudag_peer_latency",
            "Ping round-trip times.",
            Some(&seconds),
            MetricType::Histogram,
        )?;
        enc.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            h.sum, h.count, &buckets, None,
        )?;

        // Per connected peer.
        let mut f = family(
            &mut e,
            "qudag_peer_messages",
            "Frames sent plus received on the connection to a peer.",
            None,
            Counter,
        )?;
        for p in &m.peers {
            f.counter(&[("peer", p.id.as_str())], p.messages)?;
        }
        let mut f = family(
            &mut e,
            "qudag_peer_sent",
            "Bytes sent to a connected peer.",
            Some(&bytes),
            Counter,
        )?;
        for p in &m.peers {
            f.counter(&[("peer", p.id.as_str())], p.bytes_sent)?;
        }
        let mut f = family(
            &mut e,
            "qudag_peer_received",
            "Bytes received from a connected peer.",
            Some(&bytes),
            Counter,
        )?;
        for p in &m.peers {
            f.counter(&[("peer", p.id.as_str())], p.bytes_received)?;
        }
        let mut f = family(
            &mut e,
            "qudag_peer_rtt",
            "Smoothed ping round trip to a connected peer (peers without a sample are left out).",
            Some(&seconds),
            Gauge,
        )?;
        for p in &m.peers {
            if let Some(l) = p.latency_seconds {
                f.gauge(&[("peer", p.id.as_str())], l)?;
            }
        }
        let mut f = family(
            &mut e,
            "qudag_peer_reputation",
            "Reputation score (0-100) of a connected peer.",
            None,
            Gauge,
        )?;
        for p in &m.peers {
            f.gauge_i(
                &[("peer", p.id.as_str()), ("netgroup", p.netgroup.as_str())],
                p.reputation as usize,
            )?;
        }

        // Netgroup concentration (eclipse risk).
        let conc = &m.concentration;
        let mut f = family(
            &mut e,
            "qudag_netgroup_peers",
            "Connected peers per netgroup.",
            None,
            Gauge,
        )?;
        for (g, n) in &conc.per_netgroup {
            f.gauge_i(&[("netgroup", g.as_str())], *n)?;
        }
        family(
            &mut e,
            "qudag_netgroup_hhi",
            "Herfindahl-Hirschman index of connected peers across netgroups (1 = all in one).",
            None,
            Gauge,
        )?
        .gauge(&[], conc.hhi)?;
        family(
            &mut e,
            "qudag_netgroup_entropy_bits",
            "Shannon entropy of connected peers across netgroups, in bits.",
            None,
            Gauge,
        )?
        .gauge(&[], conc.entropy_bits)?;
        Ok(())
    }
}

/// The snapshot in the Prometheus text format (version 0.0.4).
pub fn encode_prometheus(m: &MetricsSnapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(m.clone())));
    let mut out = String::new();
    // Writing into a String cannot fail; a failure would be an encoder bug: say so in the text.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        out = format!("# encoding failed: {e}\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Dashboard data
// ---------------------------------------------------------------------------------------------

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

fn dial_split(m: &MetricsSnapshot) -> (u64, u64) {
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

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// What the server reads from.
struct State {
    handle: NodeHandle,
    history: Mutex<History>,
    /// Check `Host` (the server listens on loopback).
    check_host: bool,
}

/// The metrics server of a node.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `listen` and serves `/metrics`, `/` and `/api/dashboard` for `handle` until
    /// dropped. The error is the bind failure (the caller warns and goes on without).
    pub async fn start(listen: SocketAddr, handle: NodeHandle) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            handle,
            history: Mutex::new(History::default()),
            check_host: listen.ip().is_loopback(),
        });
        let sampler = tokio::spawn(sample_loop(state.clone()));
        let server = tokio::spawn(accept_loop(listener, state));
        Ok(MetricsServer {
            addr,
            tasks: vec![sampler, server],
        })
    }

    /// The bound address (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn sample_loop(state: Arc<State>) {
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

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HTTP_CONNECTIONS));
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!(
                "metrics endpoint: {MAX_HTTP_CONNECTIONS} connections open; closed one from {from}"
            );
            drop(stream);
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_REQUEST_HEAD_BYTES)
                .max_headers(MAX_REQUEST_HEADERS)
                .keep_alive(false);
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(req, &state).await) }
            });
            match tokio::time::timeout(CONNECTION_TIMEOUT, builder.serve_connection(io, service))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!("metrics endpoint: connection from {from}: {e}"),
                Err(_) => debug!("metrics endpoint: connection from {from} timed out"),
            }
            drop(permit);
        });
    }
}

/// Whether a `Host` header names an IP address or `localhost` (with or without a port).
pub fn host_is_local(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        match rest.split_once(']') {
            Some((ip, tail)) if tail.is_empty() || tail.starts_with(':') => {
                return ip.parse::<std::net::Ipv6Addr>().is_ok()
            }
            _ => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    let mut set = |k: &'static str, v: &str| {
        if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set("content-type", content_type);
    set("cache-control", "no-store");
    set("x-content-type-options", "nosniff");
    set("content-security-policy", CSP);
    set("referrer-policy", "no-referrer");
    r
}

async fn answer(req: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if state.check_host {
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !host_is_local(host) {
            return reply(
                StatusCode::MISDIRECTED_REQUEST,
                TEXT,
                "this endpoint answers only requests for an IP address or localhost\n",
            );
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET and HEAD\n");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    let gone = || {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "the node is stopping\n",
        )
    };
    let mut r = match req.uri().path() {
        "/metrics" => match state.handle.with_node(|n, now| n.metrics(now)).await {
            Ok(m) => reply(
                StatusCode::OK,
                PROMETHEUS_CONTENT_TYPE,
                encode_prometheus(&m),
            ),
            Err(_) => gone(),
        },
        "/api/dashboard" => {
            let got = state
                .handle
                .with_node(|n, now| (n.metrics(now), n.peers()))
                .await;
            match got {
                Ok((m, peers)) => {
                    let now = crate::util::unix_now_ms();
                    // The stored samples, then the present as the last point.
                    let mut history = match state.history.lock() {
                        Ok(h) => h.samples(),
                        Err(_) => Vec::new(),
                    };
                    history.push(Sample::of(&m, now));
                    let peers: Vec<PeerView> = peers.iter().map(PeerView::from_info).collect();
                    let v =
                        dashboard_json(&state.handle.node_id().to_hex(), &m, &peers, &history, now);
                    reply(StatusCode::OK, "application/json", v.to_string())
                }
                Err(_) => gone(),
            }
        }
        "/" | "/index.html" => reply(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML),
        "/dashboard.js" => reply(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            DASHBOARD_JS,
        ),
        "/dashboard.css" => reply(StatusCode::OK, "text/css; charset=utf-8", DASHBOARD_CSS),
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found; try /metrics or /\n",
        ),
    };
    if req.method() == Method::HEAD {
        *r.body_mut() = Full::new(Bytes::new());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for h in [
            "127.0.0.1:9184",
            "localhost:9184",
            "LOCALHOST",
            "[::1]:9184",
            "[::1]",
            "10.1.2.3",
        ] {
            assert!(host_is_local(h), "{h}");
        }
        for h in [
            "evil.example:9184",
            "",
            "[::1]x",
            "localhost.evil.example",
            "[zz]:1",
        ] {
            assert!(!host_is_local(h), "{h}");
        }
    }

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

    fn empty_snapshot() -> MetricsSnapshot {
        let n = qudag_peer::Node::new(
            qudag_peer::Config::local("127.0.0.1:1".parse().unwrap()),
            test_identity(),
            [7; 32],
            std::time::Instant::now(),
            qudag_peer::UnixMillis(1_700_000_000_000),
        );
        n.metrics(std::time::Instant::now())
    }

    fn test_identity() -> qudag_peer::Identity {
        use pqcrypto_traits::sign::{PublicKey as _, SecretKey as _};
        let (pk, sk) = pqcrypto_dilithium::dilithium3::keypair();
        qudag_peer::Identity::from_bytes(pk.as_bytes(), sk.as_bytes()).unwrap()
    }

    #[test]
    fn empty_snapshot_encodes() {
        let text = encode_prometheus(&empty_snapshot());
        assert!(text.contains("# TYPE qudag_peers gauge"), "{text}");
        assert!(
            text.contains("qudag_peers{status=\"connected\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE qudag_peer_latency_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("qudag_peer_latency_seconds_bucket{le=\"+Inf\"} 0"),
            "{text}"
        );
        assert!(text.contains("qudag_dials_total 0"), "{text}");
        assert!(
            text.contains("qudag_peers_by_reputation{range=\"90-100\"} 0"),
            "{text}"
        );
        assert!(!text.contains("encoding failed"), "{text}");
    }

    /// Every exported family name (histograms with their `_bucket`, `_sum`, `_count` series).
    fn exported_names() -> Vec<(String, String)> {
        let text = encode_prometheus(&empty_snapshot());
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                out.push((name.to_string(), kind.to_string()));
            }
        }
        out
    }

    fn series_names() -> Vec<String> {
        let mut names = Vec::new();
        for (name, kind) in exported_names() {
            if kind == "histogram" {
                for s in ["_bucket", "_sum", "_count"] {
                    names.push(format!("{name}{s}"));
                }
            }
            names.push(name);
        }
        names
    }

    /// Every `qudag_…` token of a PromQL expression.
    fn metric_tokens(expr: &str) -> Vec<String> {
        let mut out = Vec::new();
        let b = expr.as_bytes();
        let mut i = 0;
        while let Some(pos) = expr[i..].find("qudag_") {
            let start = i + pos;
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            out.push(expr[start..end].to_string());
            i = end;
        }
        out
    }

    #[test]
    fn grafana_dashboard_uses_only_exported_metrics() {
        let text = include_str!("../../contrib/grafana/qudag-peer.json");
        let v: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        let names = series_names();
        let panels = v["panels"].as_array().expect("panels");
        assert!(panels.len() >= 10);
        let mut used = std::collections::BTreeSet::new();
        for p in panels {
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{}", p["title"]);
            for t in targets {
                let expr = t["expr"].as_str().expect("expr");
                let tokens = metric_tokens(expr);
                assert!(!tokens.is_empty(), "no qudag metric in {expr}");
                for tok in tokens {
                    assert!(names.contains(&tok), "{expr}: {tok} is not exported");
                    used.insert(tok);
                }
            }
        }
        // And every family is on some panel.
        for (name, kind) in exported_names() {
            let on = if kind == "histogram" {
                used.iter().any(|u| u.starts_with(&name))
            } else {
                used.contains(&name)
            };
            assert!(on, "{name} is on no Grafana panel");
        }
    }

    #[test]
    fn every_metric_is_documented() {
        let doc = include_str!("../../docs/METRICS.md");
        for (name, kind) in exported_names() {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/METRICS.md lacks `{name}`"
            );
            assert!(doc.contains(&kind), "{kind}");
        }
        assert!(doc.contains(&format!("{MAX_HTTP_CONNECTIONS}")));
    }

    #[test]
    fn snapshot_figures_are_exported_as_they_are() {
        let mut m = empty_snapshot();
        for v in [0.003, 0.003, 0.2, 7.0] {
            m.counters.latency.observe(v);
        }
        m.counters.dials = 5;
        m.counters.bans.insert("operator", 1);
        m.counters.disconnections.insert("timeout", 2);
        m.concentration = qudag_peer::Concentration::from_groups(["a", "a", "b", "b"]);
        m.reputation_distribution.insert("50-59", 3);
        let text = encode_prometheus(&m);
        for line in [
            "qudag_peer_latency_seconds_bucket{le=\"0.0025\"} 0",
            "qudag_peer_latency_seconds_bucket{le=\"0.005\"} 2",
            "qudag_peer_latency_seconds_bucket{le=\"0.25\"} 3",
            "qudag_peer_latency_seconds_bucket{le=\"5\"} 3",
            "qudag_peer_latency_seconds_bucket{le=\"+Inf\"} 4",
            "qudag_peer_latency_seconds_count 4",
            "qudag_dials_total 5",
            "qudag_bans_total{origin=\"operator\"} 1",
            "qudag_peer_disconnections_total{reason=\"timeout\"} 2",
            "qudag_netgroup_peers{netgroup=\"a\"} 2",
            "qudag_netgroup_hhi 0.5",
            "qudag_netgroup_entropy_bits 1.0",
            "qudag_peers_by_reputation{range=\"50-59\"} 3",
            "qudag_peers_by_reputation{range=\"60-69\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        let sum = text
            .lines()
            .find_map(|l| l.strip_prefix("qudag_peer_latency_seconds_sum "))
            .unwrap();
        assert!((sum.parse::<f64>().unwrap() - 7.206).abs() < 1e-9, "{sum}");
    }
}
