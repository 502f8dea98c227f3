//! The table: one entry per peer (state, history, drift), reports applied to it, decay to a
//! given time, the bound on the number of peers, and the records for persistence.

use super::score::{clamp_or, Component, LatencyStats, Reason};
use super::{
    DisconnectKind, Report, ReputationCounters, ReputationRecord, ReputationScore, ReputationState,
    ReputationThresholds, ScoreChange, ThresholdAction,
};
use super::{
    CLEAN_DISCONNECT_LOSS, CONSENSUS_PARTICIPATION_GAIN, CONSENSUS_VIOLATION_LOSS,
    CONSENSUS_VIOLATION_PENALTY, HISTORY_DRIFT_STEP, INVALID_MESSAGE_LOSS, INVALID_MESSAGE_PENALTY,
    MAX, MAX_PENALTY, MAX_REPUTATION_ENTRIES, MAX_SCORE_HISTORY, PROTOCOL_VIOLATION_LOSS,
    PROTOCOL_VIOLATION_PENALTY, RELAY_FAILURE_LOSS, RELAY_SUCCESS_GAIN, UNCLEAN_DISCONNECT_LOSS,
    VALID_MESSAGE_GAIN,
};
use crate::config::ReputationConfig;
use crate::id::NodeId;
use crate::time::UnixMillis;
use std::collections::{BTreeMap, VecDeque};

/// One peer's live reputation.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    state: ReputationState,
    /// The time `state` refers to; also the last activity.
    updated_at: UnixMillis,
    connected: bool,
    latency: Option<LatencyStats>,
    counters: ReputationCounters,
    history: VecDeque<ScoreChange>,
    /// Time-driven drift not yet listed in `history` (see [`HISTORY_DRIFT_STEP`]), per
    /// component in [`COMPONENTS`] order.
    drift: [f64; 6],
}

pub(super) const COMPONENTS: [Component; 6] = [
    Component::Uptime,
    Component::Latency,
    Component::Validity,
    Component::Consensus,
    Component::Relay,
    Component::Penalty,
];

impl Entry {
    pub(super) fn new(now: UnixMillis) -> Entry {
        Entry {
            state: ReputationState::NEUTRAL,
            updated_at: now,
            connected: false,
            latency: None,
            counters: ReputationCounters::default(),
            history: VecDeque::new(),
            drift: [0.0; 6],
        }
    }

    pub(super) fn projected(&self, now: UnixMillis, rate: f64) -> ReputationState {
        self.state.projected(
            now.0.saturating_sub(self.updated_at.0),
            self.connected,
            rate,
        )
    }

    /// Brings the state forward to `now`, listing drift once it adds up to a visible step.
    pub(super) fn advance(&mut self, now: UnixMillis, rate: f64) {
        let next = self.projected(now, rate);
        for (i, c) in COMPONENTS.into_iter().enumerate() {
            self.drift[i] += next.get(c) - self.state.get(c);
            if self.drift[i].abs() >= HISTORY_DRIFT_STEP {
                self.flush_drift(i, c, now);
            }
        }
        self.state = next;
        self.updated_at = self.updated_at.max(now);
    }

    /// Lists the unlisted drift of component `c` (index `i`). Uptime drift is "time
    /// connected" while connected, decay otherwise; it is flushed whenever the connection
    /// state changes, so one entry never mixes the two.
    pub(super) fn flush_drift(&mut self, i: usize, c: Component, now: UnixMillis) {
        let reason = if c == Component::Uptime && self.connected {
            Reason::ConnectedTime
        } else {
            Reason::Decay
        };
        let delta = std::mem::take(&mut self.drift[i]);
        self.note(c, delta, reason, now);
    }

    /// Marks the connection state, listing uptime drift first if it changes.
    pub(super) fn set_connected(&mut self, connected: bool, now: UnixMillis) {
        if self.connected != connected {
            self.flush_drift(0, Component::Uptime, now);
            self.connected = connected;
        }
    }

    /// Appends to the history, merging with the newest entry if it has the same component
    /// and reason.
    pub(super) fn note(
        &mut self,
        component: Component,
        delta: f64,
        reason: Reason,
        at: UnixMillis,
    ) {
        if delta == 0.0 || !delta.is_finite() {
            return;
        }
        if let Some(last) = self.history.back_mut() {
            if last.component == component && last.reason == reason {
                last.delta += delta;
                last.count = last.count.saturating_add(1);
                last.at = at;
                return;
            }
        }
        if self.history.len() >= MAX_SCORE_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(ScoreChange {
            component,
            delta,
            reason,
            at,
            count: 1,
        });
    }

    /// Sets `component` to `value` (clamped) and notes the change.
    pub(super) fn set(&mut self, component: Component, value: f64, reason: Reason, at: UnixMillis) {
        let max = if component == Component::Penalty {
            MAX_PENALTY
        } else {
            MAX
        };
        let old = self.state.get(component);
        let new = clamp_or(value, 0.0, max, old);
        *self.state.get_mut(component) = new;
        self.note(component, new - old, reason, at);
    }

    pub(super) fn gain(
        &mut self,
        component: Component,
        fraction: f64,
        reason: Reason,
        at: UnixMillis,
    ) {
        let v = self.state.get(component);
        self.set(component, v + fraction * (MAX - v), reason, at);
    }

    pub(super) fn lose(
        &mut self,
        component: Component,
        fraction: f64,
        reason: Reason,
        at: UnixMillis,
    ) {
        let v = self.state.get(component);
        self.set(component, v * (1.0 - fraction), reason, at);
    }

    pub(super) fn punish(&mut self, points: f64, reason: Reason, at: UnixMillis) {
        let p = self.state.penalty;
        self.set(Component::Penalty, p + points, reason, at);
    }

    pub(super) fn apply(&mut self, report: Report, now: UnixMillis, rate: f64) {
        let now = now.max(self.updated_at);
        self.advance(now, rate);
        let inc = |n: &mut u64| *n = n.saturating_add(1);
        match report {
            Report::Connected => {
                if !self.connected {
                    inc(&mut self.counters.connections);
                }
                self.set_connected(true, now);
            }
            Report::Disconnected(kind) => {
                self.set_connected(false, now);
                match kind {
                    DisconnectKind::Local => inc(&mut self.counters.local_disconnects),
                    DisconnectKind::Clean => {
                        inc(&mut self.counters.clean_disconnects);
                        self.lose(
                            Component::Uptime,
                            CLEAN_DISCONNECT_LOSS,
                            Reason::CleanDisconnect,
                            now,
                        );
                    }
                    DisconnectKind::Unclean => {
                        inc(&mut self.counters.unclean_disconnects);
                        self.lose(
                            Component::Uptime,
                            UNCLEAN_DISCONNECT_LOSS,
                            Reason::UncleanDisconnect,
                            now,
                        );
                    }
                }
            }
            Report::Latency(rtt) => {
                inc(&mut self.counters.latency_samples);
                let stats = LatencyStats::update(self.latency, rtt);
                self.latency = Some(stats);
                self.set(
                    Component::Latency,
                    stats.score(),
                    Reason::LatencySample,
                    now,
                );
            }
            Report::ValidMessage => {
                inc(&mut self.counters.valid_messages);
                self.gain(
                    Component::Validity,
                    VALID_MESSAGE_GAIN,
                    Reason::ValidMessage,
                    now,
                );
            }
            Report::InvalidMessage => {
                inc(&mut self.counters.invalid_messages);
                self.lose(
                    Component::Validity,
                    INVALID_MESSAGE_LOSS,
                    Reason::InvalidMessage,
                    now,
                );
                self.punish(INVALID_MESSAGE_PENALTY, Reason::InvalidMessage, now);
            }
            Report::ProtocolViolation(v) => {
                inc(&mut self.counters.protocol_violations);
                let reason = Reason::ProtocolViolation(v);
                self.lose(Component::Validity, PROTOCOL_VIOLATION_LOSS, reason, now);
                self.punish(PROTOCOL_VIOLATION_PENALTY, reason, now);
            }
            Report::ConsensusParticipation => {
                inc(&mut self.counters.consensus_participations);
                self.gain(
                    Component::Consensus,
                    CONSENSUS_PARTICIPATION_GAIN,
                    Reason::ConsensusParticipation,
                    now,
                );
            }
            Report::ConsensusViolation => {
                inc(&mut self.counters.consensus_violations);
                let reason = Reason::ConsensusViolation;
                self.lose(Component::Consensus, CONSENSUS_VIOLATION_LOSS, reason, now);
                self.punish(CONSENSUS_VIOLATION_PENALTY, reason, now);
            }
            Report::RelaySuccess => {
                inc(&mut self.counters.relay_successes);
                self.gain(
                    Component::Relay,
                    RELAY_SUCCESS_GAIN,
                    Reason::RelaySuccess,
                    now,
                );
            }
            Report::RelayFailure => {
                inc(&mut self.counters.relay_failures);
                self.lose(
                    Component::Relay,
                    RELAY_FAILURE_LOSS,
                    Reason::RelayFailure,
                    now,
                );
            }
        }
    }
}

/// The reputation of every peer we have an opinion about, keyed by [`NodeId`].
///
/// Unknown peers score [`ReputationScore::NEUTRAL`]. Reads ([`score`](Self::score)) project
/// the stored state to the given time without changing anything; reports bring it forward and
/// then apply the observation.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct ReputationTable {
    entries: BTreeMap<NodeId, Entry>,
    thresholds: ReputationThresholds,
    /// `decay_rate` clamped to `0..=1` (NaN → 0, no decay).
    decay_rate: f64,
    pub(super) max_entries: usize,
}

impl ReputationTable {
    /// An empty table with the thresholds and decay rate of `config`. A `decay_rate` outside
    /// `0..=1` is clamped; NaN means no decay (`Config::validate` rejects both).
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn new(config: &ReputationConfig) -> ReputationTable {
        ReputationTable {
            entries: BTreeMap::new(),
            thresholds: ReputationThresholds::from(config),
            decay_rate: clamp_or(config.decay_rate, 0.0, 1.0, 0.0),
            max_entries: MAX_REPUTATION_ENTRIES,
        }
    }

    /// The thresholds from the configuration.
    pub(crate) fn thresholds(&self) -> &ReputationThresholds {
        &self.thresholds
    }

    /// Records one observation about `id` at `now` and returns its new score. Apply
    /// [`thresholds`](Self::thresholds)`().action(score.total)` to decide what to do.
    ///
    /// A new peer in a full table evicts the entry closest to neutral with the oldest activity
    /// among those not connected; if every entry is connected (impossible with the default
    /// limits) the report is dropped and the neutral score returned.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn report(&mut self, id: NodeId, report: Report, now: UnixMillis) -> ReputationScore {
        if !self.entries.contains_key(&id)
            && self.entries.len() >= self.max_entries
            && !self.evict_one(now)
        {
            return ReputationScore::NEUTRAL;
        }
        let rate = self.decay_rate;
        let entry = self.entries.entry(id).or_insert_with(|| Entry::new(now));
        entry.apply(report, now, rate);
        entry.state.score()
    }

    /// The score of `id` at `now`; neutral if unknown.
    pub(crate) fn score(&self, id: &NodeId, now: UnixMillis) -> ReputationScore {
        self.entries.get(id).map_or(ReputationScore::NEUTRAL, |e| {
            e.projected(now, self.decay_rate).score()
        })
    }

    /// What the score of `id` at `now` calls for.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn action(&self, id: &NodeId, now: UnixMillis) -> ThresholdAction {
        self.thresholds.action(self.score(id, now).total)
    }

    /// The explained changes of `id`, oldest first (at most [`MAX_SCORE_HISTORY`]; empty if
    /// unknown). Drift since the last report is not listed yet.
    pub(crate) fn history(&self, id: &NodeId) -> impl Iterator<Item = &ScoreChange> + '_ {
        self.entries
            .get(id)
            .into_iter()
            .flat_map(|e| e.history.iter())
    }

    /// Whether `id` is marked connected (a [`Report::Connected`] not yet followed by a
    /// [`Report::Disconnected`]).
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn is_connected(&self, id: &NodeId) -> bool {
        self.entries.get(id).is_some_and(|e| e.connected)
    }

    /// Forgets `id`; returns whether it was known.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn remove(&mut self, id: &NodeId) -> bool {
        self.entries.remove(id).is_some()
    }

    /// How many peers are tracked.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no peer is tracked.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry as a durable record, in [`NodeId`] order. Connected peers are brought
    /// forward to `now` (their uptime gain so far is kept; after a restore they are not
    /// connected); the others are saved as of their last report.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn records(&self, now: UnixMillis) -> Vec<ReputationRecord> {
        self.entries
            .iter()
            .map(|(id, e)| {
                let (state, updated_at) = if e.connected {
                    let at = now.max(e.updated_at);
                    (e.projected(at, self.decay_rate), at)
                } else {
                    (e.state, e.updated_at)
                };
                ReputationRecord {
                    node_id: *id,
                    state,
                    latency: e.latency,
                    counters: e.counters,
                    updated_at,
                }
            })
            .collect()
    }

    /// Loads records saved earlier; returns how many were taken. Values are forced into their
    /// ranges, an `updated_at` later than `now` is taken as `now`, a record replaces a live
    /// entry for the same peer, and the table bound holds (records beyond it evict as
    /// [`report`](Self::report) does, or are dropped). Decay for the time since `updated_at`
    /// applies from then on.
    pub(crate) fn restore(
        &mut self,
        records: impl IntoIterator<Item = ReputationRecord>,
        now: UnixMillis,
    ) -> usize {
        let mut taken = 0;
        for r in records {
            if !self.entries.contains_key(&r.node_id)
                && self.entries.len() >= self.max_entries
                && !self.evict_one(now)
            {
                continue;
            }
            let mut entry = Entry::new(r.updated_at.min(now));
            entry.state = r.state.sanitized();
            entry.latency = r.latency.and_then(LatencyStats::sanitized);
            entry.counters = r.counters;
            self.entries.insert(r.node_id, entry);
            taken += 1;
        }
        taken
    }

    /// Evicts the unconnected entry closest to neutral at `now` (whole points), oldest activity
    /// first, lowest id on ties. Returns whether one was evicted.
    pub(super) fn evict_one(&mut self, now: UnixMillis) -> bool {
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| !e.connected)
            .map(|(id, e)| {
                let deviation = e.projected(now, self.decay_rate).deviation().floor() as u64;
                ((deviation, e.updated_at), *id)
            })
            .min_by_key(|(key, _)| *key)
            .map(|(_, id)| id);
        match victim {
            Some(id) => self.entries.remove(&id).is_some(),
            None => false,
        }
    }
}
