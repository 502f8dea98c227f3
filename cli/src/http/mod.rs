//! The node's metrics endpoint and live dashboard (`[metrics]` in the configuration).
//!
//! One small HTTP/1.1 server (hyper) on `metrics.listen`, `127.0.0.1:9184` by default:
//!
//! - `GET /metrics`: the core's [`MetricsSnapshot`] in the Prometheus text format (0.0.4),
//!   encoded by `prometheus-client` ([`prometheus`]); every metric is listed in
//!   `docs/METRICS.md`.
//! - `GET /`: the dashboard ([`dashboard`]), plain HTML/CSS/JS compiled into the binary,
//!   which refreshes from
//! - `GET /api/dashboard`: JSON built from the snapshot, the peer list and a bounded history
//!   ([`sampler`]).
//!
//! Bounded: at most [`MAX_HTTP_CONNECTIONS`] connections at once (more are closed at once),
//! request heads of at most [`MAX_REQUEST_HEAD_BYTES`] bytes and [`MAX_REQUEST_HEADERS`]
//! headers, [`HEADER_READ_TIMEOUT`] to send the head, [`CONNECTION_TIMEOUT`] for the whole
//! exchange, one request per connection. Only `GET` and `HEAD`. A server on loopback answers
//! only requests whose `Host` is an IP address or `localhost` (no DNS rebinding from a web
//! page). Nothing here fetches anything from the network: the page loads only its own files.
//!
//! [`MetricsSnapshot`]: qudag_peer::MetricsSnapshot

pub mod dashboard;
pub mod prometheus;
pub mod sampler;

pub use dashboard::dashboard_json;
pub use prometheus::{encode_prometheus, PROMETHEUS_CONTENT_TYPE};
pub use sampler::{History, Sample, HISTORY_INTERVAL, HISTORY_LEN};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use qudag_peer_tokio::NodeHandle;
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

/// The content security policy of every answer: the page may load only its own script, style
/// and JSON.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

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
        let sampler = tokio::spawn(sampler::sample_loop(state.clone()));
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
        "/api/dashboard" => match dashboard::current(state).await {
            Some(v) => reply(StatusCode::OK, "application/json", v.to_string()),
            None => gone(),
        },
        path => match dashboard::asset(path) {
            Some((content_type, body)) => reply(StatusCode::OK, content_type, body),
            None => reply(
                StatusCode::NOT_FOUND,
                TEXT,
                "not found; try /metrics or /\n",
            ),
        },
    };
    if req.method() == Method::HEAD {
        *r.body_mut() = Full::new(Bytes::new());
    }
    r
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use qudag_peer::MetricsSnapshot;

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

    /// The metrics of a new node.
    pub(crate) fn empty_snapshot() -> MetricsSnapshot {
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
}
