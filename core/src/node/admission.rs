//! Admission: accepting an inbound connection (shutdown, bans, the per-netgroup rate limit,
//! room in the pool, address-fetch slots) and making room by evicting an inbound peer.

use super::{move_state, Node};
use crate::addr::{NetGroup, PeerAddress, Transport};
use crate::id::ConnId;
use crate::inbound_limit::RATE_LIMITED_LABEL;
use crate::metrics::bump;
use crate::peer::{Direction, DisconnectReason, PeerState, Priority};
use crate::wire::{Disconnect, Message};
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::time::Instant;

impl Node {
    /// A new inbound TCP connection from `remote`: [`Node::accept_via`] with
    /// [`Transport::Tcp`].
    pub fn accept(&mut self, remote: SocketAddr, now: Instant) -> ConnId {
        self.accept_via(remote, Transport::Tcp, now)
    }

    /// A new inbound transport connection from `remote`, carried by `transport` (for QUIC:
    /// once the peer opened its bidirectional stream). Returns the id to use for its inputs.
    /// If the node refuses it (pool full, shutting down) the outputs say so: a `Disconnect`
    /// frame with the reason, then `Close`.
    pub fn accept_via(&mut self, remote: SocketAddr, transport: Transport, now: Instant) -> ConnId {
        self.tick(now);
        let id = self.alloc_conn();
        let refusal = if self.shutting_down {
            Some((
                DisconnectReason::Shutdown,
                DisconnectReason::Shutdown.as_str(),
            ))
        } else if self.ban_of(Some(remote.ip()), None, now).is_some() {
            Some((DisconnectReason::Banned, DisconnectReason::Banned.as_str()))
        } else if !self
            .inbound_limit
            .try_acquire(crate::addr::netgroup(remote.ip()), now)
        {
            // Too many attempts from this netgroup: refused before any handshake work, with a
            // metrics label of its own (the wire has no closer reason).
            Some((DisconnectReason::ConnectionLimitReached, RATE_LIMITED_LABEL))
        } else {
            None
        };
        if let Some((reason, label)) = refusal {
            self.refuse_unpooled(id, reason, label);
            return id;
        }
        // Long-lived slots full: evict a peer of an over-represented netgroup, else admit the
        // newcomer to an address-fetch slot, else refuse.
        let mut fetch_only = false;
        if self.pool.long_lived() >= self.pool.long_lived_cap()
            && !self.make_room_for_inbound(remote, now)
        {
            if self.pool.is_full() {
                let reason = DisconnectReason::ConnectionLimitReached;
                self.refuse_unpooled(id, reason, reason.as_str());
                return id;
            }
            fetch_only = true;
        }
        let mut c = self.new_conn(id, Direction::Inbound, remote, now);
        c.fetch_only = fetch_only;
        c.link.transport = transport;
        move_state(&mut c, PeerState::Connecting);
        move_state(&mut c, PeerState::Handshaking);
        self.pool.insert(c);
        self.schedule(id);
        id
    }

    pub(super) fn refuse_unpooled(
        &mut self,
        id: ConnId,
        reason: DisconnectReason,
        label: &'static str,
    ) {
        bump(&mut self.counters.inbound_refused, label);
        let msg = Message::Disconnect(Disconnect {
            reason: reason.code(),
            text: String::new(),
        });
        self.send(id, &msg);
        self.outbox.close(id);
    }

    /// A full pool makes room for a newcomer by dropping one inbound peer, so that a node
    /// everyone knows (a seed) keeps introducing new nodes instead of serving its first
    /// `max_connections` forever (found by the simulator: 1,000 nodes could not bootstrap from
    /// 3 full seeds). Outbound, high-priority, closing and recently connected peers
    /// (`limits.inbound_eviction_protect`) are never dropped; the victim is the newest peer of the
    /// netgroup holding the most inbound peers, and a newcomer from that very netgroup is
    /// refused instead (a flood from one network cannot evict anyone else).
    pub(super) fn make_room_for_inbound(&mut self, remote: SocketAddr, now: Instant) -> bool {
        let unix = self.clock.unix(now);
        let protect = self.config.limits.inbound_eviction_protect;
        let mut groups: BTreeMap<NetGroup, Vec<ConnId>> = BTreeMap::new();
        for c in self.pool.iter() {
            let old_enough = c
                .session
                .connected_since
                .is_some_and(|t| unix.since(t) >= protect);
            if c.link.direction == Direction::Inbound
                && c.state == PeerState::Connected
                && c.priority < Priority::High
                && c.closing.is_none()
                && old_enough
            {
                let g = PeerAddress::from_socket_addr(c.link.remote).netgroup();
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
                c.link.direction == Direction::Inbound
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
}
