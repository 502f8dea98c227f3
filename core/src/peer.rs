//! The peer state machine (spec 1.3) and what the node knows about each connection (spec 2.3).
//!
//! ```text
//! Discovered ──▶ Connecting ──▶ Handshaking ──▶ Connected ──▶ Disconnected
//!                    │                │
//!                    ▼                ▼
//!                  Failed           Failed
//! ```
//!
//! Every state change goes through [`PeerState::transition`], the one place that knows the
//! diagram; an edge not drawn above is refused (and is a bug in the node, caught by
//! `debug_assert!` and by the simulator's invariant checks). An inbound connection passes through
//! `Discovered → Connecting → Handshaking` when it is accepted: the socket already exists.

use crate::addr::Transport;
use crate::id::{ConnId, NodeId};
use crate::time::UnixMillis;
use core::net::SocketAddr;
use std::fmt;
use std::time::Duration;

/// Where a peer is in its lifecycle.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PeerState {
    /// Known address, nothing attempted yet.
    Discovered,
    /// Transport connection being established.
    Connecting,
    /// Transport up, handshake in progress.
    Handshaking,
    /// Handshake verified; normal message exchange.
    Connected,
    /// Was connected; the connection has ended.
    Disconnected,
    /// Never got connected: dial or handshake failed.
    Failed,
}

impl PeerState {
    /// Whether the diagram has an edge `self → to`.
    pub fn can_transition(self, to: PeerState) -> bool {
        use PeerState::*;
        matches!(
            (self, to),
            (Discovered, Connecting)
                | (Connecting, Handshaking)
                | (Connecting, Failed)
                | (Handshaking, Connected)
                | (Handshaking, Failed)
                | (Connected, Disconnected)
        )
    }

    /// Moves along an edge of the diagram, or refuses.
    pub fn transition(&mut self, to: PeerState) -> Result<(), InvalidTransition> {
        if self.can_transition(to) {
            *self = to;
            Ok(())
        } else {
            Err(InvalidTransition { from: *self, to })
        }
    }

    /// `Disconnected` or `Failed`.
    pub fn is_terminal(self) -> bool {
        matches!(self, PeerState::Disconnected | PeerState::Failed)
    }

    /// Lowercase name, as in `peer list`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Discovered => "discovered",
            PeerState::Connecting => "connecting",
            PeerState::Handshaking => "handshaking",
            PeerState::Connected => "connected",
            PeerState::Disconnected => "disconnected",
            PeerState::Failed => "failed",
        }
    }
}

impl fmt::Display for PeerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An edge that is not in the spec's diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid peer state transition {from} -> {to}")]
pub struct InvalidTransition {
    /// The current state.
    pub from: PeerState,
    /// The refused target.
    pub to: PeerState,
}

/// Who opened the connection.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The peer connected to us.
    Inbound,
    /// We dialed the peer.
    Outbound,
}

/// Operator priority for `add_peer`.
///
/// `High` peers are never evicted to make room and may evict the lowest-priority, lowest-
/// reputation inbound peer when the pool is full; `Low` peers are evicted first.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Evicted first.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Protected from eviction; may make room for itself.
    High,
}

/// Why a connection ends (spec 4.3, plus the reasons the secure handshake needs). Sent on the
/// wire as a `u16` code ([`DisconnectReason::code`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DisconnectReason {
    /// 1: an operator asked.
    UserRequested,
    /// 2: the peer broke the protocol (a message out of place, a flood).
    ProtocolViolation,
    /// 3: nothing heard for `inactivity_timeout`.
    InactivityTimeout,
    /// 4: no room in the pool, or too many connection attempts from the peer's netgroup
    /// ([`crate::inbound_limit`]).
    ConnectionLimitReached,
    /// 5: the node is shutting down.
    Shutdown,
    /// 6: the transport failed.
    NetworkError,
    /// 7: a frame that could not be decoded.
    InvalidMessage,
    /// 8: the peer is banned.
    Banned,
    /// 9: the handshake failed (bad signature, clock skew, identity mismatch, timeout).
    HandshakeFailed,
    /// 10: no common protocol version.
    IncompatibleVersion,
    /// 11: the connection reached ourselves.
    SelfConnection,
    /// 12: another connection to the same node id was kept.
    DuplicateConnection,
    /// 13: reputation fell below `auto_disconnect_threshold`.
    LowReputation,
    /// A code this implementation does not know (from a newer peer).
    Other(u16),
}

impl DisconnectReason {
    /// The wire code.
    pub fn code(self) -> u16 {
        use DisconnectReason::*;
        match self {
            UserRequested => 1,
            ProtocolViolation => 2,
            InactivityTimeout => 3,
            ConnectionLimitReached => 4,
            Shutdown => 5,
            NetworkError => 6,
            InvalidMessage => 7,
            Banned => 8,
            HandshakeFailed => 9,
            IncompatibleVersion => 10,
            SelfConnection => 11,
            DuplicateConnection => 12,
            LowReputation => 13,
            Other(c) => c,
        }
    }

    /// The reason for a wire code.
    pub fn from_code(code: u16) -> DisconnectReason {
        use DisconnectReason::*;
        match code {
            1 => UserRequested,
            2 => ProtocolViolation,
            3 => InactivityTimeout,
            4 => ConnectionLimitReached,
            5 => Shutdown,
            6 => NetworkError,
            7 => InvalidMessage,
            8 => Banned,
            9 => HandshakeFailed,
            10 => IncompatibleVersion,
            11 => SelfConnection,
            12 => DuplicateConnection,
            13 => LowReputation,
            c => Other(c),
        }
    }

    /// Every known reason, in code order.
    pub const ALL: [DisconnectReason; 13] = [
        DisconnectReason::UserRequested,
        DisconnectReason::ProtocolViolation,
        DisconnectReason::InactivityTimeout,
        DisconnectReason::ConnectionLimitReached,
        DisconnectReason::Shutdown,
        DisconnectReason::NetworkError,
        DisconnectReason::InvalidMessage,
        DisconnectReason::Banned,
        DisconnectReason::HandshakeFailed,
        DisconnectReason::IncompatibleVersion,
        DisconnectReason::SelfConnection,
        DisconnectReason::DuplicateConnection,
        DisconnectReason::LowReputation,
    ];

    /// snake_case name, for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        use DisconnectReason::*;
        match self {
            UserRequested => "user_requested",
            ProtocolViolation => "protocol_violation",
            InactivityTimeout => "inactivity_timeout",
            ConnectionLimitReached => "connection_limit_reached",
            Shutdown => "shutdown",
            NetworkError => "network_error",
            InvalidMessage => "invalid_message",
            Banned => "banned",
            HandshakeFailed => "handshake_failed",
            IncompatibleVersion => "incompatible_version",
            SelfConnection => "self_connection",
            DuplicateConnection => "duplicate_connection",
            LowReputation => "low_reputation",
            Other(_) => "other",
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Other(c) => write!(f, "other ({c})"),
            r => f.write_str(r.as_str()),
        }
    }
}

/// A snapshot of one peer for operators (spec 2.3).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The connection.
    pub conn: ConnId,
    /// The node id, once the handshake has proven it (or the pinned id while dialing).
    pub id: Option<NodeId>,
    /// The remote socket address.
    pub address: SocketAddr,
    /// Lifecycle state.
    pub status: PeerState,
    /// Who opened the connection.
    pub direction: Direction,
    /// Operator priority.
    pub priority: Priority,
    /// The protocol version in use, once connected.
    pub version: Option<u32>,
    /// When the handshake completed.
    pub connected_since: Option<UnixMillis>,
    /// When the last frame arrived (or the connection was created).
    pub last_activity: UnixMillis,
    /// Frames sent.
    pub messages_sent: u64,
    /// Frames received.
    pub messages_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Smoothed round-trip time from Ping/Pong.
    pub latency: Option<Duration>,
    /// Reputation total, 0–100.
    pub reputation: u32,
    /// Advertised capabilities.
    pub capabilities: Vec<String>,
    /// The peer's software.
    pub user_agent: String,
    /// The address the peer says it listens on (resolved against the observed IP).
    pub listen_addr: Option<SocketAddr>,
    /// The transport carrying the connection.
    pub transport: Transport,
    /// The QUIC address the peer says it listens on (resolved against the observed IP).
    pub quic_listen_addr: Option<SocketAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagram_edges_exactly() {
        use PeerState::*;
        let all = [
            Discovered,
            Connecting,
            Handshaking,
            Connected,
            Disconnected,
            Failed,
        ];
        let edges = [
            (Discovered, Connecting),
            (Connecting, Handshaking),
            (Connecting, Failed),
            (Handshaking, Connected),
            (Handshaking, Failed),
            (Connected, Disconnected),
        ];
        for a in all {
            for b in all {
                assert_eq!(a.can_transition(b), edges.contains(&(a, b)), "{a} -> {b}");
                let mut s = a;
                assert_eq!(s.transition(b).is_ok(), edges.contains(&(a, b)));
            }
        }
    }

    #[test]
    fn reason_codes_round_trip() {
        for r in DisconnectReason::ALL {
            assert_eq!(DisconnectReason::from_code(r.code()), r);
        }
        assert_eq!(
            DisconnectReason::from_code(999),
            DisconnectReason::Other(999)
        );
    }
}
