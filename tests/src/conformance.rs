//! One conformance suite for every runtime adapter.
//!
//! [`conformance_suite!`](crate::conformance_suite) expands to a `conformance` module of
//! `#[test]`s that drive an adapter crate on real loopback TCP and QUIC. Both adapters expose the same
//! shape (`spawn(Config, Identity) -> io::Result<NodeHandle>`, the same handle methods, an
//! `events()` receiver with an async `recv()`), so the suite is written once and instantiated
//! per runtime:
//!
//! ```ignore
//! fn block_on<F: std::future::Future>(f: F) -> F::Output { /* runtime, bounded to 20 s */ }
//! async fn sleep(d: std::time::Duration) { /* runtime timer */ }
//! qudag_peer_tests::conformance_suite!(adapter: qudag_peer_tokio, block_on: block_on, sleep: sleep);
//! ```
//!
//! `block_on` must bound each test (the suite's own waits are bounded too, but a hung future
//! would not be).
//!
//! The core cases (handshake, 3-node mesh, latency, app payload, add/remove, connection
//! limit, graceful shutdown) run over TCP and again over QUIC (`quic_*`: both nodes listen on
//! QUIC via `network.quic_listen` and dial `quic://` addresses), plus two QUIC-only cases: a
//! node without a QUIC listener dialing one, and a dial to a UDP port where nothing listens
//! (UDP gives the client no refusal, so it ends in the core's connect timeout). The black
//! hole, silent peer and connection-refused cases stay TCP-only: they test TCP behaviour
//! (a full accept backlog, a TCP RST); the SOCKS5 cases are TCP-only because SOCKS5
//! CONNECT carries TCP (the core refuses `quic://` with `proxy_all`).
//!
//! About the connect timeout: a listener that is bound but never accepts is no black hole on
//! Linux (the kernel completes the TCP handshake into the backlog). [`BlackHole`] instead
//! listens with a backlog of 0 and fills it, after which the kernel drops further SYNs, so a
//! dial hangs until the core's `connection_timeout`. If the backlog cannot be observed full
//! (another kernel), the test says so and passes without checking.
//!
//! The SOCKS5 tests run a real proxy, `microsocks` (Debian package `microsocks`, installed by
//! `scripts/test.sh`), on a loopback port: [`Microsocks`] starts it and kills it on drop. Where
//! the binary is missing the tests print `skipped: microsocks not installed` and pass.

use qudag_peer::Config;
use socket2::{Domain, Socket, Type};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[doc(hidden)]
pub use qudag_peer;

/// A loopback configuration for node `i` (`127.0.0.<i+1>`, port 0) with short timeouts:
/// 1 s connect and handshake timeouts, 2 s disconnect timeout.
pub fn local_config(i: u8) -> Config {
    let mut c = Config::local(SocketAddr::from(([127, 0, 0, i + 1], 0)));
    let p = &mut c.network.peers;
    p.connection_timeout = Duration::from_secs(1);
    p.handshake_timeout = Duration::from_secs(1);
    p.disconnect_timeout = Duration::from_secs(2);
    c
}

/// A port on 127.0.0.1 where nothing listens (connects are refused).
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr")
}

/// A peer that accepts TCP connections and never says anything. Lives until the process ends.
pub fn silent_peer() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("local addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            held.push(s);
        }
    });
    addr
}

/// A listener whose backlog is full, so new connection attempts get no answer at all.
pub struct BlackHole {
    /// Where to dial.
    pub addr: SocketAddr,
    _listener: Socket,
    _fillers: Vec<TcpStream>,
}

impl BlackHole {
    /// Fills a backlog-0 listener; `None` if further connects were not seen to hang.
    pub fn new() -> Option<BlackHole> {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
        let any: SocketAddr = "127.0.0.1:0".parse().ok()?;
        listener.bind(&any.into()).ok()?;
        listener.listen(0).ok()?;
        let addr = listener.local_addr().ok()?.as_socket()?;
        let mut fillers = Vec::new();
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => fillers.push(s),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Some(BlackHole {
                        addr,
                        _listener: listener,
                        _fillers: fillers,
                    })
                }
                Err(_) => return None,
            }
        }
        None
    }
}

/// A `microsocks` SOCKS5 proxy on a loopback port, killed when dropped.
pub struct Microsocks {
    /// Where the proxy listens (127.0.0.1).
    pub addr: SocketAddr,
    child: Child,
}

impl Microsocks {
    /// The address the proxy's outgoing connections come from (`microsocks -b`): a peer that
    /// sees it knows the connection came through the proxy.
    pub const OUTGOING: [u8; 4] = [127, 0, 0, 9];

    /// Starts `microsocks` on a free loopback port, with username/password authentication
    /// when `auth` is given, and waits (at most 5 s) until it accepts connections. `None`, with
    /// a "skipped" line on stderr, when the binary is not installed.
    pub fn start(auth: Option<(&str, &str)>) -> Option<Microsocks> {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("local addr").port()
        };
        let outgoing = std::net::Ipv4Addr::from(Self::OUTGOING).to_string();
        let mut cmd = Command::new("microsocks");
        cmd.args(["-i", "127.0.0.1", "-p", &port.to_string(), "-b", &outgoing]);
        if let Some((user, pass)) = auth {
            cmd.args(["-u", user, "-P", pass]);
        }
        let child = match cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("skipped: microsocks not installed (scripts/test.sh installs it)");
                return None;
            }
            Err(e) => panic!("cannot start microsocks: {e}"),
        };
        let proxy = Microsocks {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        };
        let start = Instant::now();
        while TcpStream::connect_timeout(&proxy.addr, Duration::from_millis(200)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "microsocks did not listen on {} within 5 s",
                proxy.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(proxy)
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A syntactically valid Tor v3 onion address (no such service is reachable here).
pub const TEST_ONION: &str = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion:8000";

/// Expands to a `conformance` module of tests for the adapter crate `adapter`.
/// `block_on` runs a future to completion (bounded); `sleep` is the runtime's async sleep.
#[macro_export]
macro_rules! conformance_suite {
    (adapter: $a:ident, block_on: $block_on:path, sleep: $sleep:path $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            use ::$a::{spawn, NodeHandle};
            use std::net::SocketAddr;
            use std::time::{Duration, Instant};
            use $crate::conformance::qudag_peer::node::{
                CommandError, Event, IoFailure, PeerError, Stage,
            };
            use $crate::conformance::qudag_peer::peer::{
                Direction, DisconnectReason, PeerState, Priority,
            };
            use $crate::conformance::qudag_peer::socks5::{ReplyCode, Socks5Error};
            use $crate::conformance::qudag_peer::{Config, NodeId, Transport};
            use $crate::conformance::{
                closed_port, local_config, silent_peer, BlackHole, Microsocks, TEST_ONION,
            };

            fn node(i: u8, f: impl FnOnce(&mut Config)) -> NodeHandle {
                let mut c = local_config(i);
                f(&mut c);
                spawn(c, $crate::keys::identity(u64::from(i))).expect("spawn")
            }

            async fn connected(h: &NodeHandle) -> Vec<NodeId> {
                let mut v: Vec<NodeId> = h
                    .peers()
                    .await
                    .into_iter()
                    .filter(|p| p.status == PeerState::Connected)
                    .filter_map(|p| p.id)
                    .collect();
                v.sort();
                v
            }

            /// Waits (at most 10 s) until `h` lists exactly `want` as connected.
            async fn wait_connected(h: &NodeHandle, want: &[NodeId]) {
                let mut want = want.to_vec();
                want.sort();
                let start = Instant::now();
                loop {
                    let got = connected(h).await;
                    if got == want {
                        return;
                    }
                    assert!(
                        start.elapsed() < Duration::from_secs(10),
                        "{} lists {got:?}, wanted {want:?}",
                        h.node_id()
                    );
                    $sleep(Duration::from_millis(20)).await;
                }
            }

            async fn add(from: &NodeHandle, to: &NodeHandle) -> Result<NodeId, PeerError> {
                from.add_peer(&to.local_addr().to_string(), Priority::Normal)
                    .await
            }

            /// `node`, listening on QUIC too (on its loopback IP, port 0) for `Transport::Quic`.
            fn node_via(i: u8, t: Transport, f: impl FnOnce(&mut Config)) -> NodeHandle {
                node(i, |c| {
                    if t == Transport::Quic {
                        c.network.quic_listen = Some(SocketAddr::from(([127, 0, 0, i + 1], 0)));
                    }
                    f(c)
                })
            }

            /// The address to dial `h` at over `t`.
            fn addr_of(h: &NodeHandle, t: Transport) -> String {
                match t {
                    Transport::Quic => format!("quic://{}", h.quic_addr().expect("QUIC listener")),
                    _ => h.local_addr().to_string(),
                }
            }

            async fn add_via(
                from: &NodeHandle,
                to: &NodeHandle,
                t: Transport,
            ) -> Result<NodeId, PeerError> {
                from.add_peer(&addr_of(to, t), Priority::Normal).await
            }

            // The core cases run over TCP (the plain test names) and over QUIC (`quic_`...).
            #[test]
            fn two_nodes_handshake() {
                $block_on(two_nodes_handshake_via(Transport::Tcp));
            }
            #[test]
            fn quic_two_nodes_handshake() {
                $block_on(two_nodes_handshake_via(Transport::Quic));
            }
            #[test]
            fn three_nodes_full_mesh() {
                $block_on(three_nodes_full_mesh_via(Transport::Tcp));
            }
            #[test]
            fn quic_three_nodes_full_mesh() {
                $block_on(three_nodes_full_mesh_via(Transport::Quic));
            }
            #[test]
            fn ping_latency_measured() {
                $block_on(ping_latency_measured_via(Transport::Tcp));
            }
            #[test]
            fn quic_ping_latency_measured() {
                $block_on(ping_latency_measured_via(Transport::Quic));
            }
            #[test]
            fn app_payload_delivered() {
                $block_on(app_payload_delivered_via(Transport::Tcp));
            }
            #[test]
            fn quic_app_payload_delivered() {
                $block_on(app_payload_delivered_via(Transport::Quic));
            }
            #[test]
            fn add_remove_round_trip() {
                $block_on(add_remove_round_trip_via(Transport::Tcp));
            }
            #[test]
            fn quic_add_remove_round_trip() {
                $block_on(add_remove_round_trip_via(Transport::Quic));
            }
            #[test]
            fn connection_limit_refuses_second_dialer() {
                $block_on(connection_limit_refuses_second_dialer_via(Transport::Tcp));
            }
            #[test]
            fn quic_connection_limit_refuses_second_dialer() {
                $block_on(connection_limit_refuses_second_dialer_via(Transport::Quic));
            }
            #[test]
            fn graceful_shutdown_with_acks() {
                $block_on(graceful_shutdown_with_acks_via(Transport::Tcp));
            }
            #[test]
            fn quic_graceful_shutdown_with_acks() {
                $block_on(graceful_shutdown_with_acks_via(Transport::Quic));
            }

            async fn two_nodes_handshake_via(t: Transport) {
                let (a, b) = (node_via(0, t, |_| {}), node_via(1, t, |_| {}));
                assert_eq!(add_via(&b, &a, t).await, Ok(a.node_id()));
                wait_connected(&b, &[a.node_id()]).await;
                wait_connected(&a, &[b.node_id()]).await;
                let (pa, pb) = (a.peers().await, b.peers().await);
                assert_eq!(pa[0].direction, Direction::Inbound);
                assert_eq!((pa[0].transport, pb[0].transport), (t, t));
                assert_eq!(pa[0].listen_addr, Some(b.local_addr()));
                assert_eq!(pa[0].quic_listen_addr, b.quic_addr());
                assert_eq!(pb[0].quic_listen_addr, a.quic_addr());
                a.shutdown().await;
                b.shutdown().await;
            }

            async fn three_nodes_full_mesh_via(t: Transport) {
                let n = [
                    node_via(0, t, |_| {}),
                    node_via(1, t, |_| {}),
                    node_via(2, t, |_| {}),
                ];
                assert_eq!(add_via(&n[1], &n[0], t).await, Ok(n[0].node_id()));
                assert_eq!(add_via(&n[2], &n[0], t).await, Ok(n[0].node_id()));
                assert_eq!(add_via(&n[2], &n[1], t).await, Ok(n[1].node_id()));
                for (i, h) in n.iter().enumerate() {
                    let others: Vec<NodeId> = n
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, o)| o.node_id())
                        .collect();
                    wait_connected(h, &others).await;
                    assert!(h.peers().await.iter().all(|p| p.transport == t));
                }
                for h in &n {
                    h.shutdown().await;
                }
            }

            async fn ping_latency_measured_via(t: Transport) {
                let (a, b) = (node_via(0, t, |_| {}), node_via(1, t, |_| {}));
                add_via(&b, &a, t).await.expect("handshake");
                let start = Instant::now();
                loop {
                    let (pa, pb) = (a.peers().await, b.peers().await);
                    if pa[0].latency.is_some() && pb[0].latency.is_some() {
                        assert!(pb[0].latency.unwrap() < Duration::from_secs(1));
                        break;
                    }
                    assert!(start.elapsed() < Duration::from_secs(5), "no latency");
                    $sleep(Duration::from_millis(20)).await;
                }
            }

            async fn app_payload_delivered_via(t: Transport) {
                let (a, b) = (node_via(0, t, |_| {}), node_via(1, t, |_| {}));
                let mut events = a.events();
                add_via(&b, &a, t).await.expect("handshake");
                b.send_app(a.node_id(), b"hello".to_vec())
                    .await
                    .expect("send");
                loop {
                    match events.recv().await.expect("event") {
                        Event::Message { peer, payload } => {
                            assert_eq!((peer, payload), (b.node_id(), b"hello".to_vec()));
                            break;
                        }
                        _ => continue,
                    }
                }
                let unknown = a.send_app(a.node_id(), vec![1]).await;
                assert!(
                    matches!(unknown, Err(CommandError::UnknownPeer(_))),
                    "{unknown:?}"
                );
            }

            async fn add_remove_round_trip_via(t: Transport) {
                let (a, b) = (node_via(0, t, |_| {}), node_via(1, t, |_| {}));
                add_via(&b, &a, t).await.expect("handshake");
                wait_connected(&a, &[b.node_id()]).await;
                let start = Instant::now();
                assert_eq!(b.remove_peer(&a.node_id().to_hex(), false).await, Ok(()));
                // Acknowledged, so well before the 2 s disconnect timeout.
                assert!(start.elapsed() < Duration::from_millis(1500));
                assert!(b.peers().await.is_empty());
                wait_connected(&a, &[]).await;
                assert!(a.peers().await.is_empty());
                let again = b.remove_peer(&a.node_id().to_hex(), false).await;
                assert!(
                    matches!(again, Err(PeerError::Command(CommandError::UnknownPeer(_)))),
                    "{again:?}"
                );
                // And back again.
                assert_eq!(add_via(&b, &a, t).await, Ok(a.node_id()));
                wait_connected(&a, &[b.node_id()]).await;
            }

            async fn connection_limit_refuses_second_dialer_via(t: Transport) {
                let hub = node_via(0, t, |c| {
                    c.network.peers.max_connections = 1;
                    c.network.peers.min_connections = 1;
                });
                let (x, y) = (node_via(1, t, |_| {}), node_via(2, t, |_| {}));
                assert_eq!(add_via(&x, &hub, t).await, Ok(hub.node_id()));
                let second = add_via(&y, &hub, t).await;
                assert!(
                    matches!(
                        second,
                        Err(PeerError::Refused {
                            reason: DisconnectReason::ConnectionLimitReached,
                            ..
                        })
                    ),
                    "{second:?}"
                );
                wait_connected(&hub, &[x.node_id()]).await;
                assert!(y.peers().await.is_empty());
            }

            async fn graceful_shutdown_with_acks_via(t: Transport) {
                let (a, b) = (node_via(0, t, |_| {}), node_via(1, t, |_| {}));
                add_via(&b, &a, t).await.expect("handshake");
                wait_connected(&a, &[b.node_id()]).await;
                let (mut a_events, mut b_events) = (a.events(), b.events());
                let start = Instant::now();
                a.shutdown().await;
                // Acknowledged, so well before the 2 s disconnect timeout.
                assert!(start.elapsed() < Duration::from_millis(1500));
                let mut a_seen = Vec::new();
                while let Ok(e) = a_events.recv().await {
                    a_seen.push(e);
                }
                assert!(a_seen.contains(&Event::ShutdownComplete), "{a_seen:?}");
                loop {
                    if let Event::PeerDisconnected {
                        peer,
                        reason,
                        by_peer,
                        ..
                    } = b_events.recv().await.expect("event")
                    {
                        assert_eq!(
                            (peer, reason, by_peer),
                            (a.node_id(), DisconnectReason::Shutdown, true)
                        );
                        break;
                    }
                }
                wait_connected(&b, &[]).await;
                assert!(add_via(&b, &a, t).await.is_err());
                assert_eq!(
                    a.add_peer(&addr_of(&b, t), Priority::Normal).await,
                    Err(PeerError::ShuttingDown)
                );
                assert!(a.peers().await.is_empty());
            }

            /// A node without a QUIC listener still dials `quic://` addresses (from a
            /// client-only endpoint); the listener side sees an inbound QUIC connection.
            #[test]
            fn quic_dial_without_quic_listener() {
                $block_on(async {
                    let a = node_via(0, Transport::Quic, |_| {});
                    let b = node(1, |_| {});
                    assert_eq!(b.quic_addr(), None);
                    assert_eq!(add_via(&b, &a, Transport::Quic).await, Ok(a.node_id()));
                    wait_connected(&a, &[b.node_id()]).await;
                    let pa = a.peers().await;
                    assert_eq!(
                        (pa[0].transport, pa[0].direction),
                        (Transport::Quic, Direction::Inbound)
                    );
                    assert_eq!(pa[0].quic_listen_addr, None);
                    // And TCP to the same node still works beside it.
                    let c = node(2, |_| {});
                    assert_eq!(add_via(&c, &a, Transport::Tcp).await, Ok(a.node_id()));
                    wait_connected(&a, &[b.node_id(), c.node_id()]).await;
                    a.shutdown().await;
                });
            }

            /// UDP has no refusal a QUIC client sees: a dial to a port where nothing listens
            /// ends with the core's connect timeout (or a transport error), never a connection.
            #[test]
            fn quic_dial_to_closed_port_fails() {
                $block_on(async {
                    let a = node(0, |_| {});
                    let closed = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
                    let addr = closed.local_addr().expect("local addr");
                    drop(closed);
                    let r = a
                        .add_peer(&format!("quic://{addr}"), Priority::Normal)
                        .await;
                    assert!(
                        matches!(
                            r,
                            Err(PeerError::Timeout(Stage::Connect))
                                | Err(PeerError::ConnectFailed(_))
                        ),
                        "{r:?}"
                    );
                    assert!(a.peers().await.is_empty());
                });
            }

            #[test]
            fn connect_refused_maps_io_failure() {
                $block_on(async {
                    let a = node(0, |_| {});
                    let r = a
                        .add_peer(&closed_port().to_string(), Priority::Normal)
                        .await;
                    assert_eq!(r, Err(PeerError::ConnectFailed(IoFailure::Refused)));
                    assert!(a.peers().await.is_empty());
                });
            }

            #[test]
            fn connect_timeout_against_black_hole() {
                let Some(hole) = BlackHole::new() else {
                    eprintln!("skipped: could not make a black hole (backlog never filled)");
                    return;
                };
                $block_on(async {
                    let a = node(0, |_| {});
                    let start = Instant::now();
                    let r = a.add_peer(&hole.addr.to_string(), Priority::Normal).await;
                    let took = start.elapsed();
                    assert_eq!(r, Err(PeerError::Timeout(Stage::Connect)));
                    assert!(took >= Duration::from_millis(900), "{took:?}");
                    assert!(took < Duration::from_secs(5), "{took:?}");
                    assert!(a.peers().await.is_empty());
                });
            }

            #[test]
            fn handshake_timeout_against_silent_peer() {
                $block_on(async {
                    let a = node(0, |_| {});
                    let silent = silent_peer();
                    let start = Instant::now();
                    let r = a.add_peer(&silent.to_string(), Priority::Normal).await;
                    let took = start.elapsed();
                    assert_eq!(r, Err(PeerError::Timeout(Stage::Handshake)));
                    assert!(took >= Duration::from_millis(900), "{took:?}");
                    assert!(took < Duration::from_secs(5), "{took:?}");
                    assert!(a.peers().await.is_empty());
                });
            }

            #[test]
            fn socks5_proxy_all_reaches_peer() {
                let Some(proxy) = Microsocks::start(None) else {
                    return;
                };
                $block_on(async {
                    let b = node(1, |_| {});
                    let a = node(0, |c| {
                        c.network.proxy = Some(proxy.addr);
                        c.network.proxy_all = true;
                    });
                    assert_eq!(add(&a, &b).await, Ok(b.node_id()));
                    wait_connected(&a, &[b.node_id()]).await;
                    wait_connected(&b, &[a.node_id()]).await;
                    assert_eq!(a.peers().await[0].address, b.local_addr());
                    // B sees the proxy's outgoing address: the bytes went through microsocks.
                    let seen = b.peers().await[0].address.ip();
                    assert_eq!(seen, std::net::IpAddr::from(Microsocks::OUTGOING));
                    // Pings flow through the tunnel.
                    let start = Instant::now();
                    while a.peers().await[0].latency.is_none() {
                        assert!(start.elapsed() < Duration::from_secs(5), "no latency");
                        $sleep(Duration::from_millis(20)).await;
                    }
                    a.shutdown().await;
                    b.shutdown().await;
                });
            }

            #[test]
            fn socks5_refused_target_is_a_clear_error() {
                let Some(proxy) = Microsocks::start(None) else {
                    return;
                };
                $block_on(async {
                    let a = node(0, |c| {
                        c.network.proxy = Some(proxy.addr);
                        c.network.proxy_all = true;
                    });
                    let r = a
                        .add_peer(&closed_port().to_string(), Priority::Normal)
                        .await;
                    let want = PeerError::Proxy(Socks5Error::Reply(ReplyCode::ConnectionRefused));
                    assert_eq!(r, Err(want.clone()));
                    assert!(want.to_string().contains("connection refused"), "{want}");
                    assert!(a.peers().await.is_empty());
                });
            }

            #[test]
            fn socks5_onion_needs_a_proxy_and_goes_as_a_name() {
                $block_on(async {
                    // Without a proxy: refused at once, telling the operator what to set.
                    let a = node(0, |_| {});
                    let start = Instant::now();
                    let r = a.add_peer(TEST_ONION, Priority::Normal).await;
                    assert!(start.elapsed() < Duration::from_millis(500));
                    let Err(e @ PeerError::Command(CommandError::ProxyRequired(_))) = r else {
                        panic!("{r:?}")
                    };
                    assert!(e.to_string().contains("set network.proxy"), "{e}");
                    a.shutdown().await;
                });
                let Some(proxy) = Microsocks::start(None) else {
                    return;
                };
                $block_on(async {
                    // With one: the name goes to the proxy (address type 0x03), which cannot
                    // resolve it here and says so.
                    let a = node(0, |c| {
                        c.network.proxy = Some(proxy.addr);
                        c.network.peers.connection_timeout = Duration::from_secs(15);
                    });
                    let r = a.add_peer(TEST_ONION, Priority::Normal).await;
                    let Err(e @ PeerError::Proxy(Socks5Error::Reply(_))) = r else {
                        panic!("{r:?}")
                    };
                    let text = e.to_string();
                    assert!(
                        text.starts_with("SOCKS5 proxy: the proxy could not connect: "),
                        "{text}"
                    );
                    assert!(a.peers().await.is_empty());
                });
            }

            #[test]
            fn socks5_username_password() {
                let Some(proxy) = Microsocks::start(Some(("qudag", "s3cret"))) else {
                    return;
                };
                $block_on(async {
                    let b = node(1, |_| {});
                    let with = |user: &str, pass: &str| {
                        let (user, pass) = (user.to_string(), pass.to_string());
                        move |c: &mut Config| {
                            c.network.proxy = Some(proxy.addr);
                            c.network.proxy_all = true;
                            c.network.proxy_username = Some(user);
                            c.network.proxy_password = Some(pass);
                        }
                    };
                    // No credentials: the proxy accepts no method we offer.
                    let none = node(0, |c| {
                        c.network.proxy = Some(proxy.addr);
                        c.network.proxy_all = true;
                    });
                    let r = add(&none, &b).await;
                    assert_eq!(
                        r,
                        Err(PeerError::Proxy(Socks5Error::NoAcceptableMethod {
                            offered_auth: false
                        }))
                    );
                    let text = r.unwrap_err().to_string();
                    assert!(text.contains("set network.proxy_username"), "{text}");
                    // Wrong password.
                    let wrong = node(2, with("qudag", "wrong"));
                    let r = add(&wrong, &b).await;
                    assert!(
                        matches!(r, Err(PeerError::Proxy(Socks5Error::AuthFailed(_)))),
                        "{r:?}"
                    );
                    // Right password: through to the peer.
                    let right = node(3, with("qudag", "s3cret"));
                    assert_eq!(add(&right, &b).await, Ok(b.node_id()));
                    wait_connected(&b, &[right.node_id()]).await;
                    for h in [&none, &wrong, &right, &b] {
                        h.shutdown().await;
                    }
                });
            }
        }
    };
}
