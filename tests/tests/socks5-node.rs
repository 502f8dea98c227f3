//! The SOCKS5 dial path of the node, driven in memory: the test plays the proxy byte by byte.
//! (The same path against a real proxy, `microsocks`, is in the conformance suite.)

use qudag_peer::socks5::{ReplyCode, Socks5Error};
use qudag_peer::Config;
use qudag_peer::{CommandError, Event, Input, Output, PeerError, Stage};
use qudag_peer::{ConnId, Node, UnixMillis};
use qudag_peer::{PeerState, Priority};
use qudag_peer_tests::keys::identity;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const ONION: &str = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
const OK_REPLY: [u8; 10] = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];

fn proxy() -> SocketAddr {
    "127.0.0.1:1080".parse().unwrap()
}

fn node(i: u64, f: impl FnOnce(&mut Config)) -> (Node, Instant) {
    let mut c = Config::local(SocketAddr::from(([127, 0, 0, i as u8 + 1], 8000)));
    c.network.peers.min_connections = 0;
    f(&mut c);
    let now = Instant::now();
    let n = Node::new(
        c,
        identity(i),
        [i as u8; 32],
        now,
        UnixMillis(1_760_000_000_000),
    );
    (n, now)
}

/// Drains the outputs up to the timeout.
fn drain(n: &mut Node) -> Vec<Output> {
    let mut out = Vec::new();
    loop {
        match n.poll_output() {
            Output::Timeout { .. } => return out,
            o => out.push(o),
        }
    }
}

fn transmits(out: &[Output], conn: ConnId) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Transmit { conn: c, bytes } if *c == conn => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

fn dial_of(out: &[Output]) -> (ConnId, SocketAddr) {
    out.iter()
        .find_map(|o| match o {
            Output::Dial { conn, addr, .. } => Some((*conn, *addr)),
            _ => None,
        })
        .expect("a dial")
}

fn add_result(out: &[Output]) -> Option<Result<qudag_peer::NodeId, PeerError>> {
    out.iter().find_map(|o| match o {
        Output::Event(Event::AddPeerFinished { result, .. }) => Some(result.clone()),
        _ => None,
    })
}

fn connect_request(name: &str, port: u16) -> Vec<u8> {
    let mut want = vec![5, 1, 0, 3, name.len() as u8];
    want.extend_from_slice(name.as_bytes());
    want.extend_from_slice(&port.to_be_bytes());
    want
}

#[test]
fn onion_without_proxy_fails_at_once() {
    let (mut a, now) = node(0, |_| {});
    let addr = format!("{ONION}:8000");
    let e = a.add_peer(&addr, Priority::Normal, now).unwrap_err();
    assert!(matches!(e, CommandError::ProxyRequired(_)), "{e:?}");
    assert!(e.to_string().contains("set network.proxy"), "{e}");
    assert!(drain(&mut a)
        .iter()
        .all(|o| !matches!(o, Output::Dial { .. })));
}

#[test]
fn onion_through_proxy_sends_domain_and_maps_the_reply() {
    let (mut a, now) = node(0, |c| c.network.proxy = Some(proxy()));
    let addr = format!("{ONION}:8000");
    a.add_peer(&addr, Priority::Normal, now).unwrap();
    let out = drain(&mut a);
    let (conn, to) = dial_of(&out);
    assert_eq!(to, proxy(), "the onion is dialed through the proxy");
    // A second add of the same onion is a duplicate.
    assert!(matches!(
        a.add_peer(&addr, Priority::Normal, now),
        Err(CommandError::AlreadyConnected(_))
    ));
    a.handle_input(Input::Connected { conn, now });
    assert_eq!(transmits(&drain(&mut a), conn), vec![vec![5, 1, 0]]);
    a.handle_input(Input::Received {
        conn,
        data: &[5, 0],
        now,
    });
    assert_eq!(
        transmits(&drain(&mut a), conn),
        vec![connect_request(ONION, 8000)]
    );
    assert_eq!(a.peers()[0].status, PeerState::Connecting);
    a.handle_input(Input::Received {
        conn,
        data: &[5, 4, 0, 1, 0, 0, 0, 0, 0, 0],
        now,
    });
    let out = drain(&mut a);
    let want = PeerError::Proxy(Socks5Error::Reply(ReplyCode::HostUnreachable));
    assert_eq!(add_result(&out), Some(Err(want.clone())));
    assert!(want.to_string().contains("host unreachable"), "{want}");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Close { conn: c } if *c == conn)));
    // Nothing of ours went to the proxy after its refusal (no Disconnect frame).
    assert!(transmits(&out, conn).is_empty());
    assert!(a.peers().is_empty());
    let entry = a
        .address_book()
        .get(&addr.parse().unwrap())
        .expect("in the book");
    assert_eq!(entry.failures, 1, "a proxy failure is a dial failure");
}

#[test]
fn proxy_all_with_credentials_reaches_a_peer() {
    let (mut b, now) = node(1, |_| {});
    let (mut a, _) = node(0, |c| {
        c.network.proxy = Some(proxy());
        c.network.proxy_all = true;
        c.network.proxy_username = Some("alice".into());
        c.network.proxy_password = Some("s3cret".into());
    });
    let b_addr = b.config().network.listen;
    a.add_peer(&b_addr.to_string(), Priority::Normal, now)
        .unwrap();
    let (conn, to) = dial_of(&drain(&mut a));
    assert_eq!(to, proxy());
    assert_eq!(
        a.peers()[0].address,
        b_addr,
        "the peer's address, not the proxy's"
    );
    a.handle_input(Input::Connected { conn, now });
    assert_eq!(transmits(&drain(&mut a), conn), vec![vec![5, 2, 0, 2]]);
    a.handle_input(Input::Received {
        conn,
        data: &[5, 2],
        now,
    });
    let mut auth = vec![1, 5];
    auth.extend_from_slice(b"alice");
    auth.push(6);
    auth.extend_from_slice(b"s3cret");
    assert_eq!(transmits(&drain(&mut a), conn), vec![auth]);
    a.handle_input(Input::Received {
        conn,
        data: &[1, 0],
        now,
    });
    // IPv4 target: address type 0x01.
    assert_eq!(
        transmits(&drain(&mut a), conn),
        vec![vec![5, 1, 0, 1, 127, 0, 0, 2, 0x1f, 0x40]]
    );
    // The reply arrives split; then the tunnel carries our handshake.
    a.handle_input(Input::Received {
        conn,
        data: &OK_REPLY[..3],
        now,
    });
    assert!(transmits(&drain(&mut a), conn).is_empty());
    a.handle_input(Input::Received {
        conn,
        data: &OK_REPLY[3..],
        now,
    });
    let mut a_to_b: Vec<Vec<u8>> = transmits(&drain(&mut a), conn);
    assert_eq!(a_to_b.len(), 1, "our hello");
    assert_eq!(a.peers()[0].status, PeerState::Handshaking);

    // Pipe A and B together (the proxy's part is done).
    let b_conn = b.accept(SocketAddr::from(([127, 0, 0, 1], 40000)), now);
    let mut result = None;
    for _ in 0..10 {
        for bytes in a_to_b.drain(..) {
            b.handle_input(Input::Received {
                conn: b_conn,
                data: &bytes,
                now,
            });
        }
        for bytes in transmits(&drain(&mut b), b_conn) {
            a.handle_input(Input::Received {
                conn,
                data: &bytes,
                now,
            });
        }
        let out = drain(&mut a);
        result = result.or(add_result(&out));
        a_to_b = transmits(&out, conn);
    }
    assert_eq!(result, Some(Ok(b.node_id())));
    assert_eq!(a.connected_peers(), vec![b.node_id()]);
    assert_eq!(b.connected_peers(), vec![a.node_id()]);
}

#[test]
fn negotiation_runs_under_the_connect_timeout() {
    let (mut a, now) = node(0, |c| c.network.proxy = Some(proxy()));
    a.add_peer(&format!("{ONION}:8000"), Priority::Normal, now)
        .unwrap();
    let (conn, _) = dial_of(&drain(&mut a));
    a.handle_input(Input::Connected { conn, now });
    drain(&mut a);
    // The proxy never answers.
    let later = now + Duration::from_secs(11);
    a.handle_input(Input::Timeout { now: later });
    assert_eq!(
        add_result(&drain(&mut a)),
        Some(Err(PeerError::Timeout(Stage::Connect)))
    );
}

#[test]
fn proxy_without_auth_asks_for_credentials_in_words() {
    let (mut a, now) = node(0, |c| c.network.proxy = Some(proxy()));
    a.add_peer(&format!("{ONION}:8000"), Priority::Normal, now)
        .unwrap();
    let (conn, _) = dial_of(&drain(&mut a));
    a.handle_input(Input::Connected { conn, now });
    drain(&mut a);
    a.handle_input(Input::Received {
        conn,
        data: &[5, 0xff],
        now,
    });
    let Some(Err(e)) = add_result(&drain(&mut a)) else {
        panic!("no failure")
    };
    assert!(e.to_string().contains("set network.proxy_username"), "{e}");
}

#[test]
fn hostnames_go_to_the_proxy_unresolved_with_proxy_all() {
    let (mut a, now) = node(0, |c| {
        c.network.proxy = Some(proxy());
        c.network.proxy_all = true;
    });
    a.add_peer("peer.example.org:8000", Priority::Normal, now)
        .unwrap();
    let out = drain(&mut a);
    assert!(
        out.iter().all(|o| !matches!(o, Output::DnsQuery { .. })),
        "no DNS leak"
    );
    let (conn, to) = dial_of(&out);
    assert_eq!(to, proxy());
    a.handle_input(Input::Connected { conn, now });
    drain(&mut a);
    a.handle_input(Input::Received {
        conn,
        data: &[5, 0],
        now,
    });
    assert_eq!(
        transmits(&drain(&mut a), conn),
        vec![connect_request("peer.example.org", 8000)]
    );
}
