//! Outbound dials: the checks every dial passes (bans, room, duplicates, pending dials),
//! hostname resolution through the core's DNS client, and the SOCKS5 path for proxied targets.

use super::{move_state, CommandError, DnsPurpose, Event, Node, Output, PeerError};
use crate::addr::{Host, PeerAddress, Transport};
use crate::addrbook::{AddOutcome, Source};
use crate::dns::{DnsOutcome, QueryKind};
use crate::id::RequestId;
use crate::peer::{Direction, PeerState, Priority};
use crate::pool::Conn;
use crate::socks5::{Socks5Client, Target as SocksTarget};
use core::net::SocketAddr;
use std::time::Instant;

impl Node {
    /// The checks every dial passes: not already connected to that address over that
    /// transport, room in the pool (a high-priority dial may evict), not too many dials in
    /// flight.
    pub(super) fn check_dial(
        &mut self,
        sock: SocketAddr,
        transport: Transport,
        priority: Priority,
    ) -> Result<(), CommandError> {
        if let Some(why) = self.ban_of(Some(sock.ip()), None, self.now) {
            return Err(CommandError::Blacklisted(why));
        }
        let listen = |c: &Conn| match transport {
            Transport::Quic => c.session.quic_listen_addr,
            _ => c.session.listen_addr,
        };
        if self.pool.iter().any(|c| {
            (c.link.transport == transport && c.link.remote == sock) || listen(c) == Some(sock)
        }) {
            return Err(CommandError::AlreadyConnected(sock.to_string()));
        }
        self.check_room(priority)
    }

    /// [`Node::check_dial`] for a name the proxy resolves (no socket address to compare).
    pub(super) fn check_proxied_dial(
        &mut self,
        addr: &PeerAddress,
        priority: Priority,
    ) -> Result<(), CommandError> {
        let key = addr.without_id();
        if self.pool.iter().any(|c| {
            c.link
                .dial_addr
                .as_ref()
                .is_some_and(|d| d.without_id() == key)
        }) {
            return Err(CommandError::AlreadyConnected(key.to_string()));
        }
        self.check_room(priority)
    }

    /// Room among the long-lived slots (a high-priority dial may evict) and not too many dials
    /// in flight.
    pub(super) fn check_room(&mut self, priority: Priority) -> Result<(), CommandError> {
        let full = |n: &Self| n.pool.is_full() || n.pool.long_lived() >= n.pool.long_lived_cap();
        if full(self)
            && !(priority == Priority::High && self.evict_for_high_priority() && !full(self))
        {
            return Err(CommandError::ConnectionLimitReached {
                max: self.pool.max_connections,
            });
        }
        if self.pool.pending_dials() >= self.pool.max_pending_dials {
            return Err(CommandError::TooManyPendingDials {
                max: self.pool.max_pending_dials,
            });
        }
        Ok(())
    }

    /// Asks the resolver for a hostname's A and AAAA records, to dial the first usable address.
    pub(super) fn resolve(
        &mut self,
        target: PeerAddress,
        request: Option<RequestId>,
        priority: Priority,
        now: Instant,
    ) -> Result<(), CommandError> {
        let Host::Domain(name) = &target.host else {
            return Ok(());
        };
        let name = name.clone();
        for kind in [QueryKind::A, QueryKind::Aaaa] {
            let purpose = DnsPurpose::Resolve {
                target: target.clone(),
                request,
                priority,
            };
            self.ask_dns(&name, kind, purpose, now)
                .map_err(|why| CommandError::Dns {
                    host: name.clone(),
                    why,
                })?;
        }
        Ok(())
    }

    /// Starts a DNS question, or joins the identical one already in flight.
    pub(super) fn ask_dns(
        &mut self,
        name: &str,
        kind: QueryKind,
        purpose: DnsPurpose,
        now: Instant,
    ) -> Result<(), String> {
        let key = (name.to_ascii_lowercase(), kind);
        if let Some(v) = self.dns_purposes.get_mut(&key) {
            v.push(purpose);
            return Ok(());
        }
        let (id, bytes) = self
            .dns
            .start(name, kind, now, &mut self.rng)
            .map_err(|e| e.to_string())?;
        self.dns_purposes.insert(key, vec![purpose]);
        self.counters.dns_queries += 1;
        let server = self.config.network.dns_resolver;
        self.outbox.push(Output::DnsQuery { id, server, bytes });
        Ok(())
    }

    pub(super) fn resolving(&self, target: &PeerAddress) -> bool {
        self.dns_purposes.values().flatten().any(
            |p| matches!(p, DnsPurpose::Resolve { target: t, .. } if t.without_id() == target.without_id()),
        )
    }

    pub(super) fn on_dns(&mut self, outcome: DnsOutcome, now: Instant) {
        match outcome {
            DnsOutcome::Txt { name, records, ttl } => {
                let key = (name.to_ascii_lowercase(), QueryKind::Txt);
                if self.dns_purposes.remove(&key).is_none() {
                    return;
                }
                let unix = self.clock.unix(now);
                let (mut added, mut refused) = (0, 0);
                for token in crate::dns::txt_records_to_address_strings(&records) {
                    match PeerAddress::parse(&token) {
                        Ok(a) if self.in_scope(&a) => {
                            match self.book.add(
                                a,
                                Source::DnsSeed(name.clone()),
                                unix,
                                &mut self.rng,
                            ) {
                                AddOutcome::Added => added += 1,
                                AddOutcome::Refreshed => {}
                                _ => refused += 1,
                            }
                        }
                        _ => refused += 1,
                    }
                }
                let wait = ttl.max(self.config.network.peers.discovery_interval);
                self.seed_next.insert(name.clone(), now + wait);
                self.outbox.event(Event::SeedResult {
                    seed: name,
                    result: Ok((added, refused)),
                });
            }
            DnsOutcome::Addresses {
                name, kind, ips, ..
            } => {
                if ips.is_empty() {
                    return self.on_dns_failed(&name, kind, "no addresses", now);
                }
                let purposes = self
                    .dns_purposes
                    .remove(&(name.to_ascii_lowercase(), kind))
                    .unwrap_or_default();
                for p in purposes {
                    if let DnsPurpose::Resolve {
                        target,
                        request,
                        priority,
                    } = p
                    {
                        self.dial_resolved(target, &ips, request, priority, now);
                    }
                }
            }
            DnsOutcome::NxDomain { name, kind } => {
                self.on_dns_failed(&name, kind, "no such domain (NXDOMAIN)", now)
            }
            DnsOutcome::ServFail { name, kind } => {
                self.on_dns_failed(&name, kind, "the resolver failed (SERVFAIL)", now)
            }
            DnsOutcome::Truncated { name, kind } => {
                self.on_dns_failed(&name, kind, "the answer was truncated", now)
            }
            DnsOutcome::Error { name, kind, rcode } => self.on_dns_failed(
                &name,
                kind,
                &format!("the resolver answered with code {rcode}"),
                now,
            ),
        }
    }

    pub(super) fn on_dns_failed(&mut self, name: &str, kind: QueryKind, why: &str, now: Instant) {
        self.counters.dns_failures += 1;
        let purposes = self
            .dns_purposes
            .remove(&(name.to_ascii_lowercase(), kind))
            .unwrap_or_default();
        for p in purposes {
            match p {
                DnsPurpose::Seed => {
                    let wait = self.config.network.peers.discovery_interval;
                    self.seed_next.insert(name.to_string(), now + wait);
                    self.outbox.event(Event::SeedResult {
                        seed: name.to_string(),
                        result: Err(why.to_string()),
                    });
                }
                DnsPurpose::Resolve {
                    target, request, ..
                } => {
                    // The other address family may still answer, or already did.
                    let dialing = self.pool.iter().any(|c| {
                        c.link
                            .dial_addr
                            .as_ref()
                            .is_some_and(|a| a.without_id() == target.without_id())
                    });
                    if self.resolving(&target) || dialing {
                        continue;
                    }
                    let unix = self.clock.unix(now);
                    self.book.mark_failure(&target, unix);
                    if let Some(request) = request {
                        let host = target.host.to_string();
                        let result = Err(PeerError::Dns {
                            host,
                            why: why.to_string(),
                        });
                        self.outbox
                            .event(Event::AddPeerFinished { request, result });
                    }
                }
            }
        }
    }

    pub(super) fn dial_resolved(
        &mut self,
        target: PeerAddress,
        ips: &[core::net::IpAddr],
        request: Option<RequestId>,
        priority: Priority,
        now: Instant,
    ) {
        // Already dialing it (the other address family answered first)?
        if self.pool.iter().any(|c| {
            c.link
                .dial_addr
                .as_ref()
                .is_some_and(|a| a.without_id() == target.without_id())
        }) {
            return;
        }
        let operator = request.is_some();
        let sock = ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, target.port))
            .find(|s| operator || self.in_scope(&PeerAddress::from_socket_addr(*s)));
        let result = match sock {
            Some(sock) => self
                .check_dial(sock, target.transport, priority)
                .map(|()| sock)
                .map_err(PeerError::Command),
            None => Err(PeerError::Dns {
                host: target.host.to_string(),
                why: "no usable address".into(),
            }),
        };
        match result {
            Ok(sock) => self.dial(sock, target, priority, request, now),
            Err(e) => {
                if let Some(request) = request {
                    self.outbox.event(Event::AddPeerFinished {
                        request,
                        result: Err(e),
                    });
                }
            }
        }
    }

    /// The SOCKS5 proxy `addr` is dialed through, if any: `.onion` addresses, and every
    /// address with `network.proxy_all`, when `network.proxy` is set.
    pub(super) fn proxy_for(&self, addr: &PeerAddress) -> Option<SocketAddr> {
        let n = &self.config.network;
        n.proxy.filter(|_| n.proxy_all || addr.is_onion())
    }

    /// Opens an outbound connection (the caller has checked room and policy). `sock` is the
    /// connection's remote address: the target's, or for a name the proxy resolves, the
    /// proxy's. A proxied dial connects to the proxy and negotiates SOCKS5 first.
    pub(super) fn dial(
        &mut self,
        sock: SocketAddr,
        addr: PeerAddress,
        priority: Priority,
        request: Option<RequestId>,
        now: Instant,
    ) {
        self.counters.dials += 1;
        let id = self.alloc_conn();
        let mut c = self.new_conn(id, Direction::Outbound, sock, now);
        c.priority = priority;
        c.request = request;
        c.expected_id = addr.expected_id;
        // Through the SOCKS5 proxy always TCP (add_peer and discovery keep QUIC away from it).
        let proxy = self.proxy_for(&addr);
        c.link.transport = match proxy {
            Some(_) => Transport::Tcp,
            None => addr.transport,
        };
        let transport = c.link.transport;
        let unix = self.clock.unix(now);
        self.book.mark_attempt(&addr, unix);
        if proxy.is_some() {
            let target = match &addr.host {
                Host::Ip(ip) => SocksTarget::Ip(SocketAddr::new(*ip, addr.port)),
                Host::Onion(_) | Host::Domain(_) => SocksTarget::Domain {
                    name: addr.host.to_string(),
                    port: addr.port,
                },
            };
            let creds = self.config.network.proxy_credentials();
            c.link.socks = Some(Box::new(Socks5Client::new(target, creds)));
        }
        c.link.dial_addr = Some(addr);
        move_state(&mut c, PeerState::Connecting);
        self.pool.insert(c);
        self.outbox.push(Output::Dial {
            conn: id,
            addr: proxy.unwrap_or(sock),
            transport,
        });
        self.schedule(id);
    }
}
