//! [`CommandError`]: why an operator command was refused at once; [`PeerError`]: why a
//! connection attempt failed (what events carry), its short label for logs and metrics
//! ([`PeerError::kind`]) and the wire reason a failure is reported with.

use super::{IoFailure, Stage};
use crate::handshake::HandshakeError;
use crate::peer::DisconnectReason;
use crate::socks5::Socks5Error;

/// Why an operator command was refused at once: what [`Node::add_peer`](super::Node::add_peer),
/// `remove_peer`, `find_peer`, `send_app`, `ban` and `unban` return synchronously. Nothing was
/// sent and no connection was touched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The address did not parse.
    #[error("invalid address: {0}")]
    InvalidAddress(#[from] crate::addr::AddrError),
    /// The address or identity is banned.
    #[error("blacklisted: {0}")]
    Blacklisted(String),
    /// The pool is full.
    #[error("connection limit reached ({max} connections)")]
    ConnectionLimitReached {
        /// `max_connections`.
        max: usize,
    },
    /// Too many dials in flight.
    #[error("too many connection attempts in progress (at most {max})")]
    TooManyPendingDials {
        /// `limits.max_pending_dials`.
        max: usize,
    },
    /// Already connected (or connecting) to that peer.
    #[error("already connected to {0}")]
    AlreadyConnected(String),
    /// The address names our own identity. (The text is the one a handshake that reaches
    /// ourselves fails with.)
    #[error("handshake failed: {}", HandshakeError::SelfConnection)]
    SelfConnection,
    /// No connection matches the address or id.
    #[error("unknown peer: {0}")]
    UnknownPeer(String),
    /// A `.onion` address without `network.proxy`.
    #[error("{0} is an onion address: set network.proxy to a SOCKS5 proxy (e.g. Tor at 127.0.0.1:9050) to reach it")]
    ProxyRequired(String),
    /// A `quic://` address while `network.proxy_all` sends every dial through the SOCKS5
    /// proxy, which carries TCP only.
    #[error("{0} is a QUIC address, but network.proxy_all sends every dial through the SOCKS5 proxy, which carries TCP only: use the peer's TCP address")]
    QuicThroughProxy(String),
    /// A hostname could not be sent to the resolver.
    #[error("cannot resolve {host}: {why}")]
    Dns {
        /// The hostname.
        host: String,
        /// What went wrong.
        why: String,
    },
    /// The node is shutting down (or, seen from a runtime handle, has stopped).
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A ban target that is not a node id, an IP address or a CIDR subnet.
    #[error("invalid ban target: {0}")]
    InvalidBanTarget(String),
    /// The ban list refused the ban.
    #[error("ban list: {0}")]
    BanList(String),
    /// `unban` of something that is not banned.
    #[error("{0} is not banned")]
    NotBanned(String),
    /// An application payload over `wire::MAX_APP_PAYLOAD`. (The text is the one it had
    /// when this was reported as a protocol violation.)
    #[error("protocol violation: payload of {len} bytes exceeds {max}")]
    PayloadTooLarge {
        /// The payload's length in bytes.
        len: usize,
        /// The largest payload allowed.
        max: usize,
    },
}

impl CommandError {
    /// A short snake_case label for logs and metrics (the labels [`PeerError::kind`] uses for
    /// the same causes).
    pub fn kind(&self) -> &'static str {
        match self {
            CommandError::InvalidAddress(_) => "invalid_address",
            CommandError::Blacklisted(_) => "banned",
            CommandError::ConnectionLimitReached { .. } => "connection_limit",
            CommandError::TooManyPendingDials { .. } => "pending_dials",
            CommandError::AlreadyConnected(_) => "duplicate",
            CommandError::SelfConnection => "self_connection",
            CommandError::UnknownPeer(_) => "unknown_peer",
            CommandError::ProxyRequired(_) => "proxy_required",
            CommandError::QuicThroughProxy(_) => "quic_through_proxy",
            CommandError::Dns { .. } => "dns",
            CommandError::ShuttingDown => "shutdown",
            CommandError::InvalidBanTarget(_)
            | CommandError::BanList(_)
            | CommandError::NotBanned(_) => "ban",
            CommandError::PayloadTooLarge { .. } => "protocol_violation",
        }
    }
}

/// Why a connection attempt failed or a connection ended: what [`Event::ConnectionFailed`],
/// [`Event::AddPeerFinished`] and disconnect causes carry.
///
/// [`Event::ConnectionFailed`]: super::Event::ConnectionFailed
/// [`Event::AddPeerFinished`]: super::Event::AddPeerFinished
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A command's check that could only run later refused it: `add_peer` of a hostname is
    /// checked against bans, duplicates and the pool once DNS has answered, and its
    /// [`Event::AddPeerFinished`](super::Event::AddPeerFinished) then carries the refusal.
    /// Wrapping the [`CommandError`] (rather than copying its variants here) keeps one type
    /// per cause: a refusal reads the same whether it came back at once or after the lookup,
    /// and a runtime handle that waits for the outcome returns both as a `PeerError`. The
    /// text is the command error's.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The address or identity is banned.
    #[error("blacklisted: {0}")]
    Blacklisted(String),
    /// Already connected (or connecting) to that peer.
    #[error("already connected to {0}")]
    AlreadyConnected(String),
    /// The handshake failed.
    #[error("handshake failed: {0}")]
    HandshakeFailed(#[from] HandshakeError),
    /// A stage took too long.
    #[error("{0:?} timed out")]
    Timeout(Stage),
    /// The transport connect failed.
    #[error("connect failed: {0}")]
    ConnectFailed(IoFailure),
    /// The peer closed the connection, with a reason.
    #[error("the peer refused the connection: {reason}{}", if text.is_empty() { String::new() } else { format!(" ({text})") })]
    Refused {
        /// The peer's reason.
        reason: DisconnectReason,
        /// The peer's words.
        text: String,
    },
    /// The connection broke or was closed by us before the handshake finished.
    #[error("connection closed before the handshake completed: {0}")]
    Closed(String),
    /// The peer sent something that is not the protocol.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
    /// The SOCKS5 proxy refused or failed the connection (a dial failure for the address book).
    #[error("SOCKS5 proxy: {0}")]
    Proxy(Socks5Error),
    /// A hostname could not be resolved.
    #[error("cannot resolve {host}: {why}")]
    Dns {
        /// The hostname.
        host: String,
        /// What went wrong.
        why: String,
    },
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// The peer's reputation is below `auto_disconnect_threshold`; it may come back once its
    /// score has decayed above it.
    #[error("reputation {score} is below the disconnect threshold {threshold}")]
    LowReputation {
        /// The peer's total score.
        score: u32,
        /// `auto_disconnect_threshold`.
        threshold: u32,
    },
}

impl PeerError {
    /// A short snake_case label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerError::Command(e) => e.kind(),
            PeerError::Blacklisted(_) => "banned",
            PeerError::AlreadyConnected(_) => "duplicate",
            PeerError::HandshakeFailed(e) => match e {
                HandshakeError::IncompatibleVersion { .. } => "incompatible_version",
                HandshakeError::ClockSkew { .. } => "clock_skew",
                HandshakeError::BadSignature => "bad_signature",
                HandshakeError::IdentityMismatch { .. } => "identity_mismatch",
                HandshakeError::SelfConnection => "self_connection",
                HandshakeError::UnexpectedMessage { .. } => "unexpected_message",
                HandshakeError::Malformed(_) => "malformed",
                HandshakeError::UnsupportedSuite { .. } => "unsupported_suite",
                HandshakeError::BadKemKey => "bad_kem_key",
            },
            PeerError::Timeout(Stage::Connect) => "connect_timeout",
            PeerError::Timeout(Stage::Handshake) => "handshake_timeout",
            PeerError::ConnectFailed(_) => "connect_failed",
            PeerError::Refused { .. } => "refused",
            PeerError::Closed(_) => "closed",
            PeerError::ProtocolViolation(_) => "protocol_violation",
            PeerError::Dns { .. } => "dns",
            PeerError::ShuttingDown => "shutdown",
            PeerError::LowReputation { .. } => "low_reputation",
            PeerError::Proxy(_) => "proxy",
        }
    }
}

pub(super) fn reason_for(e: &PeerError) -> DisconnectReason {
    match e {
        PeerError::HandshakeFailed(
            HandshakeError::IncompatibleVersion { .. } | HandshakeError::UnsupportedSuite { .. },
        ) => DisconnectReason::IncompatibleVersion,
        PeerError::HandshakeFailed(HandshakeError::SelfConnection) => {
            DisconnectReason::SelfConnection
        }
        PeerError::HandshakeFailed(HandshakeError::UnexpectedMessage { .. }) => {
            DisconnectReason::ProtocolViolation
        }
        PeerError::HandshakeFailed(HandshakeError::Malformed(_)) => {
            DisconnectReason::InvalidMessage
        }
        PeerError::HandshakeFailed(_) | PeerError::Timeout(_) => DisconnectReason::HandshakeFailed,
        PeerError::Blacklisted(_) => DisconnectReason::Banned,
        PeerError::LowReputation { .. } => DisconnectReason::LowReputation,
        PeerError::AlreadyConnected(_) => DisconnectReason::DuplicateConnection,
        PeerError::Command(CommandError::Blacklisted(_)) => DisconnectReason::Banned,
        PeerError::Command(CommandError::AlreadyConnected(_)) => {
            DisconnectReason::DuplicateConnection
        }
        PeerError::Command(CommandError::ConnectionLimitReached { .. }) => {
            DisconnectReason::ConnectionLimitReached
        }
        PeerError::Command(CommandError::SelfConnection) => DisconnectReason::SelfConnection,
        PeerError::Command(CommandError::ShuttingDown) => DisconnectReason::Shutdown,
        PeerError::Command(CommandError::PayloadTooLarge { .. }) => {
            DisconnectReason::ProtocolViolation
        }
        PeerError::ShuttingDown => DisconnectReason::Shutdown,
        PeerError::ProtocolViolation(_) => DisconnectReason::ProtocolViolation,
        PeerError::Refused { reason, .. } => *reason,
        _ => DisconnectReason::NetworkError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts the CLI prints: the split must not change them.
    #[test]
    fn command_texts_are_the_old_peer_error_texts() {
        assert_eq!(
            CommandError::SelfConnection.to_string(),
            PeerError::HandshakeFailed(HandshakeError::SelfConnection).to_string()
        );
        assert_eq!(
            CommandError::PayloadTooLarge { len: 10, max: 4 }.to_string(),
            PeerError::ProtocolViolation("payload of 10 bytes exceeds 4".into()).to_string()
        );
        let refused = PeerError::Command(CommandError::Blacklisted("x".into()));
        assert_eq!(refused.to_string(), PeerError::Blacklisted("x".into()).to_string());
        assert_eq!(refused.kind(), PeerError::Blacklisted("x".into()).kind());
        assert_eq!(reason_for(&refused), DisconnectReason::Banned);
    }
}
