//! A peer's score, the observations that move it, the explained changes, the unrounded state
//! with its decay, the latency statistics and the persistent record.

use super::{
    DAY_MS, LATENCY_BEST, LATENCY_DEVIATION_GAIN, LATENCY_JITTER_WEIGHT, LATENCY_MEAN_GAIN,
    LATENCY_WORST, MAX, MAX_LATENCY_SAMPLE, MAX_PENALTY, MAX_SCORE, NEUTRAL, NEUTRAL_SCORE,
    UPTIME_HALF_LIFE,
};
use crate::id::NodeId;
use crate::time::UnixMillis;
use std::fmt;
use std::time::Duration;

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
    pub(super) fn sanitized(self) -> ReputationState {
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
    pub(super) fn deviation(&self) -> f64 {
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

    pub(super) fn get(&self, c: Component) -> f64 {
        match c {
            Component::Uptime => self.uptime,
            Component::Latency => self.latency,
            Component::Validity => self.validity,
            Component::Consensus => self.consensus,
            Component::Relay => self.relay,
            Component::Penalty => self.penalty,
        }
    }

    pub(super) fn get_mut(&mut self, c: Component) -> &mut f64 {
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
    pub(super) fn projected(&self, elapsed_ms: u64, connected: bool, rate: f64) -> ReputationState {
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
pub(super) fn clamp_or(v: f64, lo: f64, hi: f64, nan: f64) -> f64 {
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
    pub(super) fn update(previous: Option<LatencyStats>, rtt: Duration) -> LatencyStats {
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

    pub(super) fn sanitized(self) -> Option<LatencyStats> {
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
