//! Peer reputation: what we think of each peer, from what it did and how long ago.
//!
//! # What it decides
//!
//! A [`ReputationTable`] turns observations ([`Report`]s: connections, latency samples, valid and
//! invalid messages, consensus and relay outcomes, protocol violations) into a
//! [`ReputationScore`] per [`NodeId`]: five components and a total, each `0..=100`, plus a
//! misbehaviour penalty. [`ReputationThresholds`] maps a total to a [`ThresholdAction`]
//! (nothing, disconnect, ban) and answers whether a peer may relay or take part in consensus.
//! The table only scores; the node acts on the score.
//!
//! # Model (the numbers are in `docs/REPUTATION.md`)
//!
//! * Every component is a real number in `0..=100`; a new peer starts at [`NEUTRAL_SCORE`] (50).
//!   A good observation moves a component a fixed fraction of its distance *towards 100*, a bad
//!   one removes a fixed fraction of its value, so a component can never leave `0..=100` and
//!   good behaviour buys at most the last few points below 100, never unlimited credit.
//! * Misbehaviour (invalid messages, protocol violations, consensus violations) also adds to a
//!   **penalty** (at most [`MAX_PENALTY`]) that is subtracted from the weighted total. Good
//!   behaviour does not reduce the penalty; only time does. This is what lets ten invalid
//!   messages disconnect an otherwise neutral peer, which the weights alone cannot do.
//! * `total = round((2·uptime + 2·latency + 3·validity + 2·consensus + relay) / 10 − penalty)`
//!   on the *displayed* (rounded) values, clamped to `0..=100`: anyone can recompute the total
//!   from a [`ReputationScore`].
//! * **Decay**: with `decay_rate` r per day, every component's distance to neutral and the
//!   penalty are multiplied by `(1 − r)^days`, continuously, from the wall-clock
//!   [`UnixMillis`] passed in. While a peer is connected its uptime instead climbs towards 100,
//!   halving its distance every [`UPTIME_HALF_LIFE`].
//!
//! # Invariants
//!
//! * Pure and deterministic: the same reports at the same times give the same scores. Time
//!   that goes backwards is treated as no time passing.
//! * Every component stays in `0..=100`, the penalty in `0..=MAX_PENALTY`, the total in
//!   `0..=100`, whatever the input (including restored records with garbage numbers).
//! * Persistence is neither an amnesty nor a grudge: a [`ReputationRecord`] carries the time its
//!   state refers to, and decay runs from there on [`ReputationTable::restore`].
//!
//! # Limits
//!
//! * [`MAX_REPUTATION_ENTRIES`] peers; when full, the entry closest to neutral with the oldest
//!   activity is evicted, never a peer that is currently connected.
//! * [`MAX_SCORE_HISTORY`] explained changes per peer; the oldest is dropped.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use crate::config::ReputationConfig;
use crate::id::NodeId;
use crate::time::UnixMillis;

/// The score of a peer we know nothing about, for every component and the total.
pub const NEUTRAL_SCORE: u32 = 50;
/// The highest score of a component and of the total.
pub const MAX_SCORE: u32 = 100;
/// The most peers a [`ReputationTable`] tracks.
pub const MAX_REPUTATION_ENTRIES: usize = 20_000;
/// The most [`ScoreChange`]s kept per peer; older ones are dropped.
pub const MAX_SCORE_HISTORY: usize = 32;
/// The highest penalty; more misbehaviour is still counted but costs nothing more.
pub const MAX_PENALTY: f64 = 100.0;

/// Penalty points added by one invalid message.
pub const INVALID_MESSAGE_PENALTY: f64 = 3.0;
/// Penalty points added by one protocol violation (bad frame, PEX flood, handshake violation).
pub const PROTOCOL_VIOLATION_PENALTY: f64 = 10.0;
/// Penalty points added by one consensus violation.
pub const CONSENSUS_VIOLATION_PENALTY: f64 = 5.0;

/// Fraction of validity lost per invalid message.
pub const INVALID_MESSAGE_LOSS: f64 = 0.2;
/// Fraction of validity lost per protocol violation.
pub const PROTOCOL_VIOLATION_LOSS: f64 = 0.5;
/// Fraction of the distance to 100 that a valid message adds to validity.
pub const VALID_MESSAGE_GAIN: f64 = 0.02;
/// Fraction of the distance to 100 that a consensus participation adds.
pub const CONSENSUS_PARTICIPATION_GAIN: f64 = 0.05;
/// Fraction of the consensus component lost per consensus violation.
pub const CONSENSUS_VIOLATION_LOSS: f64 = 0.5;
/// Fraction of the distance to 100 that a relayed message adds.
pub const RELAY_SUCCESS_GAIN: f64 = 0.02;
/// Fraction of the relay component lost per relay failure.
pub const RELAY_FAILURE_LOSS: f64 = 0.1;
/// Fraction of uptime lost when the peer closes the connection cleanly (a goodbye).
pub const CLEAN_DISCONNECT_LOSS: f64 = 0.02;
/// Fraction of uptime lost when the connection breaks (error, timeout, no goodbye).
pub const UNCLEAN_DISCONNECT_LOSS: f64 = 0.15;
/// While connected, the uptime component halves its distance to 100 every this long.
pub const UPTIME_HALF_LIFE: Duration = Duration::from_secs(12 * 3600);

/// Round-trip times at or below this score 100.
pub const LATENCY_BEST: Duration = Duration::from_millis(50);
/// Round-trip times at or above this score 0.
pub const LATENCY_WORST: Duration = Duration::from_millis(1000);
/// Samples are clamped to this before entering the averages.
pub const MAX_LATENCY_SAMPLE: Duration = Duration::from_secs(60);
/// Weight of a new sample in the mean round-trip time (TCP's SRTT gain).
pub const LATENCY_MEAN_GAIN: f64 = 0.125;
/// Weight of a new sample's deviation in the mean deviation (TCP's RTTVAR gain).
pub const LATENCY_DEVIATION_GAIN: f64 = 0.25;
/// The latency score is computed from `mean + LATENCY_JITTER_WEIGHT × mean deviation`.
pub const LATENCY_JITTER_WEIGHT: f64 = 2.0;

/// Time-driven drift (decay, uptime while connected) is listed in the history once it adds up
/// to at least this many points on one component.
pub const HISTORY_DRIFT_STEP: f64 = 0.5;

const DAY_MS: f64 = 86_400_000.0;
const NEUTRAL: f64 = NEUTRAL_SCORE as f64;
const MAX: f64 = MAX_SCORE as f64;

/// A peer's reputation as shown to operators and used for decisions (spec 5.1).
///
/// Every field is `0..=100` except `penalty` (`0..=100` as well, [`MAX_PENALTY`]).
/// `total = round((2·uptime + 2·latency + 3·validity + 2·consensus + relay) / 10 − penalty)`,
/// halves rounded up, clamped to `0..=100`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ReputationScore {
    /// The weighted total minus the penalty: what thresholds compare against.
    pub total: u32,
    /// Connection stability: time connected, disconnects.
    pub uptime: u32,
    /// Network performance: mean round-trip time and its jitter.
    pub latency: u32,
    /// Message validity.
    pub validity: u32,
    /// Consensus participation.
    pub consensus: u32,
    /// Message relay behaviour.
    pub relay: u32,
    /// Misbehaviour penalty subtracted from the weighted total.
    pub penalty: u32,
}

impl ReputationScore {
    /// The score of a peer we know nothing about: 50 everywhere, no penalty.
    pub const NEUTRAL: ReputationScore = ReputationScore {
        total: NEUTRAL_SCORE,
        uptime: NEUTRAL_SCORE,
        latency: NEUTRAL_SCORE,
        validity: NEUTRAL_SCORE,
        consensus: NEUTRAL_SCORE,
        relay: NEUTRAL_SCORE,
        penalty: 0,
    };
}

impl Default for ReputationScore {
    fn default() -> Self {
        ReputationScore::NEUTRAL
    }
}

/// How a connection ended, as far as the peer's uptime is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectKind {
    /// We closed it (limits, shutdown, operator, or because of misbehaviour reported
    /// separately): no uptime cost.
    Local,
    /// The peer said goodbye and closed cleanly: [`CLEAN_DISCONNECT_LOSS`].
    Clean,
    /// The connection broke (error, timeout, no goodbye): [`UNCLEAN_DISCONNECT_LOSS`].
    Unclean,
}

/// A protocol violation the core detects itself.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Violation {
    /// A frame that does not decode or exceeds a limit.
    BadFrame,
    /// Too many peer-exchange messages or addresses.
    PexFlood,
    /// A handshake out of order, badly signed or otherwise wrong.
    Handshake,
}

/// One observation about a peer, fed to [`ReputationTable::report`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Report {
    /// A connection to the peer completed its handshake. Uptime climbs while connected.
    Connected,
    /// The connection ended. Report every end, whoever caused it: a peer left "connected" is
    /// never evicted and keeps gaining uptime.
    Disconnected(DisconnectKind),
    /// A round-trip time measured by Ping/Pong.
    Latency(Duration),
    /// The application accepted a message from the peer.
    ValidMessage,
    /// The application rejected a message from the peer.
    InvalidMessage,
    /// The core saw the peer break the protocol.
    ProtocolViolation(Violation),
    /// The peer took part in a consensus round correctly.
    ConsensusParticipation,
    /// The peer broke a consensus rule.
    ConsensusViolation,
    /// The peer relayed a message as asked.
    RelaySuccess,
    /// The peer failed to relay a message.
    RelayFailure,
}

/// A part of the reputation that a [`ScoreChange`] moved.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Component {
    /// [`ReputationScore::uptime`].
    Uptime,
    /// [`ReputationScore::latency`].
    Latency,
    /// [`ReputationScore::validity`].
    Validity,
    /// [`ReputationScore::consensus`].
    Consensus,
    /// [`ReputationScore::relay`].
    Relay,
    /// [`ReputationScore::penalty`] (a positive delta lowers the total).
    Penalty,
}

/// Why a component moved.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// Time passed: the component drifted towards neutral, the penalty towards 0.
    Decay,
    /// Time passed while connected: uptime climbed.
    ConnectedTime,
    /// The peer closed the connection cleanly.
    CleanDisconnect,
    /// The connection broke.
    UncleanDisconnect,
    /// A latency sample moved the averages.
    LatencySample,
    /// A valid message.
    ValidMessage,
    /// An invalid message.
    InvalidMessage,
    /// A protocol violation.
    ProtocolViolation(Violation),
    /// A consensus participation.
    ConsensusParticipation,
    /// A consensus violation.
    ConsensusViolation,
    /// A relayed message.
    RelaySuccess,
    /// A failed relay.
    RelayFailure,
}

impl Reason {
    /// A short lowercase description.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Decay => "decay over time",
            Reason::ConnectedTime => "time connected",
            Reason::CleanDisconnect => "clean disconnect",
            Reason::UncleanDisconnect => "unclean disconnect",
            Reason::LatencySample => "latency sample",
            Reason::ValidMessage => "valid message",
            Reason::InvalidMessage => "invalid message",
            Reason::ProtocolViolation(Violation::BadFrame) => "protocol violation: bad frame",
            Reason::ProtocolViolation(Violation::PexFlood) => "protocol violation: PEX flood",
            Reason::ProtocolViolation(Violation::Handshake) => "protocol violation: handshake",
            Reason::ConsensusParticipation => "consensus participation",
            Reason::ConsensusViolation => "consensus violation",
            Reason::RelaySuccess => "relay success",
            Reason::RelayFailure => "relay failure",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One explained change of one component. Consecutive changes with the same component and
/// reason are merged into one entry (`count` of them, `delta` summed, `at` the latest).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreChange {
    /// What moved.
    pub component: Component,
    /// By how much, in points (unrounded).
    pub delta: f64,
    /// Why.
    pub reason: Reason,
    /// When (the latest, for merged entries).
    pub at: UnixMillis,
    /// How many observations this entry merges (at least 1).
    pub count: u32,
}

/// The unrounded state of a peer's reputation: five components in `0..=100` and the penalty
/// in `0..=MAX_PENALTY`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReputationState {
    /// Uptime component.
    pub uptime: f64,
    /// Latency component.
    pub latency: f64,
    /// Validity component.
    pub validity: f64,
    /// Consensus component.
    pub consensus: f64,
    /// Relay component.
    pub relay: f64,
    /// Misbehaviour penalty.
    pub penalty: f64,
}

impl ReputationState {
    /// Every component at 50, no penalty.
    pub const NEUTRAL: ReputationState = ReputationState {
        uptime: NEUTRAL,
        latency: NEUTRAL,
        validity: NEUTRAL,
        consensus: NEUTRAL,
        relay: NEUTRAL,
        penalty: 0.0,
    };

    /// The displayed score of this state (see [`ReputationScore`] for the formula).
    pub fn score(&self) -> ReputationScore {
        let round = |v: f64, max: f64| clamp_or(v, 0.0, max, 0.0).round() as u32;
        let uptime = round(self.uptime, MAX);
        let latency = round(self.latency, MAX);
        let validity = round(self.validity, MAX);
        let consensus = round(self.consensus, MAX);
        let relay = round(self.relay, MAX);
        let penalty = round(self.penalty, MAX_PENALTY);
        // Exact integer arithmetic in tenths: no float rounding surprises at .5.
        let tenths = i64::from(2 * uptime + 2 * latency + 3 * validity + 2 * consensus + relay)
            - 10 * i64::from(penalty);
        let total = (tenths + 5).div_euclid(10).clamp(0, i64::from(MAX_SCORE)) as u32;
        ReputationScore {
            total,
            uptime,
            latency,
            validity,
            consensus,
            relay,
            penalty,
        }
    }

    /// This state with every value forced into its range; NaN becomes neutral (no penalty).
    fn sanitized(self) -> ReputationState {
        ReputationState {
            uptime: clamp_or(self.uptime, 0.0, MAX, NEUTRAL),
            latency: clamp_or(self.latency, 0.0, MAX, NEUTRAL),
            validity: clamp_or(self.validity, 0.0, MAX, NEUTRAL),
            consensus: clamp_or(self.consensus, 0.0, MAX, NEUTRAL),
            relay: clamp_or(self.relay, 0.0, MAX, NEUTRAL),
            penalty: clamp_or(self.penalty, 0.0, MAX_PENALTY, 0.0),
        }
    }

    /// How far from neutral: the largest component distance or the penalty.
    fn deviation(&self) -> f64 {
        [
            self.uptime,
            self.latency,
            self.validity,
            self.consensus,
            self.relay,
        ]
        .iter()
        .map(|v| (v - NEUTRAL).abs())
        .fold(self.penalty, f64::max)
    }

    fn get(&self, c: Component) -> f64 {
        match c {
            Component::Uptime => self.uptime,
            Component::Latency => self.latency,
            Component::Validity => self.validity,
            Component::Consensus => self.consensus,
            Component::Relay => self.relay,
            Component::Penalty => self.penalty,
        }
    }

    fn get_mut(&mut self, c: Component) -> &mut f64 {
        match c {
            Component::Uptime => &mut self.uptime,
            Component::Latency => &mut self.latency,
            Component::Validity => &mut self.validity,
            Component::Consensus => &mut self.consensus,
            Component::Relay => &mut self.relay,
            Component::Penalty => &mut self.penalty,
        }
    }

    /// The state `elapsed_ms` later: decay towards neutral at `rate` per day, and uptime
    /// climbing towards 100 instead while `connected`.
    fn projected(&self, elapsed_ms: u64, connected: bool, rate: f64) -> ReputationState {
        if elapsed_ms == 0 {
            return *self;
        }
        let keep = (1.0 - rate).powf(elapsed_ms as f64 / DAY_MS);
        let toward = |v: f64, anchor: f64, keep: f64| anchor + (v - anchor) * keep;
        let uptime = if connected {
            let half_life_ms = UPTIME_HALF_LIFE.as_millis() as f64;
            toward(
                self.uptime,
                MAX,
                0.5f64.powf(elapsed_ms as f64 / half_life_ms),
            )
        } else {
            toward(self.uptime, NEUTRAL, keep)
        };
        ReputationState {
            uptime,
            latency: toward(self.latency, NEUTRAL, keep),
            validity: toward(self.validity, NEUTRAL, keep),
            consensus: toward(self.consensus, NEUTRAL, keep),
            relay: toward(self.relay, NEUTRAL, keep),
            penalty: self.penalty * keep,
        }
        .sanitized()
    }
}

impl Default for ReputationState {
    fn default() -> Self {
        ReputationState::NEUTRAL
    }
}

/// `v` clamped to `lo..=hi`, or `nan` if `v` is NaN.
fn clamp_or(v: f64, lo: f64, hi: f64, nan: f64) -> f64 {
    if v.is_nan() {
        nan
    } else {
        v.clamp(lo, hi)
    }
}

/// Running round-trip statistics, as TCP keeps them (RFC 6298 SRTT/RTTVAR): the mean and the
/// mean deviation, both in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencyStats {
    /// Exponentially weighted mean round-trip time (gain [`LATENCY_MEAN_GAIN`]).
    pub mean_ms: f64,
    /// Exponentially weighted mean deviation from the mean (gain [`LATENCY_DEVIATION_GAIN`]).
    pub deviation_ms: f64,
}

impl LatencyStats {
    /// Folds in one sample (clamped to [`MAX_LATENCY_SAMPLE`]).
    fn update(previous: Option<LatencyStats>, rtt: Duration) -> LatencyStats {
        let ms = rtt.min(MAX_LATENCY_SAMPLE).as_secs_f64() * 1000.0;
        match previous {
            None => LatencyStats {
                mean_ms: ms,
                deviation_ms: 0.0,
            },
            Some(p) => LatencyStats {
                deviation_ms: (1.0 - LATENCY_DEVIATION_GAIN) * p.deviation_ms
                    + LATENCY_DEVIATION_GAIN * (p.mean_ms - ms).abs(),
                mean_ms: (1.0 - LATENCY_MEAN_GAIN) * p.mean_ms + LATENCY_MEAN_GAIN * ms,
            },
        }
    }

    /// The latency component these statistics earn: 100 at an effective round-trip time
    /// (`mean + 2 × deviation`) of [`LATENCY_BEST`] or less, 0 at [`LATENCY_WORST`] or more,
    /// linear in between.
    pub fn score(&self) -> f64 {
        let best = LATENCY_BEST.as_secs_f64() * 1000.0;
        let worst = LATENCY_WORST.as_secs_f64() * 1000.0;
        let effective = self.mean_ms + LATENCY_JITTER_WEIGHT * self.deviation_ms;
        let effective = clamp_or(effective, best, worst, worst);
        MAX * (worst - effective) / (worst - best)
    }

    fn sanitized(self) -> Option<LatencyStats> {
        let max = MAX_LATENCY_SAMPLE.as_secs_f64() * 1000.0;
        (self.mean_ms.is_finite() && self.deviation_ms.is_finite()).then(|| LatencyStats {
            mean_ms: self.mean_ms.clamp(0.0, max),
            deviation_ms: self.deviation_ms.clamp(0.0, max),
        })
    }
}

/// How many of each observation a peer produced (saturating; statistics only, the score does
/// not read them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ReputationCounters {
    /// [`Report::Connected`] while not connected.
    pub connections: u64,
    /// [`DisconnectKind::Local`].
    pub local_disconnects: u64,
    /// [`DisconnectKind::Clean`].
    pub clean_disconnects: u64,
    /// [`DisconnectKind::Unclean`].
    pub unclean_disconnects: u64,
    /// [`Report::Latency`].
    pub latency_samples: u64,
    /// [`Report::ValidMessage`].
    pub valid_messages: u64,
    /// [`Report::InvalidMessage`].
    pub invalid_messages: u64,
    /// [`Report::ProtocolViolation`].
    pub protocol_violations: u64,
    /// [`Report::ConsensusParticipation`].
    pub consensus_participations: u64,
    /// [`Report::ConsensusViolation`].
    pub consensus_violations: u64,
    /// [`Report::RelaySuccess`].
    pub relay_successes: u64,
    /// [`Report::RelayFailure`].
    pub relay_failures: u64,
}

/// The durable form of one peer's reputation, for the CLI's database.
///
/// `state` is the reputation as of `updated_at`; [`ReputationTable::restore`] applies decay
/// from `updated_at` to whenever the score is next read, so downtime counts like any other
/// time. The connection state and the history are not saved: after a restart nobody is
/// connected, and the history explains the live session only.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReputationRecord {
    /// The peer.
    pub node_id: NodeId,
    /// Components and penalty as of `updated_at`.
    pub state: ReputationState,
    /// Round-trip statistics, if any sample was seen.
    pub latency: Option<LatencyStats>,
    /// Observation counts.
    pub counters: ReputationCounters,
    /// The time `state` refers to: the last report, or the save time for a peer connected
    /// when saved.
    pub updated_at: UnixMillis,
}

/// What a total score calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ThresholdAction {
    /// Keep the peer.
    None,
    /// Disconnect the peer (total below `auto_disconnect`).
    Disconnect,
    /// Ban the peer (total below `auto_ban`).
    Ban,
}

/// Reputation-based actions (spec 5.3). "Below X" means strictly less than X.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReputationThresholds {
    /// Minimum total to relay messages and be shared in PEX. Default 30.
    pub min_relay: u32,
    /// Minimum total to be offered as a consensus peer. Default 50.
    pub min_consensus: u32,
    /// Disconnect below this total. Default 20.
    pub auto_disconnect: u32,
    /// Ban below this total. Default 10.
    pub auto_ban: u32,
}

impl Default for ReputationThresholds {
    fn default() -> Self {
        ReputationThresholds {
            min_relay: 30,
            min_consensus: 50,
            auto_disconnect: 20,
            auto_ban: 10,
        }
    }
}

impl From<&ReputationConfig> for ReputationThresholds {
    fn from(c: &ReputationConfig) -> Self {
        ReputationThresholds {
            min_relay: c.min_relay_reputation,
            min_consensus: c.min_consensus_reputation,
            auto_disconnect: c.auto_disconnect_threshold,
            auto_ban: c.auto_ban_threshold,
        }
    }
}

impl ReputationThresholds {
    /// Ban below `auto_ban`, else disconnect below `auto_disconnect`, else nothing.
    pub fn action(&self, total: u32) -> ThresholdAction {
        if total < self.auto_ban {
            ThresholdAction::Ban
        } else if total < self.auto_disconnect {
            ThresholdAction::Disconnect
        } else {
            ThresholdAction::None
        }
    }

    /// Whether a peer with this total may relay messages (`total >= min_relay`).
    pub fn can_relay(&self, total: u32) -> bool {
        total >= self.min_relay
    }

    /// Whether a peer with this total may take part in consensus (`total >= min_consensus`).
    pub fn can_consensus(&self, total: u32) -> bool {
        total >= self.min_consensus
    }
}

/// One peer's live reputation.
#[derive(Clone, Debug)]
struct Entry {
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

const COMPONENTS: [Component; 6] = [
    Component::Uptime,
    Component::Latency,
    Component::Validity,
    Component::Consensus,
    Component::Relay,
    Component::Penalty,
];

impl Entry {
    fn new(now: UnixMillis) -> Entry {
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

    fn projected(&self, now: UnixMillis, rate: f64) -> ReputationState {
        self.state.projected(
            now.0.saturating_sub(self.updated_at.0),
            self.connected,
            rate,
        )
    }

    /// Brings the state forward to `now`, listing drift once it adds up to a visible step.
    fn advance(&mut self, now: UnixMillis, rate: f64) {
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
    fn flush_drift(&mut self, i: usize, c: Component, now: UnixMillis) {
        let reason = if c == Component::Uptime && self.connected {
            Reason::ConnectedTime
        } else {
            Reason::Decay
        };
        let delta = std::mem::take(&mut self.drift[i]);
        self.note(c, delta, reason, now);
    }

    /// Marks the connection state, listing uptime drift first if it changes.
    fn set_connected(&mut self, connected: bool, now: UnixMillis) {
        if self.connected != connected {
            self.flush_drift(0, Component::Uptime, now);
            self.connected = connected;
        }
    }

    /// Appends to the history, merging with the newest entry if it has the same component
    /// and reason.
    fn note(&mut self, component: Component, delta: f64, reason: Reason, at: UnixMillis) {
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
    fn set(&mut self, component: Component, value: f64, reason: Reason, at: UnixMillis) {
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

    fn gain(&mut self, component: Component, fraction: f64, reason: Reason, at: UnixMillis) {
        let v = self.state.get(component);
        self.set(component, v + fraction * (MAX - v), reason, at);
    }

    fn lose(&mut self, component: Component, fraction: f64, reason: Reason, at: UnixMillis) {
        let v = self.state.get(component);
        self.set(component, v * (1.0 - fraction), reason, at);
    }

    fn punish(&mut self, points: f64, reason: Reason, at: UnixMillis) {
        let p = self.state.penalty;
        self.set(Component::Penalty, p + points, reason, at);
    }

    fn apply(&mut self, report: Report, now: UnixMillis, rate: f64) {
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
pub struct ReputationTable {
    entries: BTreeMap<NodeId, Entry>,
    thresholds: ReputationThresholds,
    /// `decay_rate` clamped to `0..=1` (NaN → 0, no decay).
    decay_rate: f64,
    max_entries: usize,
}

impl ReputationTable {
    /// An empty table with the thresholds and decay rate of `config`. A `decay_rate` outside
    /// `0..=1` is clamped; NaN means no decay (`Config::validate` rejects both).
    pub fn new(config: &ReputationConfig) -> ReputationTable {
        ReputationTable {
            entries: BTreeMap::new(),
            thresholds: ReputationThresholds::from(config),
            decay_rate: clamp_or(config.decay_rate, 0.0, 1.0, 0.0),
            max_entries: MAX_REPUTATION_ENTRIES,
        }
    }

    /// The thresholds from the configuration.
    pub fn thresholds(&self) -> &ReputationThresholds {
        &self.thresholds
    }

    /// Records one observation about `id` at `now` and returns its new score. Apply
    /// [`thresholds`](Self::thresholds)`().action(score.total)` to decide what to do.
    ///
    /// A new peer in a full table evicts the entry closest to neutral with the oldest activity
    /// among those not connected; if every entry is connected (impossible with the default
    /// limits) the report is dropped and the neutral score returned.
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
    pub fn score(&self, id: &NodeId, now: UnixMillis) -> ReputationScore {
        self.entries.get(id).map_or(ReputationScore::NEUTRAL, |e| {
            e.projected(now, self.decay_rate).score()
        })
    }

    /// What the score of `id` at `now` calls for.
    pub fn action(&self, id: &NodeId, now: UnixMillis) -> ThresholdAction {
        self.thresholds.action(self.score(id, now).total)
    }

    /// The explained changes of `id`, oldest first (at most [`MAX_SCORE_HISTORY`]; empty if
    /// unknown). Drift since the last report is not listed yet.
    pub fn history(&self, id: &NodeId) -> impl Iterator<Item = &ScoreChange> + '_ {
        self.entries
            .get(id)
            .into_iter()
            .flat_map(|e| e.history.iter())
    }

    /// Whether `id` is marked connected (a [`Report::Connected`] not yet followed by a
    /// [`Report::Disconnected`]).
    pub fn is_connected(&self, id: &NodeId) -> bool {
        self.entries.get(id).is_some_and(|e| e.connected)
    }

    /// Forgets `id`; returns whether it was known.
    pub fn remove(&mut self, id: &NodeId) -> bool {
        self.entries.remove(id).is_some()
    }

    /// How many peers are tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no peer is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry as a durable record, in [`NodeId`] order. Connected peers are brought
    /// forward to `now` (their uptime gain so far is kept; after a restore they are not
    /// connected); the others are saved as of their last report.
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
    pub fn restore(
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
    fn evict_one(&mut self, now: UnixMillis) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: u64 = 86_400_000;
    const T0: UnixMillis = UnixMillis(1_700_000_000_000);

    fn id(n: u32) -> NodeId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        NodeId(b)
    }

    fn table() -> ReputationTable {
        ReputationTable::new(&ReputationConfig::default())
    }

    fn at(ms: u64) -> UnixMillis {
        UnixMillis(T0.0 + ms)
    }

    #[test]
    fn test_reputation_calculation() {
        // (reports, expected score) from a neutral peer, all at T0.
        let n = |r: Report, k: usize| vec![r; k];
        let cases: Vec<(&str, Vec<Report>, ReputationScore)> = vec![
            ("nothing", vec![], ReputationScore::NEUTRAL),
            (
                // validity 50 → 51 → ... : 100 - 50·0.98^10 = 59.15 → 59; total (350+177)/10
                "10 valid messages",
                n(Report::ValidMessage, 10),
                ReputationScore {
                    total: 53,
                    validity: 59,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                "one invalid message",
                n(Report::InvalidMessage, 1),
                ReputationScore {
                    total: 44,
                    validity: 40,
                    penalty: 3,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                "one bad frame",
                vec![Report::ProtocolViolation(Violation::BadFrame)],
                // (350 + 3·25)/10 − 10 = 32.5 → 33
                ReputationScore {
                    total: 33,
                    validity: 25,
                    penalty: 10,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                "latency 50ms",
                vec![Report::Latency(Duration::from_millis(50))],
                ReputationScore {
                    total: 60,
                    latency: 100,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                "latency 1s",
                vec![Report::Latency(Duration::from_secs(1))],
                ReputationScore {
                    total: 40,
                    latency: 0,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                // 525ms: (1000 − 525)/950 = 50
                "latency 525ms",
                vec![Report::Latency(Duration::from_millis(525))],
                ReputationScore::NEUTRAL,
            ),
            (
                // mean 50 → 106.25, deviation 0 → 112.5: effective 331.25 → 70.39 → 70
                "jitter 50ms then 500ms",
                vec![
                    Report::Latency(Duration::from_millis(50)),
                    Report::Latency(Duration::from_millis(500)),
                ],
                ReputationScore {
                    total: 54,
                    latency: 70,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                // consensus 50 → 52.5 → 53: (400 + 106)/10 = 50.6 → 51
                "consensus participation",
                vec![Report::ConsensusParticipation],
                ReputationScore {
                    total: 51,
                    consensus: 53,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                // consensus 25, penalty 5: (400 + 50)/10 − 5 = 40
                "consensus violation",
                vec![Report::ConsensusViolation],
                ReputationScore {
                    total: 40,
                    consensus: 25,
                    penalty: 5,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                // relay 50 → 100 − 50·0.98^25 = 69.8 → 70: (450 + 70)/10 = 52
                "25 relays",
                n(Report::RelaySuccess, 25),
                ReputationScore {
                    total: 52,
                    relay: 70,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                "relay failure",
                vec![Report::RelayFailure],
                ReputationScore {
                    total: 50,
                    relay: 45,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                // uptime 50 · 0.85 = 42.5 → 43: (400 + 86)/10 = 48.6 → 49
                "unclean disconnect",
                vec![
                    Report::Connected,
                    Report::Disconnected(DisconnectKind::Unclean),
                ],
                ReputationScore {
                    total: 49,
                    uptime: 43,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                "clean disconnect",
                vec![
                    Report::Connected,
                    Report::Disconnected(DisconnectKind::Clean),
                ],
                ReputationScore {
                    total: 50,
                    uptime: 49,
                    ..ReputationScore::NEUTRAL
                },
            ),
            (
                "local disconnect",
                vec![
                    Report::Connected,
                    Report::Disconnected(DisconnectKind::Local),
                ],
                ReputationScore::NEUTRAL,
            ),
        ];
        for (name, reports, want) in cases {
            let mut t = table();
            let mut got = ReputationScore::NEUTRAL;
            for r in reports {
                got = t.report(id(1), r, T0);
            }
            assert_eq!(got, want, "{name}");
            assert_eq!(t.score(&id(1), T0), want, "{name} (read back)");
        }

        // The weighted total on its own, straight from a state.
        let s = ReputationState {
            uptime: 100.0,
            latency: 80.0,
            validity: 60.0,
            consensus: 40.0,
            relay: 20.0,
            penalty: 0.0,
        };
        // 20 + 16 + 18 + 8 + 2 = 64
        assert_eq!(s.score().total, 64);
        assert_eq!(ReputationState { penalty: 70.0, ..s }.score().total, 0);
        assert_eq!(
            ReputationState {
                uptime: 100.0,
                ..ReputationState::NEUTRAL
            }
            .score()
            .total,
            60
        );
        // Every component at 100: total 100.
        let top = ReputationState {
            uptime: 100.0,
            latency: 100.0,
            validity: 100.0,
            consensus: 100.0,
            relay: 100.0,
            penalty: 0.0,
        };
        assert_eq!(top.score().total, MAX_SCORE);
    }

    #[test]
    fn uptime_climbs_while_connected() {
        let mut t = table();
        t.report(id(1), Report::Connected, T0);
        assert!(t.is_connected(&id(1)));
        let half_life = UPTIME_HALF_LIFE.as_millis() as u64;
        assert_eq!(t.score(&id(1), at(half_life)).uptime, 75);
        assert_eq!(t.score(&id(1), at(2 * half_life)).uptime, 88); // 87.5 rounds up
        let s = t.report(
            id(1),
            Report::Disconnected(DisconnectKind::Clean),
            at(2 * half_life),
        );
        assert_eq!(s.uptime, 86); // 87.5 · 0.98 = 85.75
        let h: Vec<_> = t.history(&id(1)).map(|c| (c.component, c.reason)).collect();
        assert_eq!(
            h,
            vec![
                (Component::Uptime, Reason::ConnectedTime),
                (Component::Uptime, Reason::CleanDisconnect)
            ]
        );
        assert_eq!(t.history(&id(1)).next().map(|c| c.delta), Some(37.5));
        assert!(!t.is_connected(&id(1)));
        // Disconnected: uptime decays towards 50 again.
        assert!(t.score(&id(1), at(2 * half_life + 30 * DAY)).uptime < 86);
    }

    #[test]
    fn ten_invalid_messages_disconnect_a_neutral_peer() {
        let mut t = table();
        let th = *t.thresholds();
        let mut totals = vec![];
        for _ in 0..10 {
            totals.push(t.report(id(7), Report::InvalidMessage, T0).total);
        }
        // Worked in docs/REPUTATION.md: 1 → 44, 3 → 34, 7 → 17, 10 → 7.
        assert_eq!(totals, vec![44, 39, 34, 29, 25, 21, 17, 13, 10, 7]);
        for &total in &totals[..3] {
            assert_eq!(th.action(total), ThresholdAction::None);
        }
        assert_eq!(th.action(totals[5]), ThresholdAction::None);
        assert_eq!(th.action(totals[6]), ThresholdAction::Disconnect);
        assert_eq!(th.action(totals[8]), ThresholdAction::Disconnect);
        assert_eq!(th.action(totals[9]), ThresholdAction::Ban);
        assert_eq!(t.action(&id(7), T0), ThresholdAction::Ban);
    }

    #[test]
    fn good_behaviour_does_not_buy_unlimited_credit() {
        let mut t = table();
        t.report(id(1), Report::Connected, T0);
        let now = at(30 * DAY);
        for _ in 0..10_000 {
            for r in [
                Report::ValidMessage,
                Report::ConsensusParticipation,
                Report::RelaySuccess,
                Report::Latency(Duration::from_millis(10)),
            ] {
                t.report(id(1), r, now);
            }
        }
        let s = t.score(&id(1), now);
        assert_eq!(s.total, 100);
        // A perfect peer still goes below the disconnect threshold after 18 invalid messages.
        let mut n = 0;
        while t.report(id(1), Report::InvalidMessage, now).total >= 20 {
            n += 1;
        }
        assert_eq!(n + 1, 18);
    }

    #[test]
    fn test_reputation_decay() {
        // A peer at validity 5.37, penalty 30 after ten invalid messages.
        let mut t = table();
        for _ in 0..10 {
            t.report(id(1), Report::InvalidMessage, T0);
        }
        assert_eq!(t.score(&id(1), T0).total, 7);
        // d(t) = d0 · 0.9^days: validity 50 − 44.63·0.9^d, penalty 30·0.9^d.
        let expect = [
            (0, 5, 30, 7),
            (1, 10, 27, 11),
            (7, 29, 14, 30),
            (30, 48, 1, 48),
        ];
        for (days, validity, penalty, total) in expect {
            let s = t.score(&id(1), at(days * DAY));
            assert_eq!(
                (s.validity, s.penalty, s.total),
                (validity, penalty, total),
                "{days} days"
            );
        }
        // Decay of a good peer is symmetric: it drifts down to neutral.
        let mut t2 = table();
        for _ in 0..100 {
            t2.report(id(2), Report::ValidMessage, T0);
        }
        let v0 = t2.score(&id(2), T0).validity;
        let v7 = t2.score(&id(2), at(7 * DAY)).validity;
        assert!(v0 > v7 && v7 > NEUTRAL_SCORE);
        assert_eq!(t2.score(&id(2), at(365 * DAY)), ReputationScore::NEUTRAL);

        // Across a save at +1 day and a restore at +7 days: same as never saving.
        let records = t.records(at(DAY));
        let mut restored = table();
        assert_eq!(restored.restore(records, at(7 * DAY)), 1);
        for days in [7, 8, 30] {
            assert_eq!(
                restored.score(&id(1), at(days * DAY)),
                t.score(&id(1), at(days * DAY))
            );
        }
        // Save at t, restore at t + 1 day: the score equals the unsaved one at t + 1 day.
        let t_save = at(3 * DAY + 12_345);
        let records = t.records(t_save);
        let mut r2 = table();
        r2.restore(records, t_save.plus(Duration::from_millis(DAY)));
        let later = t_save.plus(Duration::from_millis(DAY));
        assert_eq!(r2.score(&id(1), later), t.score(&id(1), later));
        // Reports after a restore continue from the decayed state.
        assert_eq!(
            r2.report(id(1), Report::ValidMessage, later),
            t.report(id(1), Report::ValidMessage, later)
        );
    }

    #[test]
    fn decay_rate_extremes() {
        let mut cfg = ReputationConfig {
            decay_rate: 0.0,
            ..ReputationConfig::default()
        };
        let mut t = ReputationTable::new(&cfg);
        t.report(id(1), Report::InvalidMessage, T0);
        assert_eq!(t.score(&id(1), at(365 * DAY)).total, 44);
        cfg.decay_rate = 1.0;
        let mut t = ReputationTable::new(&cfg);
        t.report(id(1), Report::InvalidMessage, T0);
        assert_eq!(t.score(&id(1), T0).total, 44);
        assert_eq!(t.score(&id(1), at(1)), ReputationScore::NEUTRAL);
        cfg.decay_rate = f64::NAN;
        let mut t = ReputationTable::new(&cfg);
        t.report(id(1), Report::InvalidMessage, T0);
        assert_eq!(t.score(&id(1), at(365 * DAY)).total, 44);
    }

    #[test]
    fn time_going_backwards_is_no_time() {
        let mut t = table();
        t.report(id(1), Report::InvalidMessage, at(DAY));
        let s = t.report(id(1), Report::InvalidMessage, T0);
        assert_eq!(s.penalty, 6);
        assert_eq!(t.score(&id(1), T0), s);
    }

    #[test]
    fn test_reputation_thresholds() {
        let th = ReputationThresholds::default();
        assert_eq!(th, ReputationThresholds::from(&ReputationConfig::default()));
        assert_eq!(th.action(100), ThresholdAction::None);
        assert_eq!(th.action(20), ThresholdAction::None);
        assert_eq!(th.action(19), ThresholdAction::Disconnect);
        assert_eq!(th.action(10), ThresholdAction::Disconnect);
        assert_eq!(th.action(9), ThresholdAction::Ban);
        assert_eq!(th.action(0), ThresholdAction::Ban);
        assert!(th.can_relay(30) && !th.can_relay(29));
        assert!(th.can_consensus(50) && !th.can_consensus(49));
        let cfg = ReputationConfig {
            min_relay_reputation: 40,
            min_consensus_reputation: 60,
            auto_disconnect_threshold: 35,
            auto_ban_threshold: 5,
            ..ReputationConfig::default()
        };
        let th = ReputationThresholds::from(&cfg);
        assert_eq!(th.action(35), ThresholdAction::None);
        assert_eq!(th.action(34), ThresholdAction::Disconnect);
        assert_eq!(th.action(5), ThresholdAction::Disconnect);
        assert_eq!(th.action(4), ThresholdAction::Ban);
        assert!(th.can_relay(40) && !th.can_relay(39));
        assert!(th.can_consensus(60) && !th.can_consensus(59));
        // Through the table: a neutral peer is fine and may just take part in consensus.
        let t = table();
        assert_eq!(t.action(&id(9), T0), ThresholdAction::None);
        assert!(t.thresholds().can_consensus(t.score(&id(9), T0).total));
    }

    #[test]
    fn history_is_explained_merged_and_bounded() {
        let mut t = table();
        t.report(id(1), Report::ValidMessage, T0);
        t.report(id(1), Report::ValidMessage, T0);
        t.report(id(1), Report::InvalidMessage, T0);
        let h: Vec<_> = t.history(&id(1)).copied().collect();
        assert_eq!(h.len(), 3);
        assert_eq!(
            (h[0].component, h[0].reason, h[0].count),
            (Component::Validity, Reason::ValidMessage, 2)
        );
        assert!((h[0].delta - (1.0 + 0.98)).abs() < 1e-9);
        assert_eq!(
            (h[1].component, h[1].reason),
            (Component::Validity, Reason::InvalidMessage)
        );
        assert_eq!(
            (h[2].component, h[2].delta),
            (Component::Penalty, INVALID_MESSAGE_PENALTY)
        );
        // A week later the next report first lists the decay.
        t.report(id(1), Report::RelayFailure, at(7 * DAY));
        let reasons: Vec<_> = t
            .history(&id(1))
            .skip(3)
            .map(|c| (c.component, c.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (Component::Validity, Reason::Decay),
                (Component::Penalty, Reason::Decay),
                (Component::Relay, Reason::RelayFailure)
            ]
        );
        // Bounded: alternate two reasons so nothing merges.
        for i in 0..(MAX_SCORE_HISTORY as u64 * 2) {
            let r = if i % 2 == 0 {
                Report::RelaySuccess
            } else {
                Report::ValidMessage
            };
            t.report(id(1), r, at(7 * DAY));
        }
        let h: Vec<_> = t.history(&id(1)).collect();
        assert_eq!(h.len(), MAX_SCORE_HISTORY);
        assert_eq!(h.last().map(|c| c.reason), Some(Reason::ValidMessage));
        assert_eq!(t.history(&id(2)).count(), 0);
    }

    #[test]
    fn table_bound_evicts_the_most_neutral_oldest_unconnected() {
        let mut t = table();
        // Fill to the limit: id(0) connected and neutral, id(1) penalised, the rest neutral
        // with increasing activity times.
        t.report(id(0), Report::Connected, T0);
        t.report(id(1), Report::InvalidMessage, T0);
        for n in 2..MAX_REPUTATION_ENTRIES as u32 {
            t.report(
                id(n),
                Report::Disconnected(DisconnectKind::Local),
                at(u64::from(n)),
            );
        }
        assert_eq!(t.len(), MAX_REPUTATION_ENTRIES);
        let newcomer = id(MAX_REPUTATION_ENTRIES as u32);
        t.report(newcomer, Report::ValidMessage, at(DAY));
        assert_eq!(t.len(), MAX_REPUTATION_ENTRIES);
        // id(2) is the oldest neutral unconnected entry.
        assert!(
            t.score(&id(2), at(DAY)) == ReputationScore::NEUTRAL && t.history(&id(2)).count() == 0
        );
        assert!(t.records(at(DAY)).iter().all(|r| r.node_id != id(2)));
        assert!(t.is_connected(&id(0)));
        assert_eq!(t.score(&id(1), T0).penalty, 3);
        assert!(t.remove(&newcomer));
        assert!(!t.remove(&newcomer));
    }

    #[test]
    fn full_table_of_connected_peers_drops_reports() {
        let mut t = table();
        t.max_entries = 2;
        t.report(id(0), Report::Connected, T0);
        t.report(id(1), Report::Connected, T0);
        assert_eq!(
            t.report(id(2), Report::InvalidMessage, T0),
            ReputationScore::NEUTRAL
        );
        assert_eq!(t.len(), 2);
        t.report(id(1), Report::Disconnected(DisconnectKind::Local), T0);
        assert_eq!(t.report(id(2), Report::InvalidMessage, T0).penalty, 3);
        assert!(!t.is_connected(&id(1)) && t.len() == 2);
    }

    #[test]
    fn records_round_trip_and_restore_sanitizes() {
        let mut t = table();
        t.report(id(1), Report::Connected, T0);
        t.report(id(1), Report::Latency(Duration::from_millis(120)), T0);
        t.report(id(2), Report::ConsensusViolation, T0);
        let saved = t.records(at(DAY));
        assert_eq!(saved.len(), 2);
        // The connected peer is saved as of the save time, with its uptime gain.
        assert_eq!(saved[0].updated_at, at(DAY));
        assert!(saved[0].state.uptime > 80.0);
        assert_eq!(saved[1].updated_at, T0);
        let mut r = table();
        assert_eq!(r.restore(saved.clone(), at(DAY)), 2);
        assert!(!r.is_connected(&id(1)));
        assert_eq!(r.records(at(DAY)), saved);
        // Garbage numbers and future timestamps are forced into range.
        let bad = ReputationRecord {
            node_id: id(3),
            state: ReputationState {
                uptime: f64::NAN,
                latency: -5.0,
                validity: 1e9,
                consensus: f64::INFINITY,
                relay: 50.0,
                penalty: f64::NEG_INFINITY,
            },
            latency: Some(LatencyStats {
                mean_ms: f64::NAN,
                deviation_ms: 1.0,
            }),
            counters: ReputationCounters::default(),
            updated_at: UnixMillis(u64::MAX),
        };
        r.restore([bad], at(DAY));
        let s = r.score(&id(3), at(DAY));
        assert_eq!(
            (s.uptime, s.latency, s.validity, s.consensus, s.penalty),
            (50, 0, 100, 100, 0)
        );
        assert_eq!(r.records(at(DAY))[2].updated_at, at(DAY));
        assert_eq!(r.records(at(DAY))[2].latency, None);
    }

    #[test]
    fn latency_sample_limit() {
        let s = LatencyStats::update(None, Duration::from_secs(3600));
        assert_eq!(s.mean_ms, MAX_LATENCY_SAMPLE.as_millis() as f64);
        let s = LatencyStats::update(None, MAX_LATENCY_SAMPLE);
        assert_eq!(s.mean_ms, 60_000.0);
        assert_eq!(s.score(), 0.0);
        assert_eq!(LatencyStats::update(None, LATENCY_BEST).score(), 100.0);
    }

    #[test]
    fn penalty_is_capped() {
        let mut t = table();
        for _ in 0..20 {
            t.report(id(1), Report::ProtocolViolation(Violation::PexFlood), T0);
        }
        let s = t.score(&id(1), T0);
        assert_eq!((s.penalty, s.total), (MAX_PENALTY as u32, 0));
    }

    fn arb_report() -> impl Strategy<Value = Report> {
        prop_oneof![
            Just(Report::Connected),
            Just(Report::Disconnected(DisconnectKind::Local)),
            Just(Report::Disconnected(DisconnectKind::Clean)),
            Just(Report::Disconnected(DisconnectKind::Unclean)),
            (0u64..200_000).prop_map(|ms| Report::Latency(Duration::from_millis(ms))),
            Just(Report::ValidMessage),
            Just(Report::InvalidMessage),
            Just(Report::ProtocolViolation(Violation::BadFrame)),
            Just(Report::ProtocolViolation(Violation::Handshake)),
            Just(Report::ConsensusParticipation),
            Just(Report::ConsensusViolation),
            Just(Report::RelaySuccess),
            Just(Report::RelayFailure),
        ]
    }

    proptest! {
        #[test]
        fn scores_stay_in_range(
            steps in proptest::collection::vec((0u32..4, arb_report(), 0u64..(40 * DAY)), 1..200),
            rate in 0.0f64..=1.0,
        ) {
            let cfg = ReputationConfig { decay_rate: rate, ..ReputationConfig::default() };
            let mut t = ReputationTable::new(&cfg);
            let mut now = T0;
            for (peer, report, advance) in steps {
                now = now.plus(Duration::from_millis(advance));
                let s = t.report(id(peer), report, now);
                for v in [s.total, s.uptime, s.latency, s.validity, s.consensus, s.relay, s.penalty] {
                    prop_assert!(v <= 100);
                }
                prop_assert_eq!(t.score(&id(peer), now), s);
                prop_assert!(t.history(&id(peer)).count() <= MAX_SCORE_HISTORY);
                for r in t.records(now) {
                    for v in [r.state.uptime, r.state.latency, r.state.validity, r.state.consensus, r.state.relay, r.state.penalty] {
                        prop_assert!((0.0..=100.0).contains(&v));
                    }
                }
            }
        }
    }
}
