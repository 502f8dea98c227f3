//! A real DNS server for the adapters' conformance cases: `dnsmasq` (Debian's `dnsmasq-base`,
//! installed by `scripts/test.sh`) on a loopback port, serving only the records a test gives.
//!
//! [`dnsmasq_conformance!`](crate::dnsmasq_conformance) expands to a `conformance_dnsmasq`
//! module of tests for an adapter crate, next to the main
//! [`conformance_suite!`](crate::conformance_suite) and invoked the same way. Without a
//! `dnsmasq` binary each case prints "skipped: dnsmasq not installed" and passes.

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The zone every test name lives in; dnsmasq answers NXDOMAIN for names in it it has no
/// record for (and never forwards anything: no upstream servers).
pub const TEST_ZONE: &str = "qudag.test";

/// The `dnsmasq` binary, if installed (searched in `PATH`, then `/usr/sbin` and `/sbin`).
pub fn dnsmasq_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join("dnsmasq"))
        .find(|p| p.is_file())
}

/// A running dnsmasq, killed when dropped.
pub struct Dnsmasq {
    /// Where it answers (UDP, 127.0.0.1).
    pub addr: SocketAddr,
    child: Child,
}

impl Dnsmasq {
    /// Starts dnsmasq on a free loopback port with `records` (dnsmasq options such as
    /// `--txt-record=name,text` (one argument, no shell quoting) or `--host-record=name,ip`) and waits (at most 5 s) until it
    /// answers. `None`, after printing why, when dnsmasq is not installed; panics if it is but
    /// does not come up.
    pub fn start(records: &[String]) -> Option<Dnsmasq> {
        let Some(bin) = dnsmasq_binary() else {
            eprintln!("skipped: dnsmasq not installed");
            return None;
        };
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .expect("a free UDP port")
                .port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let child = Command::new(&bin)
                .args([
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--pid-file=",
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--no-resolv",
                    "--no-hosts",
                    "--no-poll",
                    "--log-facility=-",
                    &format!("--port={port}"),
                    &format!("--local=/{TEST_ZONE}/"),
                ])
                .args(records)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start dnsmasq");
            let mut d = Dnsmasq { addr, child };
            match d.wait_ready(Duration::from_secs(5)) {
                Ok(()) => return Some(d),
                Err(e) => last_err = e,
            }
        }
        panic!("dnsmasq did not come up: {last_err}");
    }

    /// Sends an A query for `ready.<zone>` until any answer comes back.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let probe = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        let mut query = vec![0x51, 0x0d, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in format!("ready.{TEST_ZONE}").split('.') {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 1, 0, 1]);
        let start = Instant::now();
        let mut buf = [0u8; 512];
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(format!("dnsmasq exited ({status}): {err}"));
            }
            let _ = probe.send_to(&query, self.addr);
            if matches!(probe.recv(&mut buf), Ok(n) if n >= 12 && buf[..2] == query[..2]) {
                return Ok(());
            }
        }
        Err(format!("no answer on {} within {limit:?}", self.addr))
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Expands to a `conformance_dnsmasq` module: DNS seed discovery and hostname resolution
/// through a real dnsmasq, for the adapter crate `adapter` (same arguments as
/// [`conformance_suite!`](crate::conformance_suite)).
#[macro_export]
macro_rules! dnsmasq_conformance {
    (adapter: $a:ident, block_on: $block_on:path, sleep: $sleep:path $(,)?) => {
        mod conformance_dnsmasq {
            #[allow(unused_imports)]
            use super::*;
            use ::$a::{spawn, NodeHandle};
            use std::time::{Duration, Instant};
            use $crate::conformance::local_config;
            use $crate::conformance::qudag_peer::addrbook::Source;
            use $crate::conformance::qudag_peer::peer::{Direction, PeerState, Priority};
            use $crate::conformance::qudag_peer::{Config, NodeId};
            use $crate::dnsmasq::{dnsmasq_binary, Dnsmasq};

            fn node(i: u8, f: impl FnOnce(&mut Config)) -> NodeHandle {
                let mut c = local_config(i);
                f(&mut c);
                spawn(c, $crate::keys::identity(u64::from(i))).expect("spawn")
            }

            /// Waits (at most 10 s) until `h` has outbound connections to exactly `want`.
            async fn wait_outbound(h: &NodeHandle, want: &[NodeId]) {
                let mut want = want.to_vec();
                want.sort();
                let start = Instant::now();
                loop {
                    let mut got: Vec<NodeId> = h
                        .peers()
                        .await
                        .into_iter()
                        .filter(|p| {
                            p.status == PeerState::Connected && p.direction == Direction::Outbound
                        })
                        .filter_map(|p| p.id)
                        .collect();
                    got.sort();
                    if got == want {
                        return;
                    }
                    assert!(
                        start.elapsed() < Duration::from_secs(10),
                        "{} dialed {got:?}, wanted {want:?}",
                        h.node_id()
                    );
                    $sleep(Duration::from_millis(20)).await;
                }
            }

            #[test]
            fn dns_seed_discovery_via_dnsmasq() {
                if dnsmasq_binary().is_none() {
                    eprintln!("skipped: dnsmasq not installed");
                    return;
                }
                $block_on(async {
                    let (a, b) = (node(1, |_| {}), node(2, |_| {}));
                    // One TXT string listing both (no shell: dnsmasq would keep quotes).
                    let txt = format!(
                        "--txt-record=seed.qudag.test,{} {}",
                        a.local_addr(),
                        b.local_addr()
                    );
                    let dns = Dnsmasq::start(&[txt]).expect("dnsmasq");
                    // No bootstrap nodes: the seed is the only way to find a and b.
                    let c = node(3, |c| {
                        c.network.dns_resolver = Some(dns.addr);
                        c.network.peers.dns_seeds = vec!["seed.qudag.test".into()];
                        c.network.allow_private_addresses = true;
                    });
                    wait_outbound(&c, &[a.node_id(), b.node_id()]).await;
                    let from_seed = c
                        .with_node(|n, _| {
                            let mut v: Vec<String> = n
                                .address_book()
                                .iter()
                                .filter(|e| e.source == Source::DnsSeed("seed.qudag.test".into()))
                                .map(|e| e.addr.without_id().to_string())
                                .collect();
                            v.sort();
                            v
                        })
                        .await
                        .expect("node");
                    let mut want = vec![a.local_addr().to_string(), b.local_addr().to_string()];
                    want.sort();
                    assert_eq!(from_seed, want);
                    c.shutdown().await;
                    drop(dns);
                });
            }

            #[test]
            fn dns_hostname_via_dnsmasq() {
                if dnsmasq_binary().is_none() {
                    eprintln!("skipped: dnsmasq not installed");
                    return;
                }
                $block_on(async {
                    let a = node(1, |_| {});
                    let ip = a.local_addr().ip();
                    let dns = Dnsmasq::start(&[format!("--host-record=node1.qudag.test,{ip}")])
                        .expect("dnsmasq");
                    let c = node(3, |c| c.network.dns_resolver = Some(dns.addr));
                    let name = format!("node1.qudag.test:{}", a.local_addr().port());
                    assert_eq!(c.add_peer(&name, Priority::Normal).await, Ok(a.node_id()));
                    let peers = c.peers().await;
                    assert_eq!(peers.len(), 1, "{peers:?}");
                    assert_eq!(peers[0].address, a.local_addr());
                    // A name the zone does not have: NXDOMAIN, an error, no connection.
                    let missing = c.add_peer("nowhere.qudag.test:1", Priority::Normal).await;
                    assert!(missing.is_err(), "{missing:?}");
                    assert_eq!(c.peers().await.len(), 1);
                    c.shutdown().await;
                    drop(dns);
                });
            }
        }
    };
}
