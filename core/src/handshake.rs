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
//! `B_i`, `B_r` are CBOR [`HandshakeBody`] bytes, each with a fresh 32-byte nonce. `B_i`
//! carries the initiator's fresh ML-KEM-768 encapsulation key, `B_r` the ciphertext the
//! responder encapsulated to it, and both name the cipher suite ([`crate::channel::SUITE`]).
//! Both signatures cover the transcript hash
//! `th = SHA-256("qudag-peer/handshake/v2" ‖ u32be(|B_i|) ‖ B_i ‖ u32be(|B_r|) ‖ B_r)`,
//! prefixed by a role label (`…/responder`, `…/initiator`) so one side's signature cannot be
//! reflected as the other's. Because `th` contains the *other* side's fresh nonce, a captured
//! response or confirmation is useless on any other connection: this is why the spec sketch's
//! single self-signed `HandshakeMessage` was not used (it could be replayed verbatim).
//!
//! The KEM shared secret and `th` give the two direction keys of the sealed channel
//! ([`crate::channel::SessionKeys::derive`]). A man in the middle who swaps the encapsulation
//! key or the ciphertext changes `th` on one side only, so the other side's signature fails; the
//! suite and the versions are in `th` too, so they cannot be downgraded unseen. Every frame
//! after `HandshakeConfirm` is sealed ([`crate::channel`]).
//!
//! This module checks cryptography and message shape. Policy that needs the whole node (bans,
//! the pool, duplicate connections) is decided by `node` with the facts returned here.

use crate::channel::{self, KemSecret, Role, SessionKeys};
use crate::id::NodeId;
use crate::identity::{self, Identity};
use crate::rng::Rng;
use crate::wire::{
    Handshake, HandshakeBody, HandshakeConfirm, HandshakeResponse, HandshakeVersions, Message,
    MessageType, WireError, NONCE_LEN,
};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::time::Duration;

#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub use crate::wire::PROTOCOL_VERSION;
pub(crate) use crate::wire::MIN_PROTOCOL_VERSION;
/// Transcript hash label.
pub(crate) const TRANSCRIPT_LABEL: &[u8] = b"qudag-peer/handshake/v2";
/// Label prefixed to the transcript hash in the responder's signature.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const RESPONDER_LABEL: &[u8] = b"qudag-peer/handshake/v2/responder";
/// Label prefixed to the transcript hash in the initiator's signature.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const INITIATOR_LABEL: &[u8] = b"qudag-peer/handshake/v2/initiator";

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
    /// The peer offered (or chose) a cipher suite other than [`channel::SUITE`].
    #[error(
        "unsupported cipher suite {offered:?} (this node speaks {})",
        channel::SUITE
    )]
    UnsupportedSuite {
        /// What the peer named (truncated to [`crate::wire::MAX_SUITE_LEN`] by the wire check).
        offered: String,
    },
    /// The initiator's ML-KEM-768 encapsulation key fails the FIPS 203 key check.
    #[error("invalid ML-KEM-768 encapsulation key")]
    BadKemKey,
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
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
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
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
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
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub enum HandshakeState {
    /// Initiator: sent `Handshake`, waiting for `HandshakeResponse`.
    AwaitResponse {
        /// Our body bytes, for the transcript.
        body: Vec<u8>,
        /// The id a `quantum://` dial pinned.
        expected: Option<NodeId>,
        /// Our ML-KEM-768 decapsulation key for this handshake.
        kem: KemSecret,
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
        /// The session keys (used once the confirmation verifies).
        keys: SessionKeys,
    },
    /// Finished (either way).
    Done,
}

fn body_for(
    local: &LocalHello<'_>,
    version: u32,
    min_version: u32,
    kem: Vec<u8>,
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    HandshakeBody {
        version,
        min_version,
        public_key: ByteBuf::from(local.identity.public_key().to_vec()),
        capabilities: local.capabilities.to_vec(),
        timestamp: local.unix_secs,
        nonce: ByteBuf::from(nonce.to_vec()),
        user_agent: local.user_agent.to_string(),
        listen_addr: local.listen_addr.clone(),
        suite: channel::SUITE.to_string(),
        kem: ByteBuf::from(kem),
        quic_listen_addr: local.quic_listen_addr.clone(),
    }
    .to_cbor()
}

fn fresh_nonce(rng: &mut Rng) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce);
    nonce
}

fn check_suite(b: &HandshakeBody) -> Result<(), HandshakeError> {
    if b.suite != channel::SUITE {
        return Err(HandshakeError::UnsupportedSuite {
            offered: b.suite.clone(),
        });
    }
    Ok(())
}

/// The transcript hash over both bodies.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
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
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn initiate(
    local: &LocalHello<'_>,
    expected: Option<NodeId>,
    rng: &mut Rng,
) -> (HandshakeState, Message) {
    let nonce = fresh_nonce(rng);
    let (kem, ek) = channel::kem_keygen(rng);
    let body = body_for(local, PROTOCOL_VERSION, MIN_PROTOCOL_VERSION, ek, nonce);
    let msg = Message::Handshake(Handshake {
        body: ByteBuf::from(body.clone()),
    });
    (
        HandshakeState::AwaitResponse {
            body,
            expected,
            kem,
        },
        msg,
    )
}

/// Responder, step 1: checks the opening message and answers it.
///
/// The returned [`PeerHello`] is only *claimed* until [`HandshakeState::AwaitConfirm`] is
/// completed by [`on_confirm`]; the node may still use the claimed id to refuse early (a
/// banned id, ourselves).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn on_hello(
    hello: &Handshake,
    local: &LocalHello<'_>,
    rng: &mut Rng,
) -> Result<(HandshakeState, Message, PeerHello), HandshakeError> {
    // The versions first, so that a peer of another version is told so rather than that its
    // body is malformed (its fields may differ).
    let v = HandshakeVersions::from_cbor(MessageType::Handshake, &hello.body)
        .map_err(HandshakeError::Malformed)?;
    if v.version < MIN_PROTOCOL_VERSION
        || v.min_version > PROTOCOL_VERSION
        || v.min_version > v.version
    {
        return Err(HandshakeError::IncompatibleVersion {
            our_min: MIN_PROTOCOL_VERSION,
            our_max: PROTOCOL_VERSION,
            their_min: v.min_version,
            their_max: v.version,
        });
    }
    let b = HandshakeBody::from_cbor(MessageType::Handshake, &hello.body)
        .map_err(HandshakeError::Malformed)?;
    check_suite(&b)?;
    let version = b.version.min(PROTOCOL_VERSION);
    let claimed = hello_of(&b, version);
    if claimed.node_id == local.identity.node_id() {
        return Err(HandshakeError::SelfConnection);
    }
    check_skew(b.timestamp, local)?;
    let nonce = fresh_nonce(rng);
    let (ct, shared) = channel::kem_encapsulate(&b.kem, rng).ok_or(HandshakeError::BadKemKey)?;
    let my_body = body_for(local, version, version, ct, nonce);
    let th = transcript_hash(&hello.body, &my_body);
    let keys = SessionKeys::derive(&shared, &th, Role::Responder);
    let signature = local.identity.sign(&labelled(RESPONDER_LABEL, &th));
    let msg = Message::HandshakeResponse(HandshakeResponse {
        body: ByteBuf::from(my_body),
        signature: ByteBuf::from(signature),
    });
    let state = HandshakeState::AwaitConfirm {
        th,
        peer_key: b.public_key.into_vec(),
        hello: claimed.clone(),
        keys,
    };
    Ok((state, msg, claimed))
}

/// Initiator, step 2: verifies the response and produces the confirmation and the session
/// keys. On success the responder's identity is proven.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn on_response(
    state: &HandshakeState,
    resp: &HandshakeResponse,
    local: &LocalHello<'_>,
) -> Result<(Message, PeerHello, SessionKeys), HandshakeError> {
    let HandshakeState::AwaitResponse {
        body: my_body,
        expected,
        kem,
    } = state
    else {
        return Err(HandshakeError::UnexpectedMessage {
            got: MessageType::HandshakeResponse,
            expected: MessageType::Handshake,
        });
    };
    let v = HandshakeVersions::from_cbor(MessageType::HandshakeResponse, &resp.body)
        .map_err(HandshakeError::Malformed)?;
    if v.version < MIN_PROTOCOL_VERSION || v.version > PROTOCOL_VERSION {
        return Err(HandshakeError::IncompatibleVersion {
            our_min: MIN_PROTOCOL_VERSION,
            our_max: PROTOCOL_VERSION,
            their_min: v.min_version,
            their_max: v.version,
        });
    }
    let b = HandshakeBody::from_cbor(MessageType::HandshakeResponse, &resp.body)
        .map_err(HandshakeError::Malformed)?;
    check_suite(&b)?;
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
    // The wire check fixed the ciphertext length, so decapsulation cannot refuse it.
    let shared = channel::kem_decapsulate(kem, &b.kem).ok_or(HandshakeError::BadSignature)?;
    let keys = SessionKeys::derive(&shared, &th, Role::Initiator);
    let signature = local.identity.sign(&labelled(INITIATOR_LABEL, &th));
    Ok((
        Message::HandshakeConfirm(HandshakeConfirm {
            signature: ByteBuf::from(signature),
        }),
        peer,
        keys,
    ))
}

/// Responder, step 2: verifies the confirmation. On success the initiator's identity is proven
/// and the session keys are released.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn on_confirm(
    state: &HandshakeState,
    confirm: &HandshakeConfirm,
) -> Result<(PeerHello, SessionKeys), HandshakeError> {
    let HandshakeState::AwaitConfirm {
        th,
        peer_key,
        hello,
        keys,
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
    Ok((hello.clone(), keys.clone()))
}

impl HandshakeState {
    /// The message type this state waits for.
    pub(crate) fn expects(&self) -> Option<MessageType> {
        match self {
            HandshakeState::AwaitResponse { .. } => Some(MessageType::HandshakeResponse),
            HandshakeState::AwaitHello => Some(MessageType::Handshake),
            HandshakeState::AwaitConfirm { .. } => Some(MessageType::HandshakeConfirm),
            HandshakeState::Done => None,
        }
    }
}
