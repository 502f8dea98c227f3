//! The metrics endpoint of the real binary on loopback: `/metrics` scraped from a node with
//! peers matches what happened (and the core's own `peer stats`), parses as Prometheus text;
//! the dashboard JSON, the HTTP limits, and a metrics port already in use (a warning, not a
//! failed start).

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Mirrors of the limits in `qudag_cli::http` (checked equal below).
use qudag_cli::http::{MAX_HTTP_CONNECTIONS, MAX_REQUEST_HEADERS, MAX_REQUEST_HEAD_BYTES};

/// One HTTP/1.1 exchange: `(status code, headers, body)`. `None` when the server closed the
/// connection without an answer.
fn http_raw(addr: &str, request: &[u8]) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may close early (limits): a failed write is then a valid outcome.
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    if buf.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP head");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    Some((code, head.to_string(), body.to_string()))
}

fn get(addr: &str, path: &str) -> (u16, String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    http_raw(addr, req.as_bytes()).expect("an answer")
}

/// Strict checks of the Prometheus text format, then the parse by `prometheus-parse`:
/// every line is a HELP, a TYPE or a sample of a declared family; every value a number.
fn parse_prometheus(text: &str) -> prometheus_parse::Scrape {
    use prometheus_parse::LineInfo;
    let mut families: Vec<(String, String)> = Vec::new();
    let mut sample_lines = 0;
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } => {}
            LineInfo::Type {
                metric_name,
                metric_alias,
                sample_type,
            } => families.push((
                metric_alias.unwrap_or(metric_name),
                format!("{sample_type:?}"),
            )),
            LineInfo::Sample {
                metric_name, value, ..
            } => {
                sample_lines += 1;
                assert!(
                    value.parse::<f64>().is_ok() || value == "+Inf" || value == "NaN",
                    "bad value in {line:?}"
                );
                let declared = families.last().is_some_and(|(f, kind)| {
                    metric_name == f
                        || (kind == "Histogram"
                            && ["_bucket", "_sum", "_count"]
                                .iter()
                                .any(|s| metric_name.strip_suffix(s) == Some(f.as_str())))
                });
                assert!(declared, "sample outside its family: {line:?}");
                assert!(
                    metric_name.starts_with("qudag_"),
                    "not in the qudag namespace: {line:?}"
                );
            }
            LineInfo::Empty => {}
            LineInfo::Ignored => panic!("not Prometheus text: {line:?}"),
        }
    }
    assert!(sample_lines > 0);
    let mut names: Vec<&String> = families.iter().map(|(n, _)| n).collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "a family declared twice");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse")
}

/// The value of `name` with exactly `labels` (a subset match on the given labels).
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    use prometheus_parse::Value;
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(_) | Value::Summary(_) => f64::NAN,
        })
}

fn stats(node: &NodeProc) -> serde_json::Value {
    let o = node.cli(&["peer", "stats", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn scrape_matches_reality() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = quiet_config(tmp.path(), "");
    let cfg = cfg.to_str().unwrap();
    let node = NodeProc::start(&tmp.path().join("main"), &["--config", cfg]);
    let peers: Vec<NodeProc> = (1..=3)
        .map(|i| NodeProc::start(&tmp.path().join(format!("p{i}")), &["--config", cfg]))
        .collect();
    let m = node.metrics.clone().expect("metrics address in status");
    assert!(m.starts_with("127.0.0.1:") && !m.ends_with(":0"), "{m}");
    assert!(
        node.log_text()
            .contains(&format!("Prometheus endpoint http://{m}/metrics")),
        "{}",
        node.log_text()
    );
    let o = node.cli(&["status"]);
    assert!(
        stdout(&o).contains(&format!("http://{m}/metrics")),
        "{}",
        stdout(&o)
    );

    // Before anything: zero peers, zero dials.
    let (code, head, body) = get(&m, "/metrics");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let s = parse_prometheus(&body);
    assert_eq!(
        value(&s, "qudag_peers", &[("status", "connected")]),
        Some(0.0)
    );
    assert_eq!(value(&s, "qudag_dials_total", &[]), Some(0.0));

    // Three connects, then one of them removed with a ban: two connected, one ban.
    for p in &peers {
        let o = node.cli(&["peer", "add", &p.addr]);
        assert!(o.status.success(), "add failed: {}", stderr(&o));
    }
    let o = node.cli(&["peer", "remove", &peers[2].id, "--ban"]);
    assert!(o.status.success(), "remove --ban failed: {}", stderr(&o));

    let (code, _, body) = get(&m, "/metrics");
    assert_eq!(code, 200);
    let s = parse_prometheus(&body);
    let v = |name: &str, labels: &[(&str, &str)]| value(&s, name, labels);
    assert_eq!(
        v("qudag_peers", &[("status", "connected")]),
        Some(2.0),
        "{body}"
    );
    assert_eq!(v("qudag_peers", &[("status", "connecting")]), Some(0.0));
    assert_eq!(v("qudag_peers", &[("status", "handshaking")]), Some(0.0));
    assert_eq!(
        v("qudag_peers_connected", &[("direction", "outbound")]),
        Some(2.0)
    );
    assert_eq!(
        v("qudag_peers_connected", &[("direction", "inbound")]),
        Some(0.0)
    );
    assert_eq!(
        v("qudag_bans_total", &[("origin", "operator")]),
        Some(1.0),
        "{body}"
    );
    assert_eq!(v("qudag_bans_active", &[]), Some(1.0));
    assert_eq!(v("qudag_dials_total", &[]), Some(3.0));
    assert_eq!(
        v("qudag_dial_outcomes_total", &[("outcome", "connected")]),
        Some(3.0)
    );
    assert_eq!(
        v("qudag_peer_connections_total", &[("direction", "outbound")]),
        Some(3.0),
        "{body}"
    );
    let disconnections: f64 = s
        .samples
        .iter()
        .filter(|x| x.metric == "qudag_peer_disconnections_total")
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(c) => c,
            _ => 0.0,
        })
        .sum();
    assert_eq!(disconnections, 1.0, "{body}");
    assert!(v("qudag_known_addresses", &[]).unwrap() >= 3.0, "{body}");
    // Per peer: the two connected ones, each with bytes both ways (the handshake).
    for p in &peers[..2] {
        let sent = v("qudag_peer_sent_bytes_total", &[("peer", &p.id)]).expect("sent");
        let recv = v("qudag_peer_received_bytes_total", &[("peer", &p.id)]).expect("recv");
        assert!(sent > 0.0 && recv > 0.0, "{body}");
        assert!(
            v("qudag_peer_reputation", &[("peer", &p.id)]).is_some(),
            "{body}"
        );
    }
    assert_eq!(
        v("qudag_peer_messages_total", &[("peer", &peers[2].id)]),
        None
    );
    // Netgroups: both peers on 127.0.0.1, one netgroup: HHI 1, entropy 0.
    assert_eq!(v("qudag_netgroup_hhi", &[]), Some(1.0), "{body}");
    assert_eq!(v("qudag_netgroup_entropy_bits", &[]), Some(0.0));
    let per_group: f64 = s
        .samples
        .iter()
        .filter(|x| x.metric == "qudag_netgroup_peers")
        .map(|x| match x.value {
            prometheus_parse::Value::Gauge(c) => c,
            _ => 0.0,
        })
        .sum();
    assert_eq!(per_group, 2.0, "{body}");
    let deciles: f64 = s
        .samples
        .iter()
        .filter(|x| x.metric == "qudag_peers_by_reputation")
        .map(|x| match x.value {
            prometheus_parse::Value::Gauge(c) => c,
            _ => 0.0,
        })
        .sum();
    assert_eq!(deciles, 2.0, "{body}");
    let hist = s
        .samples
        .iter()
        .find(|x| x.metric == "qudag_peer_latency_seconds")
        .expect("latency histogram");
    match &hist.value {
        prometheus_parse::Value::Histogram(b) => {
            assert_eq!(b.len(), 13, "12 bounds and +Inf");
            assert!(b.windows(2).all(|w| w[0].count <= w[1].count), "cumulative");
        }
        other => panic!("latency is not a histogram: {other:?}"),
    }

    // The same figures as the core's own snapshot (`peer stats`), for the counters that
    // nothing moves any more (quiet nodes: no dials of their own, no DNS seeds).
    let st = stats(&node);
    let c = &st["counters"];
    assert_eq!(v("qudag_dials_total", &[]), c["dials"].as_f64());
    assert_eq!(v("qudag_dns_queries_total", &[]), c["dns_queries"].as_f64());
    for (reason, n) in c["disconnections"].as_object().unwrap() {
        assert_eq!(
            v("qudag_peer_disconnections_total", &[("reason", reason)]),
            n.as_f64(),
            "{reason}"
        );
    }

    // The other side sees one inbound connection.
    let pm = peers[0].metrics.clone().expect("peer metrics");
    let (_, _, body) = get(&pm, "/metrics");
    let s1 = parse_prometheus(&body);
    assert_eq!(
        value(
            &s1,
            "qudag_peer_connections_total",
            &[("direction", "inbound")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(&s1, "qudag_peers_connected", &[("direction", "inbound")]),
        Some(1.0)
    );

    // The dashboard's JSON: the same peers.
    let (code, head, body) = get(&m, "/api/dashboard");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("application/json"), "{head}");
    let d: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["node_id"], node.id.as_str());
    let ids: Vec<&str> = d["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{d}");
    for p in &peers[..2] {
        assert!(ids.contains(&p.id.as_str()), "{d}");
    }
    assert_eq!(d["metrics"]["peers_by_status"]["connected"], 2);
    assert_eq!(d["dials"]["succeeded"], 3);
    assert!(!d["history"].as_array().unwrap().is_empty(), "{d}");

    // The page and its files, with no outside references.
    let (code, head, page) = get(&m, "/");
    assert_eq!(code, 200);
    assert!(head.contains("text/html"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-security-policy: default-src 'none'"));
    for path in ["/dashboard.js", "/dashboard.css"] {
        let (code, _, body) = get(&m, path);
        assert_eq!(code, 200, "{path}");
        // No address anywhere but the SVG namespace name (an identifier, never fetched),
        // and the only fetch is of the node's own JSON.
        let rest = body.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !rest.contains("http://") && !rest.contains("https://"),
            "{path}"
        );
        assert!(
            !rest.contains("//cdn") && !rest.contains("@import"),
            "{path}"
        );
        for call in rest.split("fetch(").skip(1) {
            assert!(
                call.starts_with("\"/api/dashboard\""),
                "{path}: fetch({call}"
            );
        }
    }
    assert!(page.contains("/api/dashboard") || page.contains("dashboard.js"));
    assert!(!page.contains("https://"), "{page}");
}

#[test]
fn http_errors_and_limits() {
    assert_eq!(MAX_HTTP_CONNECTIONS, 16);
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("n"), &[]);
    let m = node.metrics.clone().expect("metrics address");

    assert_eq!(get(&m, "/nope").0, 404);
    let (code, head, _) = http_raw(
        &m,
        format!(
            "POST /metrics HTTP/1.1\r\nHost: {m}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 405, "{head}");
    assert!(head.contains("allow: GET, HEAD"), "{head}");
    let (code, _, body) = http_raw(
        &m,
        format!("HEAD /metrics HTTP/1.1\r\nHost: {m}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    assert_eq!((code, body.as_str()), (200, ""));
    // A web page that rebinds a name to 127.0.0.1 sends its own Host: refused.
    let (code, _, _) = http_raw(
        &m,
        b"GET /api/dashboard HTTP/1.1\r\nHost: evil.example:9184\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(code, 421);
    let port = m.rsplit(':').next().unwrap();
    let (code, _, _) = http_raw(
        &m,
        format!("GET /metrics HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 200);

    // Request head size: under the limit is served, over it is refused.
    let with_header = |len: usize| {
        format!(
            "GET /metrics HTTP/1.1\r\nHost: {m}\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(len)
        )
    };
    assert_eq!(
        http_raw(&m, with_header(MAX_REQUEST_HEAD_BYTES / 2).as_bytes())
            .unwrap()
            .0,
        200
    );
    let over = http_raw(&m, with_header(MAX_REQUEST_HEAD_BYTES + 1).as_bytes());
    assert!(over.as_ref().is_none_or(|(c, _, _)| *c == 431), "{over:?}");
    // Header count: at the limit served, beyond it refused.
    let with_headers = |n: usize| {
        let mut r = format!("GET /metrics HTTP/1.1\r\nHost: {m}\r\nConnection: close\r\n");
        for i in 0..n.saturating_sub(2) {
            r.push_str(&format!("X-H{i}: {i}\r\n"));
        }
        r.push_str("\r\n");
        r
    };
    assert_eq!(
        http_raw(&m, with_headers(MAX_REQUEST_HEADERS).as_bytes())
            .unwrap()
            .0,
        200
    );
    let over = http_raw(&m, with_headers(MAX_REQUEST_HEADERS + 1).as_bytes());
    assert!(over.as_ref().is_none_or(|(c, _, _)| *c == 431), "{over:?}");

    // Connections: MAX_HTTP_CONNECTIONS idle ones hold every slot; one more is closed without
    // an answer; the idle ones are still served when they send their request.
    let mut idle: Vec<TcpStream> = (0..MAX_HTTP_CONNECTIONS)
        .map(|_| TcpStream::connect(&m).unwrap())
        .collect();
    // Each holds a slot once the server has accepted it: a partial request line proves it
    // reached the server (written before the extra connection is opened).
    for s in &mut idle {
        s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    }
    let extra = http_raw(
        &m,
        format!("GET /metrics HTTP/1.1\r\nHost: {m}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(extra.is_none(), "served beyond the limit: {extra:?}");
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(format!("Host: {m}\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(
            String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf)
        );
    }
    drop(idle);
    assert_eq!(get(&m, "/metrics").0, 200);
}

#[test]
fn port_in_use_is_a_warning() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("n"), &["--metrics-listen", &addr]);
    // It runs (status answered), without metrics, and says why.
    assert_eq!(node.metrics, None);
    let log = node.log_text();
    assert!(
        log.contains("already in use") && log.contains(&addr),
        "{log}"
    );
    assert!(log.contains("WARN"), "{log}");
    let o = node.cli(&["status"]);
    assert!(
        stdout(&o).contains("Metrics:") && stdout(&o).contains("off"),
        "{}",
        stdout(&o)
    );
    // Peers still work.
    let other = NodeProc::start(&tmp.path().join("o"), &["--no-metrics"]);
    assert_eq!(other.metrics, None);
    assert!(other
        .log_text()
        .contains("metrics endpoint and dashboard are off"));
    let o = node.cli(&["peer", "add", &other.addr]);
    assert!(o.status.success(), "{}", stderr(&o));
    drop(taken);
}

#[test]
fn a_client_that_never_finishes_its_request_is_dropped() {
    use qudag_cli::http::HEADER_READ_TIMEOUT;
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("n"), &[]);
    let m = node.metrics.clone().expect("metrics address");
    let mut s = TcpStream::connect(&m).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    // The server closes it after HEADER_READ_TIMEOUT (maybe with a 408); our own read
    // timeout, far longer, only bounds the test.
    s.set_read_timeout(Some(HEADER_READ_TIMEOUT * 6)).unwrap();
    let mut buf = Vec::new();
    let r = s.read_to_end(&mut buf);
    assert!(r.is_ok(), "the server kept the connection open: {r:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    // The endpoint still serves.
    assert_eq!(get(&m, "/metrics").0, 200);
}
