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
//!
//! # Layout
//!
//! `score` (the score, reports, reasons, the unrounded state and the persistent record),
//! `thresholds` (what a total calls for), `table` (the per-peer entries, decay, history and
//! the bounded table).

use std::time::Duration;

mod score;
mod table;
mod thresholds;

pub use score::*;
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub use table::ReputationTable;
pub use thresholds::*;

/// The score of a peer we know nothing about, for every component and the total.
pub(crate) const NEUTRAL_SCORE: u32 = 50;
/// The highest score of a component and of the total.
pub(crate) const MAX_SCORE: u32 = 100;
/// The most peers a [`ReputationTable`] tracks.
pub(crate) const MAX_REPUTATION_ENTRIES: usize = 20_000;
/// The most [`ScoreChange`]s kept per peer; older ones are dropped.
pub(crate) const MAX_SCORE_HISTORY: usize = 32;
/// The highest penalty; more misbehaviour is still counted but costs nothing more.
pub(crate) const MAX_PENALTY: f64 = 100.0;

/// Penalty points added by one invalid message.
pub(crate) const INVALID_MESSAGE_PENALTY: f64 = 3.0;
/// Penalty points added by one protocol violation (bad frame, PEX flood, handshake violation).
pub(crate) const PROTOCOL_VIOLATION_PENALTY: f64 = 10.0;
/// Penalty points added by one consensus violation.
pub(crate) const CONSENSUS_VIOLATION_PENALTY: f64 = 5.0;

/// Fraction of validity lost per invalid message.
pub(crate) const INVALID_MESSAGE_LOSS: f64 = 0.2;
/// Fraction of validity lost per protocol violation.
pub(crate) const PROTOCOL_VIOLATION_LOSS: f64 = 0.5;
/// Fraction of the distance to 100 that a valid message adds to validity.
pub(crate) const VALID_MESSAGE_GAIN: f64 = 0.02;
/// Fraction of the distance to 100 that a consensus participation adds.
pub(crate) const CONSENSUS_PARTICIPATION_GAIN: f64 = 0.05;
/// Fraction of the consensus component lost per consensus violation.
pub(crate) const CONSENSUS_VIOLATION_LOSS: f64 = 0.5;
/// Fraction of the distance to 100 that a relayed message adds.
pub(crate) const RELAY_SUCCESS_GAIN: f64 = 0.02;
/// Fraction of the relay component lost per relay failure.
pub(crate) const RELAY_FAILURE_LOSS: f64 = 0.1;
/// Fraction of uptime lost when the peer closes the connection cleanly (a goodbye).
pub(crate) const CLEAN_DISCONNECT_LOSS: f64 = 0.02;
/// Fraction of uptime lost when the connection breaks (error, timeout, no goodbye).
pub(crate) const UNCLEAN_DISCONNECT_LOSS: f64 = 0.15;
/// While connected, the uptime component halves its distance to 100 every this long.
pub(crate) const UPTIME_HALF_LIFE: Duration = Duration::from_secs(12 * 3600);

/// Round-trip times at or below this score 100.
pub(crate) const LATENCY_BEST: Duration = Duration::from_millis(50);
/// Round-trip times at or above this score 0.
pub(crate) const LATENCY_WORST: Duration = Duration::from_millis(1000);
/// Samples are clamped to this before entering the averages.
pub(crate) const MAX_LATENCY_SAMPLE: Duration = Duration::from_secs(60);
/// Weight of a new sample in the mean round-trip time (TCP's SRTT gain).
pub(crate) const LATENCY_MEAN_GAIN: f64 = 0.125;
/// Weight of a new sample's deviation in the mean deviation (TCP's RTTVAR gain).
pub(crate) const LATENCY_DEVIATION_GAIN: f64 = 0.25;
/// The latency score is computed from `mean + LATENCY_JITTER_WEIGHT × mean deviation`.
pub(crate) const LATENCY_JITTER_WEIGHT: f64 = 2.0;

/// Time-driven drift (decay, uptime while connected) is listed in the history once it adds up
/// to at least this many points on one component.
pub(crate) const HISTORY_DRIFT_STEP: f64 = 0.5;

pub(super) const DAY_MS: f64 = 86_400_000.0;
pub(super) const NEUTRAL: f64 = NEUTRAL_SCORE as f64;
pub(super) const MAX: f64 = MAX_SCORE as f64;

#[cfg(test)]
mod tests;
