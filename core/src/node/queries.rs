//! Read-only views of the node: peers, counts, the metrics snapshot, and the invariant check
//! harnesses run after every step.

use super::Node;
use crate::addr::PeerAddress;
use crate::addrbook::AddrBook;
use crate::id::{ConnId, NodeId};
use crate::metrics::{Concentration, MetricsSnapshot, PeerFigures};
use crate::peer::{PeerInfo, PeerState};
use crate::pool::{Conn, PoolCounts};
use std::collections::BTreeMap;
use std::time::Instant;

impl Node {
    /// The counters and the gauges computed from the node's state at `now`.
    pub fn metrics(&self, now: Instant) -> MetricsSnapshot {
        let unix = self.clock.unix(now);
        let counts = self.pool.counts();
        let mut peers = Vec::new();
        let mut groups = Vec::new();
        let mut distribution = BTreeMap::new();
        for c in self.pool.iter().filter(|c| c.state == PeerState::Connected) {
            let Some(id) = c.node_id() else { continue };
            let reputation = self.reputation.score(&id, unix).total;
            let netgroup = PeerAddress::from_socket_addr(c.link.remote)
                .netgroup()
                .to_string();
            *distribution
                .entry(crate::metrics::reputation_bucket(reputation))
                .or_insert(0) += 1;
            groups.push(netgroup.clone());
            peers.push(PeerFigures {
                id: id.to_hex(),
                netgroup,
                messages: c.stats.messages_sent + c.stats.messages_received,
                bytes_sent: c.stats.bytes_sent,
                bytes_received: c.stats.bytes_received,
                latency_seconds: c.keepalive.latency.map(|l| l.as_secs_f64()),
                reputation,
            });
        }
        MetricsSnapshot {
            total_peers: counts.total(),
            peers_by_status: [
                ("connecting", counts.connecting),
                ("handshaking", counts.handshaking),
                ("connected", counts.connected()),
            ]
            .into_iter()
            .collect(),
            connected_by_direction: [("inbound", counts.inbound), ("outbound", counts.outbound)]
                .into_iter()
                .collect(),
            known_addresses: self.book.len(),
            inbound_netgroups_tracked: self.inbound_limit.tracked(),
            buffered_bytes: self.pool.iter().map(|c| c.link.decoder.buffered()).sum(),
            active_bans: self.bans.list(unix).count(),
            reputation_distribution: distribution,
            concentration: Concentration::from_groups(groups.iter().map(String::as_str)),
            peers,
            counters: self.counters.clone(),
        }
    }

    /// Every live connection, in connection order.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.pool.iter().map(|c| c.info(self.score_of(c))).collect()
    }

    pub(super) fn score_of(&self, c: &Conn) -> u32 {
        let unix = self.clock.unix(self.now);
        c.node_id().map_or(crate::reputation::NEUTRAL_SCORE, |n| {
            self.reputation.score(&n, unix).total
        })
    }

    /// One peer by connection.
    pub fn peer(&self, conn: ConnId) -> Option<PeerInfo> {
        self.pool.get(conn).map(|c| c.info(self.score_of(c)))
    }

    /// The address book.
    pub fn address_book(&self) -> &AddrBook {
        &self.book
    }

    /// The per-netgroup limit on inbound attempts (read-only: tokens per netgroup, table size).
    #[cfg(feature = "test-support")]
    pub fn inbound_limiter(&self) -> &crate::inbound_limit::InboundLimiter {
        &self.inbound_limit
    }

    /// Connection counts.
    pub fn counts(&self) -> PoolCounts {
        self.pool.counts()
    }

    /// The connected peers' ids, in id order.
    pub fn connected_peers(&self) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .pool
            .iter()
            .filter(|c| c.state == PeerState::Connected)
            .filter_map(|c| c.node_id())
            .collect();
        v.sort();
        v
    }

    /// Checks the node's internal invariants (pool limits, identity index, timers); for tests
    /// and the simulator. Returns a description of the first broken one.
    #[cfg(feature = "test-support")]
    pub fn check_invariants(&self) -> Result<(), String> {
        self.pool.check_invariants()?;
        self.book.check_invariants()?;
        if self.inbound_limit.tracked() > self.config.limits.max_inbound_netgroups_tracked {
            return Err(format!(
                "{} netgroups tracked by the inbound limit",
                self.inbound_limit.tracked()
            ));
        }
        let inactivity = self.config.network.peers.inactivity_timeout;
        for c in self.pool.iter() {
            if super::timers::deadline(c, inactivity).is_some() && c.timer_at.is_none() {
                return Err(format!("{} has a deadline but no timer", c.id));
            }
            if c.link.decoder.buffered()
                > crate::wire::LENGTH_PREFIX_LEN + crate::wire::MAX_FRAME_LEN
            {
                return Err(format!(
                    "{} buffers {} bytes",
                    c.id,
                    c.link.decoder.buffered()
                ));
            }
        }
        Ok(())
    }
}
