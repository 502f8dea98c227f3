//! The signed handshake (spec 3.4), made safe against replay.
//!
//! Three messages, one signature and one verification per side:
//!
//! ```text
//! initiator I                                   responder R
//!   Handshake { body: B_i }             ───▶    checks version, clock skew, self, bans
//!                                       ◀───    HandshakeResponse { body: B_r, sig_r }
//!   verifies sig_r, pinned id, skew
//!   HandshakeConfirm { sig_i }          ───▶    verifies sig_i
//! ```
//!
//! `B_i`, `B_r` are CBOR [`HandshakeBody`] bytes, each with a fresh 32-byte nonce. Both
//! signatures cover the transcript hash
//! `th = SHA-256("qudag-peer/handshake/v1" ‖ u32be(|B_i|) ‖ B_i ‖ u32be(|B_r|) ‖ B_r)`,
//! prefixed by a role label (`…/responder`, `…/initiator`) so one side's signature cannot be
//! reflected as the other's. Because `th` contains the *other* side's fresh nonce, a captured
//! response or confirmation is useless on any other connection: this is why the spec sketch's
//! single self-signed `HandshakeMessage` was not used (it could be replayed verbatim).
//!
//! This module checks cryptography and message shape. Policy that needs the whole node (bans,
//! the pool, duplicate connections) is decided by `node` with the facts returned here.

use crate::id::NodeId;
use crate::identity::{self, Identity};
use crate::rng::Rng;
use crate::wire::{
    Handshake, HandshakeBody, HandshakeConfirm, HandshakeResponse, Message, MessageType, WireError,
    NONCE_LEN,
};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The protocol version this implementation speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol version this implementation accepts.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
/// Transcript hash label.
pub const TRANSCRIPT_LABEL: &[u8] = b"qudag-peer/handshake/v1";
/// Label prefixed to the transcript hash in the responder's signature.
pub const RESPONDER_LABEL: &[u8] = b"qudag-peer/handshake/v1/responder";
/// Label prefixed to the transcript hash in the initiator's signature.
pub const INITIATOR_LABEL: &[u8] = b"qudag-peer/handshake/v1/initiator";

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// No common protocol version.
    #[error("incompatible protocol version: we speak {our_min}..={our_max}, the peer {their_min}..={their_max}")]
    IncompatibleVersion {
        /// Our lowest.
        our_min: u32,
        /// Our highest.
        our_max: u32,
        /// Theirs lowest.
        their_min: u32,
        /// Theirs highest.
        their_max: u32,
    },
    /// The peer's timestamp is too far from our clock.
    #[error("peer clock differs from ours by {skew_secs} s (at most {max_secs} s allowed)")]
    ClockSkew {
        /// Their time minus ours, seconds.
        skew_secs: i64,
        /// The allowed skew.
        max_secs: u64,
    },
    /// A signature did not verify against the transcript.
    #[error("the peer's signature does not verify (replayed or forged handshake)")]
    BadSignature,
    /// A `quantum://id@host` dial reached a node with another id.
    #[error("expected node {expected}, but the peer proved identity {actual}")]
    IdentityMismatch {
        /// The pinned id.
        expected: NodeId,
        /// The id the peer proved.
        actual: NodeId,
    },
    /// We connected to ourselves.
    #[error("connected to ourselves")]
    SelfConnection,
    /// A message that is not the next step of the handshake.
    #[error("unexpected {got:?} during the handshake (expected {expected:?})")]
    UnexpectedMessage {
        /// What arrived.
        got: MessageType,
        /// What was expected.
        expected: MessageType,
    },
    /// A handshake message that could not be decoded.
    #[error("malformed handshake message: {0}")]
    Malformed(WireError),
}

/// What a verified (or, for the responder's first step, claimed) peer said about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHello {
    /// Hash of `public_key`.
    pub node_id: NodeId,
    /// The protocol version in use on this connection.
    pub version: u32,
    /// Advertised capabilities.
    pub capabilities: Vec<String>,
    /// The peer's software.
    pub user_agent: String,
    /// The advertised listen address, unparsed.
    pub listen_addr: Option<String>,
    /// The peer's timestamp, seconds since the epoch.
    pub timestamp: u64,
    /// The advertised QUIC listen address (`quic://ip:port`), unparsed.
    pub quic_listen_addr: Option<String>,
}

/// What this node says about itself in a handshake.
#[derive(Clone, Debug)]
pub struct LocalHello<'a> {
    /// Our identity (signs the transcript).
    pub identity: &'a Identity,
    /// Our capabilities.
    pub capabilities: &'a [String],
    /// Our user agent.
    pub user_agent: &'a str,
    /// Our advertised listen address.
    pub listen_addr: Option<String>,
    /// Our wall clock, seconds since the epoch.
    pub unix_secs: u64,
    /// The largest clock difference accepted.
    pub max_skew: Duration,
    /// Our advertised QUIC listen address (`quic://ip:port`), if we listen on QUIC.
    pub quic_listen_addr: Option<String>,
}

/// Handshake progress on one connection.
#[derive(Clone, Debug)]
pub enum HandshakeState {
    /// Initiator: sent `Handshake`, waiting for `HandshakeResponse`.
    AwaitResponse {
        /// Our body bytes, for the transcript.
        body: Vec<u8>,
        /// The id a `quantum://` dial pinned.
        expected: Option<NodeId>,
    },
    /// Responder: waiting for `Handshake`.
    AwaitHello,
    /// Responder: sent `HandshakeResponse`, waiting for `HandshakeConfirm`.
    AwaitConfirm {
        /// The transcript hash.
        th: [u8; 32],
        /// The initiator's public key (verifies the confirmation).
        peer_key: Vec<u8>,
        /// What the initiator claimed.
        hello: PeerHello,
    },
    /// Finished (either way).
    Done,
}

fn body_for(local: &LocalHello<'_>, version: u32, min_version: u32, rng: &mut Rng) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce);
    HandshakeBody {
        version,
        min_version,
        public_key: ByteBuf::from(local.identity.public_key().to_vec()),
        capabilities: local.capabilities.to_vec(),
        timestamp: local.unix_secs,
        nonce: ByteBuf::from(nonce.to_vec()),
        user_agent: local.user_agent.to_string(),
        listen_addr: local.listen_addr.clone(),
        quic_listen_addr: local.quic_listen_addr.clone(),
    }
    .to_cbor()
}

/// The transcript hash over both bodies.
pub fn transcript_hash(initiator_body: &[u8], responder_body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TRANSCRIPT_LABEL);
    h.update((initiator_body.len() as u32).to_be_bytes());
    h.update(initiator_body);
    h.update((responder_body.len() as u32).to_be_bytes());
    h.update(responder_body);
    h.finalize().into()
}

fn labelled(label: &[u8], th: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(label.len() + 32);
    m.extend_from_slice(label);
    m.extend_from_slice(th);
    m
}

fn check_skew(theirs: u64, local: &LocalHello<'_>) -> Result<(), HandshakeError> {
    let skew = theirs as i128 - local.unix_secs as i128;
    if skew.unsigned_abs() > local.max_skew.as_secs() as u128 {
        return Err(HandshakeError::ClockSkew {
            skew_secs: skew.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            max_secs: local.max_skew.as_secs(),
        });
    }
    Ok(())
}

fn hello_of(b: &HandshakeBody, version: u32) -> PeerHello {
    PeerHello {
        node_id: identity::node_id_of(&b.public_key),
        version,
        capabilities: b.capabilities.clone(),
        user_agent: b.user_agent.clone(),
        listen_addr: b.listen_addr.clone(),
        timestamp: b.timestamp,
        quic_listen_addr: b.quic_listen_addr.clone(),
    }
}

/// Initiator, step 1: the opening message and the state to keep.
pub fn initiate(
    local: &LocalHello<'_>,
    expected: Option<NodeId>,
    rng: &mut Rng,
) -> (HandshakeState, Message) {
    let body = body_for(local, PROTOCOL_VERSION, MIN_PROTOCOL_VERSION, rng);
    let msg = Message::Handshake(Handshake {
        body: ByteBuf::from(body.clone()),
    });
    (HandshakeState::AwaitResponse { body, expected }, msg)
}

/// Responder, step 1: checks the opening message and answers it.
///
/// The returned [`PeerHello`] is only *claimed* until [`HandshakeState::AwaitConfirm`] is
/// completed by [`on_confirm`]; the node may still use the claimed id to refuse early (a
/// banned id, ourselves).
pub fn on_hello(
    hello: &Handshake,
    local: &LocalHello<'_>,
    rng: &mut Rng,
) -> Result<(HandshakeState, Message, PeerHello), HandshakeError> {
    let b = HandshakeBody::from_cbor(MessageType::Handshake, &hello.body)
        .map_err(HandshakeError::Malformed)?;
    if b.version < MIN_PROTOCOL_VERSION
        || b.min_version > PROTOCOL_VERSION
        || b.min_version > b.version
    {
        return Err(HandshakeError::IncompatibleVersion {
            our_min: MIN_PROTOCOL_VERSION,
            our_max: PROTOCOL_VERSION,
            their_min: b.min_version,
            their_max: b.version,
        });
    }
    let version = b.version.min(PROTOCOL_VERSION);
    let claimed = hello_of(&b, version);
    if claimed.node_id == local.identity.node_id() {
        return Err(HandshakeError::SelfConnection);
    }
    check_skew(b.timestamp, local)?;
    let my_body = body_for(local, version, version, rng);
    let th = transcript_hash(&hello.body, &my_body);
    let signature = local.identity.sign(&labelled(RESPONDER_LABEL, &th));
    let msg = Message::HandshakeResponse(HandshakeResponse {
        body: ByteBuf::from(my_body),
        signature: ByteBuf::from(signature),
    });
    let state = HandshakeState::AwaitConfirm {
        th,
        peer_key: b.public_key.into_vec(),
        hello: claimed.clone(),
    };
    Ok((state, msg, claimed))
}

/// Initiator, step 2: verifies the response and produces the confirmation. On success the
/// responder's identity is proven.
pub fn on_response(
    state: &HandshakeState,
    resp: &HandshakeResponse,
    local: &LocalHello<'_>,
) -> Result<(Message, PeerHello), HandshakeError> {
    let HandshakeState::AwaitResponse {
        body: my_body,
        expected,
    } = state
    else {
        return Err(HandshakeError::UnexpectedMessage {
            got: MessageType::HandshakeResponse,
            expected: MessageType::Handshake,
        });
    };
    let b = HandshakeBody::from_cbor(MessageType::HandshakeResponse, &resp.body)
        .map_err(HandshakeError::Malformed)?;
    if b.version < MIN_PROTOCOL_VERSION || b.version > PROTOCOL_VERSION {
        return Err(HandshakeError::IncompatibleVersion {
            our_min: MIN_PROTOCOL_VERSION,
            our_max: PROTOCOL_VERSION,
            their_min: b.min_version,
            their_max: b.version,
        });
    }
    let peer = hello_of(&b, b.version);
    if peer.node_id == local.identity.node_id() {
        return Err(HandshakeError::SelfConnection);
    }
    let th = transcript_hash(my_body, &resp.body);
    if !identity::verify(
        &b.public_key,
        &labelled(RESPONDER_LABEL, &th),
        &resp.signature,
    ) {
        return Err(HandshakeError::BadSignature);
    }
    if let Some(expected) = expected {
        if *expected != peer.node_id {
            return Err(HandshakeError::IdentityMismatch {
                expected: *expected,
                actual: peer.node_id,
            });
        }
    }
    check_skew(b.timestamp, local)?;
    let signature = local.identity.sign(&labelled(INITIATOR_LABEL, &th));
    Ok((
        Message::HandshakeConfirm(HandshakeConfirm {
            signature: ByteBuf::from(signature),
        }),
        peer,
    ))
}

/// Responder, step 2: verifies the confirmation. On success the initiator's identity is proven.
pub fn on_confirm(
    state: &HandshakeState,
    confirm: &HandshakeConfirm,
) -> Result<PeerHello, HandshakeError> {
    let HandshakeState::AwaitConfirm {
        th,
        peer_key,
        hello,
    } = state
    else {
        return Err(HandshakeError::UnexpectedMessage {
            got: MessageType::HandshakeConfirm,
            expected: MessageType::Handshake,
        });
    };
    if !identity::verify(peer_key, &labelled(INITIATOR_LABEL, th), &confirm.signature) {
        return Err(HandshakeError::BadSignature);
    }
    Ok(hello.clone())
}

impl HandshakeState {
    /// The message type this state waits for.
    pub fn expects(&self) -> Option<MessageType> {
        match self {
            HandshakeState::AwaitResponse { .. } => Some(MessageType::HandshakeResponse),
            HandshakeState::AwaitHello => Some(MessageType::Handshake),
            HandshakeState::AwaitConfirm { .. } => Some(MessageType::HandshakeConfirm),
            HandshakeState::Done => None,
        }
    }
}
