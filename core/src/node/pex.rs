//! Peer exchange as the node runs it: asking outbound peers for addresses, answering
//! `GetPeers` (rate-limited by each connection's `PexState`, the one place of the PEX rate
//! limit), taking in `Peers` answers, and counting refused PEX messages against the peer.

use super::{Event, Node};
use crate::addr::PeerAddress;
use crate::addrbook::{AddOutcome, Entry, Source};
use crate::id::{ConnId, NodeId};
use crate::peer::{DisconnectReason, PeerState};
use crate::reputation::{Report, Violation};
use crate::wire::{self, GetPeers, Message, Peers};
use std::time::Instant;

/// Most addresses asked for in one `GetPeers` (and given in one answer).
pub(crate) const PEX_REQUEST_MAX: u32 = wire::MAX_PEX_ADDRESSES as u32;

impl Node {
    /// The PEX part of the maintenance pass: forgets unanswered requests after
    /// `limits.pex_answer_timeout` and asks the peers whose discovery round is due.
    pub(super) fn pex_round(&mut self, now: Instant) {
        let answer_timeout = self.config.limits.pex_answer_timeout;
        for id in self.pool.ids() {
            let Some(c) = self.pool.get_mut(id) else {
                continue;
            };
            if c.pex.asked.is_some_and(|t| now >= t + answer_timeout) {
                c.pex.asked = None;
            }
            let due = c.state == PeerState::Connected
                && c.closing.is_none()
                && c.pex.asked.is_none()
                && c.pex.next.is_some_and(|t| now >= t);
            if due {
                self.ask_peers(id, now);
            }
        }
    }

    pub(super) fn ask_peers(&mut self, id: ConnId, now: Instant) {
        let interval = self.config.network.peers.discovery_interval;
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        c.pex.asked = Some(now);
        c.pex.next = Some(now + interval);
        self.counters.pex_requests_sent += 1;
        self.send(
            id,
            &Message::GetPeers(GetPeers {
                max: PEX_REQUEST_MAX,
            }),
        );
    }

    pub(super) fn on_get_peers(&mut self, id: ConnId, g: GetPeers, now: Instant) {
        self.counters.pex_requests_received += 1;
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let Some(peer) = c.node_id() else { return };
        if !c.pex.allow_request(&self.config.limits, now) {
            self.pex_strike(id, peer, "GetPeers flood", now);
            return;
        }
        let asker = [
            Some(c.link.remote),
            c.session.listen_addr,
            c.session.quic_listen_addr,
        ];
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
    /// `limits.pex_flood_strikes` within one refill period.
    pub(super) fn pex_strike(&mut self, id: ConnId, peer: NodeId, why: &'static str, now: Instant) {
        self.counters.pex_refused += 1;
        self.outbox.event(Event::PexRefused { peer, why });
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        if c.pex.strike(&self.config.limits, now) {
            self.report(&peer, Report::ProtocolViolation(Violation::PexFlood), now);
        }
    }

    pub(super) fn on_peers(&mut self, id: ConnId, p: Peers, now: Instant) {
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let Some(peer) = c.node_id() else { return };
        if c.pex.asked.take().is_none() {
            self.pex_strike(id, peer, "unsolicited Peers", now);
            return;
        }
        let group = PeerAddress::from_socket_addr(c.link.remote)
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
        self.outbox.event(Event::PeersReceived {
            peer,
            added,
            refused,
        });
    }
}
