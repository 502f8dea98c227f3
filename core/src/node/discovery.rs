//! Finding peers: the maintenance pass that keeps `min_connections` (with the fallback order of
//! `docs/DISCOVERY.md`): known addresses, bootstrap nodes, DNS seeds, the hard-coded bootstrap
//! nodes; and which learned addresses are in scope.

use super::{DiscoveryStep, DnsPurpose, Event, Node};
use crate::addr::{classify, AddrClass, Host, NetGroup, PeerAddress, Transport};
use crate::addrbook::{Entry, Source};
use crate::dns::QueryKind;
use crate::id::{ConnId, NodeId};
use crate::peer::{Direction, PeerState, Priority};
use core::net::SocketAddr;
use std::collections::BTreeSet;
use std::time::Instant;

impl Node {
    /// The periodic pass: PEX rounds with outbound peers, then dials to keep `min_connections`.
    pub(super) fn maintenance(&mut self, now: Instant) {
        let unix = self.clock.unix(now);
        self.removed.prune(now);
        self.inbound_limit.prune(now);
        for ban in self.bans.expire(unix) {
            self.outbox.event(Event::BanRemoved { ban, expired: true });
        }
        self.book.age(unix);
        self.pex_round(now);
        if !self.shutting_down {
            self.fill_outbound(now);
        }
    }

    /// Dials book addresses until `min_connections` outbound connections exist or are pending;
    /// falls back through the discovery steps when the book has nothing dialable.
    pub(super) fn fill_outbound(&mut self, now: Instant) {
        let min = self.config.network.peers.min_connections;
        let resolving: BTreeSet<String> = self
            .dns_purposes
            .values()
            .flatten()
            .filter_map(|p| match p {
                DnsPurpose::Resolve {
                    target,
                    request: None,
                    ..
                } => Some(target.without_id().to_string()),
                _ => None,
            })
            .collect();
        let outbound = self
            .pool
            .iter()
            .filter(|c| c.link.direction == Direction::Outbound)
            .count()
            + resolving.len();
        let connected_out = self
            .pool
            .iter()
            .filter(|c| c.link.direction == Direction::Outbound && c.state == PeerState::Connected)
            .count();
        let short = min.saturating_sub(connected_out);
        if short == 0 {
            self.last_step = None;
            return;
        }
        // Keep a few more dials in flight than the shortfall: after a fault many known
        // addresses are dead and each costs a whole connect timeout to find out.
        let need = (short + self.config.limits.dial_spare).saturating_sub(outbound - connected_out);
        if need == 0 {
            return;
        }
        let room = self
            .pool
            .long_lived_cap()
            .saturating_sub(self.pool.long_lived());
        let room = room.min(
            self.pool
                .max_pending_dials
                .saturating_sub(self.pool.pending_dials()),
        );
        if room == 0 {
            return;
        }
        let unix = self.clock.unix(now);
        let used: BTreeSet<NetGroup> = self
            .pool
            .iter()
            .filter(|c| c.link.direction == Direction::Outbound)
            .map(|c| PeerAddress::from_socket_addr(c.link.remote).netgroup())
            .collect();
        let busy: BTreeSet<SocketAddr> = self
            .pool
            .iter()
            .flat_map(|c| {
                [
                    Some(c.link.remote),
                    c.session.listen_addr,
                    c.session.quic_listen_addr,
                ]
            })
            .flatten()
            .collect();
        let ids: BTreeSet<NodeId> = self.pool.iter().filter_map(|c| c.node_id()).collect();
        let me = self.node_id();
        let own = self.config.network.listen;
        let own_quic = self.config.network.quic_listen;
        let (proxy, proxy_all) = (self.config.network.proxy, self.config.network.proxy_all);
        let dialing: BTreeSet<PeerAddress> = self
            .pool
            .iter()
            .filter_map(|c| c.link.dial_addr.as_ref().map(PeerAddress::without_id))
            .collect();
        let bans = &self.bans;
        // Short of peers: ask the outbound peers for addresses now rather than at their next
        // discovery round (their rate limit allows one request a minute).
        // (A peer's last request was at next_pex − discovery_interval.)
        let interval = self.config.network.peers.discovery_interval;
        let pex_refill = self.config.limits.pex_refill;
        let ask: Vec<ConnId> = self
            .pool
            .iter()
            .filter(|c| {
                c.link.direction == Direction::Outbound
                    && c.state == PeerState::Connected
                    && c.closing.is_none()
            })
            .filter(|c| {
                c.pex.asked.is_none()
                    && c.pex
                        .next
                        .is_some_and(|t| t <= now + interval.saturating_sub(pex_refill))
            })
            .map(|c| c.id)
            .collect();
        let connected_sources: BTreeSet<NodeId> = ids.clone();
        let removed = &self.removed;
        // Who not to dial: ourselves, peers already connected or being dialed, banned ones, and
        // identities an operator removed recently. One rule for both draws below.
        let skip = |e: &Entry| {
            e.node_id.is_some_and(|n| {
                n == me
                    || ids.contains(&n)
                    || bans.check_node(&n, unix).is_some()
                    || removed.contains(&n)
            }) || e
                .addr
                .socket_addr()
                .is_some_and(|s| bans.check_ip(s.ip(), unix).is_some())
                // SOCKS5 carries TCP only: with proxy_all, QUIC addresses are not dialed.
                || (e.addr.transport == Transport::Quic && proxy.is_some() && proxy_all)
                || match (&e.addr.host, e.addr.socket_addr()) {
                    (_, Some(s)) => busy.contains(&s) || s == own || Some(s) == own_quic,
                    // A name the proxy resolves (onion always, host names with proxy_all).
                    _ if proxy.is_some() && (proxy_all || e.addr.is_onion()) => {
                        dialing.contains(&e.addr.without_id())
                    }
                    (Host::Domain(_), _) => resolving.contains(&e.addr.without_id().to_string()),
                    // Onion addresses need the SOCKS5 proxy.
                    _ => true,
                }
        };
        let prefer = |e: &Entry| match &e.source {
            Source::Pex { peer, .. } => connected_sources.contains(peer),
            _ => true,
        };
        let mut picks =
            self.book
                .select_preferring(need.min(room), unix, &mut self.rng, &used, skip, prefer);
        // Nothing dialable: after a network fault every known address may be backing off for
        // minutes (or the bootstrap node was not up yet). Retry one proven address or bootstrap
        // node per pass regardless (not a failed `peer add`: the operator was told it failed).
        let last_resort = picks.is_empty();
        if last_resort {
            picks = self
                .book
                .select_proven_ignoring_backoff(1, unix, &mut self.rng, &used, skip);
        }
        for id in ask {
            self.ask_peers(id, now);
        }
        if let Some(first) = picks.first().filter(|_| !last_resort) {
            let proven = self
                .book
                .get(first)
                .is_some_and(|e| e.last_success.is_some());
            let step = if proven {
                DiscoveryStep::KnownAddresses
            } else {
                DiscoveryStep::Bootstrap
            };
            self.log_step(
                step,
                format!(
                    "{outbound} of {min} outbound connections; dialing {} address(es)",
                    picks.len()
                ),
            );
        }
        let dialed = picks.len();
        for addr in picks {
            match (addr.socket_addr(), self.proxy_for(&addr)) {
                (Some(sock), _) | (None, Some(sock)) => {
                    self.dial(sock, addr, Priority::Normal, None, now)
                }
                (None, None) => {
                    let _ = self.resolve(addr, None, Priority::Normal, now);
                }
            }
        }
        if dialed >= need {
            return;
        }
        // DNS seeds: each asked again no sooner than max(discovery_interval, TTL).
        let seeds: Vec<String> = self.config.network.peers.dns_seeds.clone();
        let mut asked = 0;
        for seed in &seeds {
            let due = self.seed_next.get(seed).is_none_or(|t| now >= *t);
            let pending = self
                .dns_purposes
                .contains_key(&(seed.to_ascii_lowercase(), QueryKind::Txt));
            if due && !pending {
                match self.ask_dns(seed, QueryKind::Txt, DnsPurpose::Seed, now) {
                    Ok(()) => asked += 1,
                    Err(why) => {
                        self.seed_next.insert(
                            seed.clone(),
                            now + self.config.network.peers.discovery_interval,
                        );
                        self.outbox.event(Event::SeedResult {
                            seed: seed.clone(),
                            result: Err(why),
                        });
                    }
                }
            }
        }
        if asked > 0 {
            self.log_step(
                DiscoveryStep::DnsSeeds,
                format!("{outbound} of {min} outbound connections and no dialable known address"),
            );
        }
        let seeds_pending = seeds.iter().any(|s| {
            self.dns_purposes
                .contains_key(&(s.to_ascii_lowercase(), QueryKind::Txt))
        });
        if !seeds_pending
            && !self.hardcoded_added
            && self.config.network.peers.bootstrap_nodes.is_empty()
            && self.config.network.peers.use_default_bootstrap
        {
            self.hardcoded_added = true;
            for b in crate::config::DEFAULT_BOOTSTRAP_NODES {
                if let Ok(a) = PeerAddress::parse(b) {
                    self.book.add(a, Source::Bootstrap, unix, &mut self.rng);
                }
            }
            self.log_step(
                DiscoveryStep::HardcodedBootstrap,
                format!("{outbound} of {min} outbound connections and no other source left"),
            );
            // Try them now rather than at the next pass (this cannot recurse again: the flag is set).
            self.fill_outbound(now);
        }
    }

    pub(super) fn log_step(&mut self, step: DiscoveryStep, reason: String) {
        if self.last_step != Some(step) {
            self.last_step = Some(step);
            self.outbox.event(Event::Discovery { step, reason });
        }
    }

    /// Whether an address learned from a peer or a seed is in a scope this node can use:
    /// public addresses always; loopback ones when we listen on loopback, private ones when we
    /// listen on a private address, either with `allow_private_addresses`; never bogons,
    /// documentation, link-local or unspecified addresses.
    pub(super) fn in_scope(&self, addr: &PeerAddress) -> bool {
        let Some(class) = addr.class() else {
            return true;
        };
        let own = classify(self.config.network.listen.ip());
        let allow = self.config.network.allow_private_addresses;
        match class {
            AddrClass::Public => true,
            AddrClass::Loopback => allow || own == AddrClass::Loopback,
            AddrClass::Private => allow || own == AddrClass::Private,
            _ => false,
        }
    }
}
