//! insta snapshots: `peer list` as a table and as JSON from fixed peers (spec 2.2), the ban
//! and address-book tables, `status`, and `--help` of every command.

mod common;
use common::*;
use qudag_cli::render::{self, BanView, KnownView, PeerView, StatusView, Style};
use std::time::Duration;

fn peer(
    id: Option<&str>,
    address: &str,
    status: &str,
    latency: Option<u64>,
    messages: (u64, u64),
    reputation: u32,
) -> PeerView {
    let connected = status == "connected";
    PeerView {
        id: id.map(str::to_string),
        address: address.into(),
        status: status.into(),
        version: connected.then(|| "1".to_string()),
        latency_ms: latency,
        messages_exchanged: messages.0 + messages.1,
        reputation_score: reputation,
        connected_since: connected.then(|| "2024-01-17T10:30:00Z".to_string()),
        last_activity: "2024-01-17T14:45:30Z".into(),
        capabilities: if connected {
            vec!["pex".into()]
        } else {
            vec![]
        },
        direction: "outbound".into(),
        priority: "normal".into(),
        messages_sent: messages.0,
        messages_received: messages.1,
        bytes_sent: messages.0 * 100,
        bytes_received: messages.1 * 100,
        user_agent: if connected {
            "qudag/0.1.0".into()
        } else {
            String::new()
        },
        listen_address: connected.then(|| address.to_string()),
        transport: "tcp".into(),
        quic_listen_address: None,
    }
}

fn fixed_peers() -> Vec<PeerView> {
    vec![
        peer(
            Some("a3f2b1c4d5e6f708192a3b4c5d6e7f808192a3b4c5d6e7f808192a3b4c5d6e7f8"),
            "192.168.1.100:8000",
            "connected",
            Some(15),
            (600, 634),
            85,
        ),
        peer(
            Some("b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f808192a3b4c5d6e7f8091a2b"),
            "10.0.0.50:8000",
            "connected",
            Some(25),
            (300, 267),
            92,
        ),
        peer(None, "172.16.0.10:8000", "connecting", None, (0, 0), 50),
    ]
}

#[test]
fn peer_list_table() {
    insta::assert_snapshot!(render::peer_table(&fixed_peers(), Style::default()));
}

#[test]
fn peer_list_table_empty() {
    insta::assert_snapshot!(render::peer_table(&[], Style::default()));
}

#[test]
fn peer_list_json() {
    let v = render::peer_json(&fixed_peers());
    assert_eq!(v["summary"]["total_peers"], 3);
    assert_eq!(v["summary"]["connected"], 2);
    assert_eq!(v["summary"]["connecting"], 1);
    assert_eq!(v["summary"]["average_reputation"], 75.67);
    insta::assert_snapshot!(serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn ban_and_known_tables() {
    let bans = vec![
        BanView {
            target: "10.0.0.0/8".into(),
            reason: "abuse".into(),
            origin: "operator".into(),
            created: "2024-01-17T10:30:00Z".into(),
            expires: None,
        },
        BanView {
            target: "a3f2b1c4d5e6f708192a3b4c5d6e7f808192a3b4c5d6e7f808192a3b4c5d6e7f8".into(),
            reason: "reputation 8 below 10".into(),
            origin: "automatic".into(),
            created: "2024-01-17T10:30:00Z".into(),
            expires: Some("2024-01-18T10:30:00Z".into()),
        },
    ];
    let known = vec![KnownView {
        address: "192.168.1.100:8000".into(),
        node_id: Some("a3f2b1c4d5e6f708192a3b4c5d6e7f808192a3b4c5d6e7f808192a3b4c5d6e7f8".into()),
        source: "operator".into(),
        first_seen: "2024-01-17T10:30:00Z".into(),
        last_success: Some("2024-01-17T10:30:01Z".into()),
        failures: 0,
    }];
    insta::assert_snapshot!(format!(
        "{}\n{}\n{}",
        render::ban_table(&bans),
        render::known_table(&known),
        serde_json::to_string_pretty(&render::ban_json(&bans)).unwrap()
    ));
}

#[test]
fn status_text() {
    let s = StatusView {
        node_id: "a3f2b1c4d5e6f708192a3b4c5d6e7f808192a3b4c5d6e7f808192a3b4c5d6e7f8".into(),
        listen_address: "0.0.0.0:8000".into(),
        quic_listen_address: Some("quic://0.0.0.0:8001".into()),
        user_agent: "qudag/0.1.0".into(),
        data_dir: "/home/op/.qudag".into(),
        pid: 4242,
        started_at: "2024-01-17T10:30:00Z".into(),
        uptime_secs: 3 * 3600 + 25 * 60 + 7,
        connected: 7,
        inbound: 3,
        outbound: 4,
        connecting: 1,
        handshaking: 0,
        max_connections: 50,
        known_addresses: 120,
        bans: 2,
        metrics_address: Some("127.0.0.1:9184".into()),
    };
    insta::assert_snapshot!(render::status_text(&s));
}

fn help(args: &[&str]) -> String {
    let mut c = qudag();
    c.args(args).arg("--help");
    let o = run_with_deadline(c, Duration::from_secs(30));
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn help_of_every_command() {
    for args in [
        &[][..],
        &["start"],
        &["peer"],
        &["peer", "list"],
        &["peer", "add"],
        &["peer", "remove"],
        &["peer", "ban"],
        &["peer", "unban"],
        &["peer", "info"],
        &["peer", "stats"],
        &["status"],
        &["stop"],
        &["testnet"],
    ] {
        let name = if args.is_empty() {
            "help".to_string()
        } else {
            format!("help_{}", args.join("_"))
        };
        insta::assert_snapshot!(name, help(args));
    }
}
