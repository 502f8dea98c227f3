//! Finding peers: the maintenance pass that keeps `min_connections` (with the fallback order of
//! `docs/DISCOVERY.md`), DNS seeds, peer exchange (requests, answers, rate limits, validation)
//! and address-fetch slots.
use super::*;

impl Node {
    // ---------------------------------------------------------------- discovery

    /// The periodic pass: PEX rounds with outbound peers, then dials to keep `min_connections`.
    pub(super) fn maintenance(&mut self, now: Instant) {
        let unix = self.clock.unix(now);
        self.removed.retain(|_, until| *until > now);
        self.inbound_limit.prune(now);
        for ban in self.bans.expire(unix) {
            self.event(Event::BanRemoved { ban, expired: true });
        }
        self.book.age(unix);
        for id in self.pool.ids() {
            let Some(c) = self.pool.get_mut(id) else {
                continue;
            };
            if c.pex_asked.is_some_and(|t| now >= t + PEX_ANSWER_TIMEOUT) {
                c.pex_asked = None;
            }
            let due = c.state == PeerState::Connected
                && c.closing.is_none()
                && c.pex_asked.is_none()
                && c.next_pex.is_some_and(|t| now >= t);
            if due {
                self.ask_peers(id, now);
            }
        }
        if !self.shutting_down {
            self.fill_outbound(now);
        }
    }

    pub(super) fn ask_peers(&mut self, id: ConnId, now: Instant) {
        let interval = self.config.network.peers.discovery_interval;
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        c.pex_asked = Some(now);
        c.next_pex = Some(now + interval);
        self.counters.pex_requests_sent += 1;
        self.send(
            id,
            &Message::GetPeers(GetPeers {
                max: PEX_REQUEST_MAX,
            }),
        );
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
            .filter(|c| c.direction == Direction::Outbound)
            .count()
            + resolving.len();
        let connected_out = self
            .pool
            .iter()
            .filter(|c| c.direction == Direction::Outbound && c.state == PeerState::Connected)
            .count();
        let short = min.saturating_sub(connected_out);
        if short == 0 {
            self.last_step = None;
            return;
        }
        // Keep a few more dials in flight than the shortfall: after a fault many known
        // addresses are dead and each costs a whole connect timeout to find out.
        let need = (short + DIAL_SPARE).saturating_sub(outbound - connected_out);
        if need == 0 {
            return;
        }
        let room = self
            .pool
            .long_lived_cap()
            .saturating_sub(self.pool.long_lived());
        let room = room.min(MAX_PENDING_DIALS.saturating_sub(self.pool.pending_dials()));
        if room == 0 {
            return;
        }
        let unix = self.clock.unix(now);
        let used: BTreeSet<NetGroup> = self
            .pool
            .iter()
            .filter(|c| c.direction == Direction::Outbound)
            .map(|c| PeerAddress::from_socket_addr(c.remote).netgroup())
            .collect();
        let busy: BTreeSet<SocketAddr> = self
            .pool
            .iter()
            .flat_map(|c| [Some(c.remote), c.listen_addr, c.quic_listen_addr])
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
            .filter_map(|c| c.dial_addr.as_ref().map(PeerAddress::without_id))
            .collect();
        let bans = &self.bans;
        // Short of peers: ask the outbound peers for addresses now rather than at their next
        // discovery round (their rate limit allows one request a minute).
        // (A peer's last request was at next_pex − discovery_interval.)
        let interval = self.config.network.peers.discovery_interval;
        let ask: Vec<ConnId> = self
            .pool
            .iter()
            .filter(|c| {
                c.direction == Direction::Outbound
                    && c.state == PeerState::Connected
                    && c.closing.is_none()
            })
            .filter(|c| {
                c.pex_asked.is_none()
                    && c.next_pex
                        .is_some_and(|t| t <= now + interval.saturating_sub(PEX_REFILL))
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
                    || removed.contains_key(&n)
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
                        self.event(Event::SeedResult {
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
            self.event(Event::Discovery { step, reason });
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

    pub(super) fn on_get_peers(&mut self, id: ConnId, g: GetPeers, now: Instant) {
        self.counters.pex_requests_received += 1;
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        refill_pex(c, now);
        let Some(peer) = c.node_id() else { return };
        if c.pex_tokens == 0 {
            self.pex_strike(id, peer, "GetPeers flood", now);
            return;
        }
        c.pex_tokens -= 1;
        let asker = [Some(c.remote), c.listen_addr, c.quic_listen_addr];
        let max = g.max.min(PEX_REQUEST_MAX) as usize;
        let own = self.config.network.listen;
        let own_quic = self.config.network.quic_listen;
        let unix = self.clock.unix(now);
        let (bans, rep) = (&self.bans, &self.reputation);
        // Only addresses a handshake verified within ADDR_MAX_AGE are gossiped: an address a
        // liar invented never succeeds, so it never spreads beyond the liar.
        let sample = self.book.sample(max, &mut self.rng, |e: &Entry| {
            e.last_success
                .is_some_and(|t| unix.since(t) < crate::addrbook::ADDR_MAX_AGE)
                && e.node_id != Some(peer)
                && e.addr.socket_addr().is_none_or(|s| {
                    s != own
                        && Some(s) != own_quic
                        && !asker.contains(&Some(s))
                        && bans.check_ip(s.ip(), unix).is_none()
                })
                && e.node_id.is_none_or(|n| {
                    bans.check_node(&n, unix).is_none()
                        && rep.thresholds().can_relay(rep.score(&n, unix).total)
                })
        });
        let addresses = sample.iter().map(|a| a.to_string()).collect();
        self.counters.pex_answers_sent += 1;
        self.send(id, &Message::Peers(Peers { addresses }));
        if self.pool.get(id).is_some_and(|c| c.fetch_only) {
            self.disconnect(
                id,
                DisconnectReason::ConnectionLimitReached,
                "the node is full; here are addresses",
                false,
            );
        }
    }

    /// A refused PEX message: an event always, a protocol violation every
    /// [`PEX_FLOOD_STRIKES`] within one refill period.
    pub(super) fn pex_strike(&mut self, id: ConnId, peer: NodeId, why: &'static str, now: Instant) {
        self.counters.pex_refused += 1;
        self.event(Event::PexRefused { peer, why });
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        refill_pex(c, now);
        c.pex_strikes += 1;
        if c.pex_strikes >= PEX_FLOOD_STRIKES {
            c.pex_strikes = 0;
            self.report(&peer, Report::ProtocolViolation(Violation::PexFlood), now);
        }
    }

    pub(super) fn on_peers(&mut self, id: ConnId, p: Peers, now: Instant) {
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let Some(peer) = c.node_id() else { return };
        if c.pex_asked.take().is_none() {
            self.pex_strike(id, peer, "unsolicited Peers", now);
            return;
        }
        let group = PeerAddress::from_socket_addr(c.remote)
            .netgroup()
            .to_string();
        let unix = self.clock.unix(now);
        let (mut added, mut refused) = (0, 0);
        for text in p.addresses.iter().take(PEX_REQUEST_MAX as usize) {
            let ok = match PeerAddress::parse(text) {
                Ok(a) if self.in_scope(&a) && a.expected_id != Some(self.node_id()) => {
                    let src = Source::Pex {
                        peer,
                        group: group.clone(),
                    };
                    match self.book.add(a, src, unix, &mut self.rng) {
                        AddOutcome::Added => {
                            added += 1;
                            true
                        }
                        AddOutcome::Refreshed => true,
                        _ => false,
                    }
                }
                _ => false,
            };
            if !ok {
                refused += 1;
            }
        }
        self.counters.pex_answers_received += 1;
        self.counters.pex_addresses_added += added as u64;
        self.event(Event::PeersReceived {
            peer,
            added,
            refused,
        });
    }

    /// A full pool makes room for a newcomer by dropping one inbound peer, so that a node
    /// everyone knows (a seed) keeps introducing new nodes instead of serving its first
    /// `max_connections` forever (found by the simulator: 1,000 nodes could not bootstrap from
    /// 3 full seeds). Outbound, high-priority, closing and recently connected peers
    /// ([`INBOUND_EVICTION_PROTECT`]) are never dropped; the victim is the newest peer of the
    /// netgroup holding the most inbound peers, and a newcomer from that very netgroup is
    /// refused instead (a flood from one network cannot evict anyone else).
    pub(super) fn make_room_for_inbound(&mut self, remote: SocketAddr, now: Instant) -> bool {
        let unix = self.clock.unix(now);
        let mut groups: BTreeMap<NetGroup, Vec<ConnId>> = BTreeMap::new();
        for c in self.pool.iter() {
            let old_enough = c
                .connected_since
                .is_some_and(|t| unix.since(t) >= INBOUND_EVICTION_PROTECT);
            if c.direction == Direction::Inbound
                && c.state == PeerState::Connected
                && c.priority < Priority::High
                && c.closing.is_none()
                && old_enough
            {
                let g = PeerAddress::from_socket_addr(c.remote).netgroup();
                groups.entry(g).or_default().push(c.id);
            }
        }
        let Some((group, ids)) = groups.iter().max_by_key(|(_, ids)| ids.len()) else {
            return false;
        };
        // Only concentration is evicted: with every inbound peer in its own netgroup nobody is
        // dropped (newcomers get an address-fetch slot instead), so honest peers do not churn.
        if ids.len() < 2 {
            return false;
        }
        if *group == PeerAddress::from_socket_addr(remote).netgroup() && ids.len() > 1 {
            return false;
        }
        let Some(&victim) = ids.iter().max() else {
            return false;
        };
        self.disconnect(
            victim,
            DisconnectReason::ConnectionLimitReached,
            "making room for a new peer",
            false,
        );
        !self.pool.is_full()
    }

    /// Makes room for a high-priority dial by dropping the inbound, non-high-priority connection
    /// that matters least (lowest priority, then newest). Returns whether a slot was freed.
    pub(super) fn evict_for_high_priority(&mut self) -> bool {
        let victim = self
            .pool
            .iter()
            .filter(|c| {
                c.direction == Direction::Inbound
                    && c.priority < Priority::High
                    && c.closing.is_none()
            })
            .min_by_key(|c| (c.priority, std::cmp::Reverse(c.id)))
            .map(|c| c.id);
        match victim {
            Some(v) => {
                self.disconnect(
                    v,
                    DisconnectReason::ConnectionLimitReached,
                    "making room for a priority peer",
                    false,
                );
                !self.pool.is_full()
            }
            None => false,
        }
    }

    /// Disconnects the peer named by `target`: a node id (64 hex characters, or a unique prefix
    /// of at least 8), or an address. Graceful: `Disconnect{UserRequested}`, then wait for the
    /// ack up to `disconnect_timeout`. [`Event::RemovePeerFinished`] follows.
    pub fn remove_peer(
        &mut self,
        target: &str,
        ban: bool,
        now: Instant,
    ) -> Result<RequestId, PeerError> {
        self.tick(now);
        let id = self.find_peer(target)?;
        if ban {
            let t = match self.pool.get(id).and_then(|c| c.node_id()) {
                Some(n) => n.to_string(),
                None => self
                    .pool
                    .get(id)
                    .map(|c| c.remote.ip().to_string())
                    .unwrap_or_default(),
            };
            let unix = self.clock.unix(now);
            let target: BanTarget = t.parse().map_err(|e: crate::bans::BanTargetError| {
                PeerError::InvalidBanTarget(e.to_string())
            })?;
            self.bans
                .ban(
                    target,
                    "removed and banned by the operator",
                    BanOrigin::Operator,
                    unix,
                    None,
                )
                .map_err(|e| PeerError::BanList(e.to_string()))?;
            let canonical = target.canonical();
            bump(&mut self.counters.bans, "operator");
            let added = self
                .bans
                .list(unix)
                .find(|b| b.target == canonical)
                .cloned();
            if let Some(b) = added {
                self.event(Event::BanAdded { ban: b });
            }
        }
        if let Some(n) = self.pool.get(id).and_then(|c| c.node_id()) {
            if self.removed.len() >= MAX_REMOVED_COOLDOWNS {
                let oldest = self
                    .removed
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.removed.remove(&k);
                }
            }
            self.removed.insert(n, now + REMOVED_COOLDOWN);
        }
        let request = self.alloc_request();
        if let Some(c) = self.pool.get_mut(id) {
            c.remove_request = Some(request);
        }
        self.disconnect(
            id,
            DisconnectReason::UserRequested,
            "removed by the operator",
            true,
        );
        Ok(request)
    }

    /// The connection an operator means by `target` (node id, unique id prefix, or address).
    pub fn find_peer(&self, target: &str) -> Result<ConnId, PeerError> {
        let t = target.trim();
        let unknown = || PeerError::UnknownPeer(t.to_string());
        let hexish = t.trim_end_matches("...");
        if hexish.len() >= 8 && hexish.chars().all(|c| c.is_ascii_hexdigit()) {
            let lower = hexish.to_ascii_lowercase();
            let matches: Vec<ConnId> = self
                .pool
                .iter()
                .filter(|c| c.node_id().is_some_and(|n| n.to_hex().starts_with(&lower)))
                .map(|c| c.id)
                .collect();
            return match matches.as_slice() {
                [one] => Ok(*one),
                [] => Err(unknown()),
                _ => Err(PeerError::UnknownPeer(format!(
                    "{t} (ambiguous: {} peers match)",
                    matches.len()
                ))),
            };
        }
        let addr = PeerAddress::parse(t)?;
        let sock = addr.socket_addr();
        self.pool
            .iter()
            .find(|c| {
                sock.is_some_and(|s| c.remote == s || c.listen_addr == Some(s))
                    || addr.expected_id.is_some_and(|e| c.node_id() == Some(e))
            })
            .map(|c| c.id)
            .ok_or_else(unknown)
    }

    /// Sends an application payload to a connected peer.
    pub fn send_app(&mut self, peer: &NodeId, payload: &[u8]) -> Result<(), PeerError> {
        if payload.len() > wire::MAX_APP_PAYLOAD {
            return Err(PeerError::ProtocolViolation(format!(
                "payload of {} bytes exceeds {}",
                payload.len(),
                wire::MAX_APP_PAYLOAD
            )));
        }
        let id = self
            .pool
            .by_node(peer)
            .ok_or_else(|| PeerError::UnknownPeer(peer.to_string()))?;
        self.send(
            id,
            &Message::App(App {
                payload: ByteBuf::from(payload.to_vec()),
            }),
        );
        Ok(())
    }

    /// Closes every connection: connected peers get `Disconnect{Shutdown}` and up to
    /// `disconnect_timeout` to acknowledge; [`Event::ShutdownComplete`] follows. New dials and
    /// accepts are refused from now on.
    pub fn shutdown(&mut self, now: Instant) {
        self.tick(now);
        self.shutting_down = true;
        for id in self.pool.ids() {
            match self.pool.get(id).map(|c| c.state) {
                Some(PeerState::Connected) => {
                    self.disconnect(id, DisconnectReason::Shutdown, "", true)
                }
                Some(_) => self.fail(
                    id,
                    PeerError::ShuttingDown,
                    Some(DisconnectReason::Shutdown),
                ),
                None => {}
            }
        }
        self.after_removal();
    }
}
