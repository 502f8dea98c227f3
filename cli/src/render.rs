//! What the operator sees: the views sent over the control socket (plain serde structs, so the
//! client renders without the node's types) and their table and JSON renderings. Everything
//! here is a pure function of its input, so the snapshots in `tests/` use fixed values.

use crate::util::{format_duration, rfc3339, thousands};
use qudag_peer::PeerInfo;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::Duration;

/// The version of every JSON document the CLI prints (`"version"` at the top level).
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// One peer (spec 2.2's JSON fields, then the extended fields of spec 2.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// Full node id (64 hex characters), `null` before the handshake proved it.
    pub id: Option<String>,
    /// Remote socket address.
    pub address: String,
    /// `discovered`, `connecting`, `handshaking`, `connected`, `disconnected`, `failed`.
    pub status: String,
    /// Negotiated protocol version, once connected.
    pub version: Option<String>,
    /// Smoothed ping round trip.
    pub latency_ms: Option<u64>,
    /// Frames sent plus received.
    pub messages_exchanged: u64,
    /// Reputation total, 0–100.
    pub reputation_score: u32,
    /// When the handshake completed (RFC 3339, UTC).
    pub connected_since: Option<String>,
    /// When the last frame arrived (RFC 3339, UTC).
    pub last_activity: String,
    /// Advertised capabilities.
    pub capabilities: Vec<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `high`, `normal` or `low`.
    pub priority: String,
    /// Frames sent.
    pub messages_sent: u64,
    /// Frames received.
    pub messages_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// The peer's software.
    pub user_agent: String,
    /// The address the peer listens on, as it told us.
    pub listen_address: Option<String>,
    /// The transport carrying the connection (`tcp` or `quic`).
    pub transport: String,
    /// The QUIC address the peer listens on, as it told us (`quic://ip:port`).
    pub quic_listen_address: Option<String>,
}

impl PeerView {
    /// The view of a core snapshot.
    pub fn from_info(p: &PeerInfo) -> PeerView {
        let lower = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
        PeerView {
            id: p.id.map(|i| i.to_hex()),
            address: p.address.to_string(),
            status: p.status.as_str().to_string(),
            version: p.version.map(|v| v.to_string()),
            latency_ms: p.latency.map(|l| l.as_millis() as u64),
            messages_exchanged: p.messages_sent + p.messages_received,
            reputation_score: p.reputation,
            connected_since: p.connected_since.map(|t| rfc3339(t.0)),
            last_activity: rfc3339(p.last_activity.0),
            capabilities: p.capabilities.clone(),
            direction: lower(serde_json::to_value(p.direction).unwrap_or_default()),
            priority: lower(serde_json::to_value(p.priority).unwrap_or_default()),
            messages_sent: p.messages_sent,
            messages_received: p.messages_received,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            user_agent: p.user_agent.clone(),
            listen_address: p.listen_addr.map(|a| a.to_string()),
            transport: p.transport.to_string(),
            quic_listen_address: p.quic_listen_addr.map(|a| format!("quic://{a}")),
        }
    }

    fn short_id(&self) -> String {
        match &self.id {
            Some(id) if id.len() > 8 => format!("{}...", &id[..8]),
            Some(id) => id.clone(),
            None => "-".into(),
        }
    }
}

/// `summary` of `peer list --format json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Peers listed.
    pub total_peers: usize,
    /// Of them, connected.
    pub connected: usize,
    /// Of them, connecting or handshaking.
    pub connecting: usize,
    /// Mean reputation of the listed peers (two decimals), 0 when none.
    pub average_reputation: f64,
}

/// Which peers `peer list` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Filter {
    /// Connected peers only.
    Connected,
    /// Every live connection (connecting, handshaking, connected).
    All,
    /// The ban list.
    Banned,
    /// The address book: every known address, connected or not.
    Known,
}

/// The peers a filter keeps.
pub fn filter_peers(peers: Vec<PeerView>, filter: Filter) -> Vec<PeerView> {
    match filter {
        Filter::All => peers,
        Filter::Connected => peers
            .into_iter()
            .filter(|p| p.status == "connected")
            .collect(),
        Filter::Banned | Filter::Known => Vec::new(),
    }
}

/// The summary of a list of peers.
pub fn summarize(peers: &[PeerView]) -> Summary {
    let connected = peers.iter().filter(|p| p.status == "connected").count();
    let connecting = peers
        .iter()
        .filter(|p| p.status == "connecting" || p.status == "handshaking")
        .count();
    let average = if peers.is_empty() {
        0.0
    } else {
        let sum: u64 = peers.iter().map(|p| u64::from(p.reputation_score)).sum();
        (sum as f64 / peers.len() as f64 * 100.0).round() / 100.0
    };
    Summary {
        total_peers: peers.len(),
        connected,
        connecting,
        average_reputation: average,
    }
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// ANSI styling, off unless asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Whether to emit ANSI escapes.
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str, width: usize) -> String {
        let padded = format!("{text:<width$}");
        if self.color {
            format!("\x1b[{code}m{padded}\x1b[0m")
        } else {
            padded
        }
    }
}

/// Spec 2.2's table. Unknown values are `-`.
pub fn peer_table(peers: &[PeerView], style: Style) -> String {
    let header = [
        "Peer ID", "Address", "Status", "Version", "Latency", "Messages",
    ];
    let rows: Vec<[String; 7]> = peers
        .iter()
        .map(|p| {
            [
                p.short_id(),
                p.address.clone(),
                title_case(&p.status),
                p.version.clone().unwrap_or_else(|| "-".into()),
                p.latency_ms
                    .map_or_else(|| "-".into(), |l| format!("{l}ms")),
                thousands(p.messages_exchanged),
                format!("{}/100", p.reputation_score),
            ]
        })
        .collect();
    let mut widths = [11, 20, 11, 7, 7, 8, 10];
    for (i, h) in header.iter().enumerate() {
        widths[i] = widths[i].max(h.len());
    }
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut head = String::new();
    for (i, h) in header.iter().chain(["Reputation"].iter()).enumerate() {
        if i == 6 {
            head.push_str(h);
        } else {
            head.push_str(&format!("{h:<w$}  ", w = widths[i]));
        }
    }
    let _ = writeln!(out, "{}", style.paint("1", &head, 0));
    let total: usize = widths.iter().sum::<usize>() + 2 * 6;
    let _ = writeln!(out, "{}", "─".repeat(total));
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i == 6 {
                line.push_str(cell);
            } else if i == 2 {
                let code = match cell.as_str() {
                    "Connected" => "32",
                    "Connecting" | "Handshaking" => "33",
                    _ => "31",
                };
                line.push_str(&style.paint(code, cell, widths[i]));
                line.push_str("  ");
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if rows.is_empty() {
        let _ = writeln!(out, "(no peers)");
    }
    out
}

/// Spec 2.2's JSON, with `version` and the extended fields.
pub fn peer_json(peers: &[PeerView]) -> serde_json::Value {
    serde_json::json!({
        "version": JSON_SCHEMA_VERSION,
        "peers": peers,
        "summary": summarize(peers),
    })
}

/// One ban as shown to operators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BanView {
    /// Node id, IP address or CIDR subnet.
    pub target: String,
    /// Why.
    pub reason: String,
    /// `operator` or `automatic`.
    pub origin: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// When it ends (RFC 3339), `null` when permanent.
    pub expires: Option<String>,
}

impl BanView {
    /// The view of a core ban record.
    pub fn from_ban(b: &qudag_peer::Ban) -> BanView {
        BanView {
            target: b.target.to_string(),
            reason: b.reason.clone(),
            origin: serde_json::to_value(b.origin)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{:?}", b.origin).to_lowercase()),
            created: rfc3339(b.created.0),
            expires: b.expires.map(|e| rfc3339(e.0)),
        }
    }
}

/// The ban list as a table.
pub fn ban_table(bans: &[BanView]) -> String {
    let mut out = String::new();
    let tw = bans
        .iter()
        .map(|b| b.target.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let _ = writeln!(
        out,
        "{:<tw$}  {:<9}  {:<20}  {:<20}  Reason",
        "Target", "Origin", "Created", "Expires"
    );
    let _ = writeln!(out, "{}", "─".repeat(tw + 2 + 9 + 2 + 20 + 2 + 20 + 2 + 6));
    for b in bans {
        let _ = writeln!(
            out,
            "{:<tw$}  {:<9}  {:<20}  {:<20}  {}",
            b.target,
            b.origin,
            b.created,
            b.expires.as_deref().unwrap_or("never"),
            b.reason
        );
    }
    if bans.is_empty() {
        let _ = writeln!(out, "(no bans)");
    }
    out
}

/// The ban list as JSON.
pub fn ban_json(bans: &[BanView]) -> serde_json::Value {
    serde_json::json!({ "version": JSON_SCHEMA_VERSION, "bans": bans, "summary": { "total_bans": bans.len() } })
}

/// `qudag status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// This node's id.
    pub node_id: String,
    /// The address it listens on.
    pub listen_address: String,
    /// The UDP address it accepts QUIC on (`network.quic_listen`), if any.
    #[serde(default)]
    pub quic_listen_address: Option<String>,
    /// The software.
    pub user_agent: String,
    /// The data directory.
    pub data_dir: String,
    /// The node's process id.
    pub pid: u32,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Connected peers.
    pub connected: usize,
    /// Of them, inbound.
    pub inbound: usize,
    /// Of them, outbound.
    pub outbound: usize,
    /// Dials in progress.
    pub connecting: usize,
    /// Handshakes in progress.
    pub handshaking: usize,
    /// `max_connections`.
    pub max_connections: usize,
    /// Addresses in the address book.
    pub known_addresses: usize,
    /// Active bans.
    pub bans: usize,
    /// Where the Prometheus endpoint and dashboard are served (`null` when off or the port
    /// was taken).
    pub metrics_address: Option<String>,
}

/// `qudag status` as text.
pub fn status_text(s: &StatusView) -> String {
    let mut out = String::new();
    let rows = [
        ("Node ID", s.node_id.clone()),
        ("Listening on", s.listen_address.clone()),
        (
            "QUIC on",
            s.quic_listen_address
                .clone()
                .unwrap_or_else(|| "- (network.quic_listen not set)".into()),
        ),
        ("Version", s.user_agent.clone()),
        ("Data dir", s.data_dir.clone()),
        ("PID", s.pid.to_string()),
        (
            "Uptime",
            format!(
                "{} (since {})",
                format_duration(Duration::from_secs(s.uptime_secs)),
                s.started_at
            ),
        ),
        (
            "Peers",
            format!(
                "{} connected ({} inbound, {} outbound), {} connecting, {} handshaking; max {}",
                s.connected, s.inbound, s.outbound, s.connecting, s.handshaking, s.max_connections
            ),
        ),
        ("Known addresses", s.known_addresses.to_string()),
        ("Bans", s.bans.to_string()),
        (
            "Metrics",
            match &s.metrics_address {
                Some(a) => format!("http://{a}/metrics, dashboard http://{a}/"),
                None => "off".to_string(),
            },
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "{:<16} {v}", format!("{k}:"));
    }
    out
}

/// `qudag peer info`: the connection (if any), the reputation components and recent history.
pub fn info_text(info: &serde_json::Value) -> String {
    let mut out = String::new();
    let str_of = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) if a.is_empty() => "-".to_string(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    if let Some(id) = info.get("node_id").and_then(|v| v.as_str()) {
        let _ = writeln!(out, "{:<20} {id}", "Peer ID:");
    }
    match info.get("peer") {
        Some(serde_json::Value::Object(p)) => {
            for (label, key) in [
                ("Address:", "address"),
                ("Status:", "status"),
                ("Direction:", "direction"),
                ("Priority:", "priority"),
                ("Version:", "version"),
                ("User agent:", "user_agent"),
                ("Capabilities:", "capabilities"),
                ("Listen address:", "listen_address"),
                ("Connected since:", "connected_since"),
                ("Last activity:", "last_activity"),
                ("Latency (ms):", "latency_ms"),
                ("Messages sent:", "messages_sent"),
                ("Messages received:", "messages_received"),
                ("Bytes sent:", "bytes_sent"),
                ("Bytes received:", "bytes_received"),
            ] {
                let v = p.get(key).cloned().unwrap_or_default();
                let _ = writeln!(out, "{label:<20} {}", str_of(&v));
            }
        }
        _ => {
            let _ = writeln!(out, "{:<20} not connected", "Status:");
        }
    }
    if let Some(r) = info.get("reputation") {
        let g = |k: &str| r.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let _ = writeln!(out, "{:<20} {}/100", "Reputation:", g("total"));
        let _ = writeln!(
            out,
            "  uptime {}  latency {}  validity {}  consensus {}  relay {}  penalty -{}",
            g("uptime"),
            g("latency"),
            g("validity"),
            g("consensus"),
            g("relay"),
            g("penalty")
        );
    }
    if let Some(serde_json::Value::Array(h)) = info.get("history") {
        let _ = writeln!(out, "Recent reputation changes (oldest first):");
        if h.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for c in h {
            let at = c
                .get("at")
                .and_then(|v| v.as_u64())
                .map_or_else(String::new, rfc3339);
            let delta = c.get("delta").and_then(|v| v.as_f64()).unwrap_or(0.0);
            let count = c.get("count").and_then(|v| v.as_u64()).unwrap_or(1);
            let _ = writeln!(
                out,
                "  {at}  {:<10} {delta:+.2}  {}{}",
                str_of(c.get("component").unwrap_or(&serde_json::Value::Null)),
                str_of(c.get("reason").unwrap_or(&serde_json::Value::Null)),
                if count > 1 {
                    format!(" (x{count})")
                } else {
                    String::new()
                }
            );
        }
    }
    if let Some(b) = info.get("ban").filter(|b| !b.is_null()) {
        let _ = writeln!(
            out,
            "{:<20} {}",
            "Banned:",
            str_of(b.get("reason").unwrap_or(&serde_json::Value::Null))
        );
    }
    out
}

/// One address-book entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnownView {
    /// The address (with a pinned id if it came with one).
    pub address: String,
    /// The node id proven there, if any.
    pub node_id: Option<String>,
    /// Where it was learned: `config`, `bootstrap`, `dns_seed`, `pex`, `operator`.
    pub source: String,
    /// When it was first learned (RFC 3339).
    pub first_seen: String,
    /// When a dial last completed a handshake (RFC 3339).
    pub last_success: Option<String>,
    /// Consecutive failed dials.
    pub failures: u32,
}

impl KnownView {
    /// The view of an address-book record.
    pub fn from_entry(e: &qudag_peer::AddrBookEntry) -> KnownView {
        let source = serde_json::to_value(&e.source)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        KnownView {
            address: e.addr.to_string(),
            node_id: e.node_id.map(|n| n.to_hex()),
            source,
            first_seen: rfc3339(e.first_seen.0),
            last_success: e.last_success.map(|t| rfc3339(t.0)),
            failures: e.failures,
        }
    }
}

/// The address book as a table.
pub fn known_table(known: &[KnownView]) -> String {
    let mut out = String::new();
    let aw = known
        .iter()
        .map(|k| k.address.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let _ = writeln!(
        out,
        "{:<aw$}  {:<11}  {:<9}  {:<20}  Failures",
        "Address", "Peer ID", "Source", "Last success"
    );
    let _ = writeln!(out, "{}", "─".repeat(aw + 2 + 11 + 2 + 9 + 2 + 20 + 2 + 8));
    for k in known {
        let id = k.node_id.as_deref().map_or_else(
            || "-".to_string(),
            |i| format!("{}...", &i[..8.min(i.len())]),
        );
        let _ = writeln!(
            out,
            "{:<aw$}  {:<11}  {:<9}  {:<20}  {}",
            k.address,
            id,
            k.source,
            k.last_success.as_deref().unwrap_or("-"),
            k.failures
        );
    }
    if known.is_empty() {
        let _ = writeln!(out, "(no known addresses)");
    }
    out
}

/// The address book as JSON.
pub fn known_json(known: &[KnownView]) -> serde_json::Value {
    serde_json::json!({ "version": JSON_SCHEMA_VERSION, "known": known, "summary": { "total_known": known.len() } })
}

/// `peer stats` as text, from the node's metrics snapshot (JSON of
/// `qudag_peer::MetricsSnapshot`).
pub fn stats_text(m: &serde_json::Value) -> String {
    use serde_json::Value;
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let labelled = |v: &Value| -> String {
        match v.as_object() {
            Some(o) if !o.is_empty() => o
                .iter()
                .map(|(k, c)| format!("{k} {}", n(c)))
                .collect::<Vec<_>>()
                .join(", "),
            _ => "none".to_string(),
        }
    };
    let c = &m["counters"];
    let lat = &c["latency"];
    let samples = n(&lat["count"]);
    let mean = if samples > 0 {
        format!(
            "mean {:.1} ms",
            lat["sum"].as_f64().unwrap_or(0.0) * 1000.0 / samples as f64
        )
    } else {
        "no samples".to_string()
    };
    let conc = &m["concentration"];
    let rows: Vec<(&str, String)> = vec![
        (
            "Peers",
            format!(
                "{} live: connected {} (inbound {}, outbound {}), connecting {}, handshaking {}",
                n(&m["total_peers"]),
                n(&m["peers_by_status"]["connected"]),
                n(&m["connected_by_direction"]["inbound"]),
                n(&m["connected_by_direction"]["outbound"]),
                n(&m["peers_by_status"]["connecting"]),
                n(&m["peers_by_status"]["handshaking"]),
            ),
        ),
        ("Known addresses", n(&m["known_addresses"]).to_string()),
        ("Active bans", n(&m["active_bans"]).to_string()),
        ("Connections", labelled(&c["connections"])),
        ("Disconnections", labelled(&c["disconnections"])),
        ("Failed attempts", labelled(&c["handshake_failures"])),
        ("Inbound refused", labelled(&c["inbound_refused"])),
        ("Dials", format!("{} started; {}", n(&c["dials"]), labelled(&c["dial_outcomes"]))),
        (
            "Peer exchange",
            format!(
                "asked {}, was asked {}, answered {}, answers used {}, refused {}, addresses learned {}",
                n(&c["pex_requests_sent"]),
                n(&c["pex_requests_received"]),
                n(&c["pex_answers_sent"]),
                n(&c["pex_answers_received"]),
                n(&c["pex_refused"]),
                n(&c["pex_addresses_added"]),
            ),
        ),
        ("DNS", format!("{} queries, {} failed", n(&c["dns_queries"]), n(&c["dns_failures"]))),
        ("Bans added", labelled(&c["bans"])),
        ("Latency", format!("{samples} samples, {mean}")),
        ("Reputation", labelled(&m["reputation_distribution"])),
        (
            "Netgroups",
            format!(
                "{} groups, HHI {:.2}, entropy {:.2} bits",
                conc["per_netgroup"].as_object().map_or(0, |o| o.len()),
                conc["hhi"].as_f64().unwrap_or(0.0),
                conc["entropy_bits"].as_f64().unwrap_or(0.0),
            ),
        ),
    ];
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{:<17}{v}\n", format!("{k}:")));
    }
    out
}
