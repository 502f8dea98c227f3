//! Reputation and bans as the node applies them: reports from the application and from protocol
//! violations, threshold actions with auto-ban self-protection, the bans in both directions,
//! and the durable records that carry them across restarts.

use super::{DurableState, Event, Node, PeerError};
use crate::bans::{BanOrigin, BanTarget};
use crate::id::{ConnId, NodeId};
use crate::limits::Limits;
use crate::metrics::bump;
use crate::peer::{Direction, DisconnectReason, PeerState};
use crate::reputation::{Report, ReputationScore, ScoreChange, ThresholdAction};
use std::collections::VecDeque;
use std::time::Instant;

/// Self-protection of automatic bans: the recent ones, to notice a spike (many bans at once
/// point at our own network rather than at the peers).
#[derive(Debug, Default)]
pub(super) struct AutoBanGuard {
    /// When recent automatic bans happened, oldest first.
    recent: VecDeque<Instant>,
}

impl AutoBanGuard {
    /// Forgets bans older than `limits.auto_ban_window`; then, if one more ban now would be a
    /// spike against `connected` peers (more than `auto_ban_spike_min` bans and more than
    /// `auto_ban_spike_percent` of them), why.
    fn spike(&mut self, now: Instant, connected: usize, limits: &Limits) -> Option<String> {
        let window = limits.auto_ban_window;
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.recent.pop_front();
        }
        let n = self.recent.len() + 1;
        (n > limits.auto_ban_spike_min && n * 100 > connected * limits.auto_ban_spike_percent).then(
            || {
                format!(
                    "{n} automatic bans within {} s against {connected} connected peers: our own network may be at fault",
                    window.as_secs()
                )
            },
        )
    }

    /// An automatic ban happened at `now`.
    fn record(&mut self, now: Instant) {
        self.recent.push_back(now);
    }
}

impl Node {
    /// Records what the application observed about a connected (or known) peer — an invalid
    /// or valid message, a consensus participation or violation, a relay success or failure —
    /// and applies the thresholds: below `auto_disconnect_threshold` the peer is disconnected
    /// (`LowReputation`), below `auto_ban_threshold` it is also banned for `ban_duration`
    /// (unless automatic bans are paused, see [`Event::AutoBanPaused`]).
    pub fn report(&mut self, peer: &NodeId, report: Report, now: Instant) -> ReputationScore {
        self.tick(now);
        let unix = self.clock.unix(now);
        let score = self.reputation.report(*peer, report, unix);
        self.apply_thresholds(peer, score, now);
        score
    }

    /// Shorthand for `report(peer, Report::InvalidMessage, now)` (spec 6.4).
    pub fn report_invalid_message(&mut self, peer: &NodeId, now: Instant) -> ReputationScore {
        self.report(peer, Report::InvalidMessage, now)
    }

    pub(super) fn apply_thresholds(&mut self, peer: &NodeId, score: ReputationScore, now: Instant) {
        let action = self.reputation.thresholds().action(score.total);
        let Some(conn) = self.pool.by_node(peer) else {
            if action == ThresholdAction::Ban {
                self.auto_ban(peer, score, now);
            }
            return;
        };
        match action {
            ThresholdAction::None => {}
            ThresholdAction::Disconnect => {
                self.outbox.event(Event::ReputationAction {
                    peer: *peer,
                    score: score.total,
                    action,
                });
                let text = format!(
                    "reputation {} below {}",
                    score.total,
                    self.reputation.thresholds().auto_disconnect
                );
                self.disconnect(conn, DisconnectReason::LowReputation, &text, false);
            }
            ThresholdAction::Ban => {
                self.outbox.event(Event::ReputationAction {
                    peer: *peer,
                    score: score.total,
                    action,
                });
                if self.auto_ban(peer, score, now) {
                    self.disconnect(
                        conn,
                        DisconnectReason::Banned,
                        "reputation below the ban threshold",
                        false,
                    );
                } else {
                    let text = format!(
                        "reputation {} below {}",
                        score.total,
                        self.reputation.thresholds().auto_disconnect
                    );
                    self.disconnect(conn, DisconnectReason::LowReputation, &text, false);
                }
            }
        }
    }

    /// Bans `peer` automatically unless self-protection says not to; returns whether it did.
    pub(super) fn auto_ban(&mut self, peer: &NodeId, score: ReputationScore, now: Instant) -> bool {
        let connected = self.pool.counts().connected().max(1);
        let outbound = self
            .pool
            .iter()
            .filter(|c| c.link.direction == Direction::Outbound && c.state == PeerState::Connected)
            .count();
        let min = self.config.network.peers.min_connections;
        let spike = self.auto_bans.spike(now, connected, &self.config.limits);
        let why = spike.or_else(|| {
            (outbound < min).then(|| format!("only {outbound} of {min} outbound peers connected"))
        });
        if let Some(why) = why {
            self.outbox.event(Event::AutoBanPaused { peer: *peer, why });
            return false;
        }
        self.auto_bans.record(now);
        bump(&mut self.counters.bans, "automatic");
        let unix = self.clock.unix(now);
        let duration = Some(self.config.network.reputation.ban_duration);
        let reason = format!(
            "reputation {} below {}",
            score.total,
            self.reputation.thresholds().auto_ban
        );
        match self.bans.ban(
            BanTarget::Node(*peer),
            &reason,
            BanOrigin::Automatic,
            unix,
            duration,
        ) {
            Ok(_) => {
                if let Some(ban) = self.bans.check_node(peer, unix).cloned() {
                    self.outbox.event(Event::BanAdded { ban });
                }
                true
            }
            Err(e) => {
                self.outbox.event(Event::Warning {
                    message: format!("could not ban {peer}: {e}"),
                });
                false
            }
        }
    }

    /// Disconnects every connection a ban now covers.
    pub(super) fn enforce_bans(&mut self, now: Instant) {
        let unix = self.clock.unix(now);
        let banned: Vec<ConnId> = self
            .pool
            .iter()
            .filter(|c| {
                self.bans.check_ip(c.link.remote.ip(), unix).is_some()
                    || c.node_id()
                        .is_some_and(|n| self.bans.check_node(&n, unix).is_some())
            })
            .map(|c| c.id)
            .collect();
        for id in banned {
            self.disconnect(id, DisconnectReason::Banned, "banned", false);
        }
    }

    /// The ban covering a peer's address or identity, as text for an error.
    pub(super) fn ban_of(
        &self,
        ip: Option<core::net::IpAddr>,
        id: Option<&NodeId>,
        now: Instant,
    ) -> Option<String> {
        let unix = self.clock.unix(now);
        let b = ip
            .and_then(|ip| self.bans.check_ip(ip, unix))
            .or_else(|| id.and_then(|n| self.bans.check_node(n, unix)))?;
        Some(format!("{} is banned ({})", b.target, b.reason))
    }

    /// The refusal for a peer whose score is below `auto_disconnect_threshold`, if it is.
    pub(super) fn low_reputation(&self, peer: &NodeId, now: Instant) -> Option<PeerError> {
        let score = self.reputation.score(peer, self.clock.unix(now)).total;
        let threshold = self.reputation.thresholds().auto_disconnect;
        (score < threshold).then_some(PeerError::LowReputation { score, threshold })
    }

    /// A peer's reputation now (neutral if unknown).
    pub fn reputation(&self, peer: &NodeId, now: Instant) -> ReputationScore {
        self.reputation.score(peer, self.clock.unix(now))
    }

    /// Why a peer has its score: the recent changes, oldest first.
    pub fn reputation_history(&self, peer: &NodeId) -> Vec<ScoreChange> {
        self.reputation.history(peer).cloned().collect()
    }

    /// Whether messages may be relayed to and from `peer` (reputation ≥ `min_relay_reputation`).
    pub fn can_relay(&self, peer: &NodeId) -> bool {
        let unix = self.clock.unix(self.now);
        self.reputation
            .thresholds()
            .can_relay(self.reputation.score(peer, unix).total)
    }

    /// Connected peers fit for consensus (reputation ≥ `min_consensus_reputation`), in id order.
    pub fn consensus_peers(&self) -> Vec<NodeId> {
        let unix = self.clock.unix(self.now);
        self.connected_peers()
            .into_iter()
            .filter(|p| {
                self.reputation
                    .thresholds()
                    .can_consensus(self.reputation.score(p, unix).total)
            })
            .collect()
    }

    /// Everything worth keeping across a restart, as plain records for the peer database.
    pub fn durable_state(&self, now: Instant) -> DurableState {
        let unix = self.clock.unix(now);
        DurableState {
            saved_at: unix,
            addresses: self.book.records(),
            reputation: self.reputation.records(unix),
            bans: self.bans.records(),
        }
    }

    /// Loads saved records (at start, before connecting). Decay and expiry are applied from
    /// the records' own times to `now`, so a restart is neither an amnesty nor a permanent grudge.
    pub fn restore(&mut self, state: DurableState, now: Instant) {
        let unix = self.clock.unix(now);
        self.book.restore(state.addresses);
        self.reputation.restore(state.reputation, unix);
        self.bans.restore(state.bans, unix);
    }
}
