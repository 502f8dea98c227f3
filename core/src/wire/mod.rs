//! The wire protocol: length-prefixed frames carrying CBOR messages.
//!
//! ```text
//! frame   = length:u32be  version:u8  type:u8  body
//! length  = 2 + len(body)            (covers version, type and body; 2 ..= MAX_FRAME_LEN)
//! version = FRAME_VERSION (1)
//! body    = exactly one CBOR data item (RFC 8949), a map with text keys
//! ```
//!
//! After the handshake every frame is sealed (same length prefix and limit, ciphertext and tag
//! after it): see [`crate::channel`]; [`FrameDecoder::next_with`] hands such a frame's payload to
//! the opener. `docs/PROTOCOL.md` specifies every message byte by byte. This module decides what is a
//! well-formed frame; it does not decide what a message means (that is `handshake` and `node`).
//!
//! Invariants and limits:
//! - the length prefix is checked against [`MAX_FRAME_LEN`] **before** any byte of the body is
//!   buffered, so a hostile length (up to 4 GiB) costs nothing;
//! - a [`FrameDecoder`] never holds more than one partial frame (at most
//!   `4 + MAX_FRAME_LEN` bytes) once [`FrameDecoder::next_message`] has returned `Ok(None)`;
//! - every variable-length field has a named limit checked on decode and on encode;
//! - decoding never panics: every malformed input is a [`WireError`].

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

#[cfg(any(test, feature = "test-support"))]
mod examples;

/// Bytes of the length prefix.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const LENGTH_PREFIX_LEN: usize = 4;
/// The frame format version this implementation speaks.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const FRAME_VERSION: u8 = 1;
/// Largest value of the length prefix (version + type + body): 1 MiB.
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// Length of a handshake nonce.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const NONCE_LEN: usize = 32;
/// Most capabilities a node may advertise.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_CAPABILITIES: usize = 32;
/// Longest capability name in bytes.
pub(crate) const MAX_CAPABILITY_LEN: usize = 32;
/// Longest user agent in bytes.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_USER_AGENT_LEN: usize = 256;
/// Longest advertised listen address in bytes (the address parser's own limit).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_LISTEN_ADDR_LEN: usize = 512;
/// Longest human-readable text in a `Disconnect`.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_DISCONNECT_TEXT_LEN: usize = 256;
/// Most addresses in one `Peers` answer.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_PEX_ADDRESSES: usize = 1000;
/// Longest application payload: what fits in a frame with the CBOR overhead.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_APP_PAYLOAD: usize = MAX_FRAME_LEN - 64;

// The constants below are checked by this codec, so the codec owns them; the modules that
// give them meaning re-export them and assert them against the crypto crates (`identity`
// against pqcrypto-dilithium, `channel` against ml-kem), so the codec imports nothing from
// the rest of the crate.

/// The protocol version this implementation speaks (2: the handshake carries an ML-KEM-768
/// exchange and every later frame is sealed). Re-exported as `handshake::PROTOCOL_VERSION`.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const PROTOCOL_VERSION: u32 = 2;
/// The oldest protocol version this implementation accepts. Version 1 (plaintext frames) was
/// never deployed and is refused: there is no weaker mode to fall back to.
pub(crate) const MIN_PROTOCOL_VERSION: u32 = 2;
/// The one cipher suite of protocol version 2: ML-KEM-768, HKDF-SHA-256, ChaCha20-Poly1305.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const SUITE: &str = "mlkem768-hkdfsha256-chacha20poly1305";
/// Longest suite name accepted in a handshake body.
pub(crate) const MAX_SUITE_LEN: usize = 64;
/// Length of an ML-KEM-768 encapsulation key (the initiator's `kem` field).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const KEM_ENCAPSULATION_KEY_LEN: usize = 1184;
/// Length of an ML-KEM-768 ciphertext (the responder's `kem` field).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const KEM_CIPHERTEXT_LEN: usize = 1088;
/// Length of a dilithium3 public key in bytes (a handshake body's `public_key`).
pub const PUBLIC_KEY_LEN: usize = 1952;
/// Length of a detached dilithium3 signature in bytes (the handshake signatures).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const SIGNATURE_LEN: usize = 3309;

/// The message type byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum MessageType {
    /// 0x01: the initiator's opening message.
    Handshake = 0x01,
    /// 0x02: the responder's signed answer.
    HandshakeResponse = 0x02,
    /// 0x03: the initiator's signature over the transcript.
    HandshakeConfirm = 0x03,
    /// 0x10: keep-alive and latency probe.
    Ping = 0x10,
    /// 0x11: answer to a ping.
    Pong = 0x11,
    /// 0x20: the sender is closing, with a reason.
    Disconnect = 0x20,
    /// 0x21: acknowledges a `Disconnect`.
    DisconnectAck = 0x21,
    /// 0x30: asks for addresses (peer exchange).
    GetPeers = 0x30,
    /// 0x31: answers `GetPeers`.
    Peers = 0x31,
    /// 0x40: an opaque application payload.
    App = 0x40,
}

impl MessageType {
    /// The type for a byte, if known.
    pub fn from_byte(b: u8) -> Option<MessageType> {
        use MessageType::*;
        Some(match b {
            0x01 => Handshake,
            0x02 => HandshakeResponse,
            0x03 => HandshakeConfirm,
            0x10 => Ping,
            0x11 => Pong,
            0x20 => Disconnect,
            0x21 => DisconnectAck,
            0x30 => GetPeers,
            0x31 => Peers,
            0x40 => App,
            _ => return None,
        })
    }
}

/// A malformed frame or message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The length prefix exceeds [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The announced length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The length prefix is below 2 (no room for version and type).
    #[error("frame of {0} bytes is too short for a header")]
    FrameTooShort(u32),
    /// A frame version this implementation does not speak.
    #[error("unknown frame version {0} (this node speaks {FRAME_VERSION})")]
    UnknownVersion(u8),
    /// A message type byte that is not defined.
    #[error("unknown message type 0x{0:02x}")]
    UnknownMessageType(u8),
    /// The body is not the CBOR the message type requires.
    #[error("malformed {msg_type:?} body: {detail}")]
    Malformed {
        /// The message type.
        msg_type: MessageType,
        /// What the CBOR decoder said.
        detail: String,
    },
    /// Bytes left after the body's CBOR item.
    #[error("{extra} trailing bytes after the {msg_type:?} body")]
    TrailingBytes {
        /// The message type.
        msg_type: MessageType,
        /// How many bytes were left over.
        extra: usize,
    },
    /// A field outside its limit (length or count).
    #[error("{msg_type:?}.{field} has length {len}, allowed {allowed}")]
    FieldLength {
        /// The message type.
        msg_type: MessageType,
        /// The field.
        field: &'static str,
        /// Its length or count.
        len: usize,
        /// What is allowed, in words.
        allowed: &'static str,
    },
}

/// The fields each side of a handshake announces about itself. Its CBOR encoding travels as a
/// byte string ([`Handshake::body`], [`HandshakeResponse::body`]) so that the transcript both
/// signatures cover is made of the exact bytes received, whatever encoder the sender used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct HandshakeBody {
    /// Initiator: the highest protocol version it speaks. Responder: the version chosen.
    pub version: u32,
    /// Initiator: the lowest protocol version it accepts. Responder: equal to `version`.
    pub min_version: u32,
    /// The sender's dilithium3 public key ([`PUBLIC_KEY_LEN`] bytes).
    pub public_key: ByteBuf,
    /// Capability names, e.g. `routing`, `consensus`, `storage`, `pex`.
    pub capabilities: Vec<String>,
    /// The sender's wall clock, seconds since the Unix epoch.
    pub timestamp: u64,
    /// [`NONCE_LEN`] fresh random bytes.
    pub nonce: ByteBuf,
    /// Free text naming the software, e.g. `qudag/0.1.0`.
    pub user_agent: String,
    /// The address the sender accepts connections on, in the address parser's format. An
    /// unspecified IP (`0.0.0.0:8000`, `[::]:8000`) means "the IP you see me at, this port".
    pub listen_addr: Option<String>,
    /// The cipher suite of the channel, [`SUITE`] (at most
    /// [`MAX_SUITE_LEN`] bytes). Signed with the rest of the transcript, so it
    /// cannot be downgraded by a third party.
    pub suite: String,
    /// `Handshake`: the initiator's ML-KEM-768 encapsulation key (exactly
    /// [`KEM_ENCAPSULATION_KEY_LEN`] bytes). `HandshakeResponse`: the ciphertext
    /// the responder encapsulated to it (exactly [`KEM_CIPHERTEXT_LEN`] bytes).
    pub kem: ByteBuf,
    /// The UDP address the sender accepts QUIC connections on, as a `quic://ip:port` address
    /// (unspecified IP: as for `listen_addr`). Left out of the encoding when `None`, so a
    /// node without a QUIC listener sends the same bytes as before the field existed, and a
    /// body without it decodes as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quic_listen_addr: Option<String>,
}

/// The version fields of a [`HandshakeBody`], read first (other fields are ignored) so that a
/// peer speaking another protocol version, whose body may have other fields, is refused with
/// an incompatible-version reason rather than as malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HandshakeVersions {
    /// [`HandshakeBody::version`].
    pub version: u32,
    /// [`HandshakeBody::min_version`].
    pub min_version: u32,
}

impl HandshakeVersions {
    /// Reads the version fields of a body carried in a message of type `t`.
    pub(crate) fn from_cbor(t: MessageType, bytes: &[u8]) -> Result<HandshakeVersions, WireError> {
        cbor(t, bytes)
    }

    /// Whether a body with these versions is one of ours (protocol version 2): its other fields
    /// are then checked on decode. Bodies of other versions are only checked for their version
    /// fields here; the handshake refuses them with a version error.
    fn is_current(&self) -> bool {
        self.version == PROTOCOL_VERSION
            || (self.min_version..=self.version).contains(&PROTOCOL_VERSION)
    }
}

/// Checks a handshake body at the wire level: fully if it is a current-version body, only
/// its version fields otherwise.
fn check_body(t: MessageType, bytes: &[u8]) -> Result<(), WireError> {
    if HandshakeVersions::from_cbor(t, bytes)?.is_current() {
        HandshakeBody::from_cbor(t, bytes)?;
    }
    Ok(())
}

/// The initiator's opening message: its [`HandshakeBody`] as CBOR bytes. Not signed by
/// itself: these bytes enter the transcript that the initiator signs in [`HandshakeConfirm`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct Handshake {
    /// The CBOR encoding of a [`HandshakeBody`].
    pub body: ByteBuf,
}

/// The responder's answer: its [`HandshakeBody`] as CBOR bytes, and its signature over the
/// transcript (which includes the initiator's nonce, so it cannot be replayed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct HandshakeResponse {
    /// The CBOR encoding of a [`HandshakeBody`].
    pub body: ByteBuf,
    /// Dilithium3 signature ([`SIGNATURE_LEN`] bytes).
    pub signature: ByteBuf,
}

/// The initiator's signature over the transcript (which includes the responder's nonce).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct HandshakeConfirm {
    /// Dilithium3 signature.
    pub signature: ByteBuf,
}

/// Keep-alive and latency probe; the answer echoes `nonce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct Ping {
    /// Chosen by the sender.
    pub nonce: u64,
}

/// The sender is closing the connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct Disconnect {
    /// A [`crate::peer::DisconnectReason`] code.
    pub reason: u16,
    /// Human-readable detail (at most [`MAX_DISCONNECT_TEXT_LEN`] bytes).
    pub text: String,
}

/// Asks for up to `max` addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct GetPeers {
    /// The most addresses wanted (the answer is capped at [`MAX_PEX_ADDRESSES`] anyway).
    pub max: u32,
}

/// Addresses in the address parser's canonical text form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct Peers {
    /// At most [`MAX_PEX_ADDRESSES`] addresses.
    pub addresses: Vec<String>,
}

/// An opaque application payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct App {
    /// The payload (at most [`MAX_APP_PAYLOAD`] bytes).
    pub payload: ByteBuf,
}

#[derive(Serialize, Deserialize)]
struct Empty {}

/// Every message of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub enum Message {
    /// 0x01.
    Handshake(Handshake),
    /// 0x02.
    HandshakeResponse(HandshakeResponse),
    /// 0x03.
    HandshakeConfirm(HandshakeConfirm),
    /// 0x10.
    Ping(Ping),
    /// 0x11 (same body as a ping).
    Pong(Ping),
    /// 0x20.
    Disconnect(Disconnect),
    /// 0x21 (empty map body).
    DisconnectAck,
    /// 0x30.
    GetPeers(GetPeers),
    /// 0x31.
    Peers(Peers),
    /// 0x40.
    App(App),
}

impl Message {
    /// The type byte of this message.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Handshake(_) => MessageType::Handshake,
            Message::HandshakeResponse(_) => MessageType::HandshakeResponse,
            Message::HandshakeConfirm(_) => MessageType::HandshakeConfirm,
            Message::Ping(_) => MessageType::Ping,
            Message::Pong(_) => MessageType::Pong,
            Message::Disconnect(_) => MessageType::Disconnect,
            Message::DisconnectAck => MessageType::DisconnectAck,
            Message::GetPeers(_) => MessageType::GetPeers,
            Message::Peers(_) => MessageType::Peers,
            Message::App(_) => MessageType::App,
        }
    }

    /// Appends this message as one frame to `out`. Fails only if a field is over its limit
    /// (the frame would then be refused by the peer).
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        self.check_limits()?;
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, FRAME_VERSION, self.message_type() as u8]);
        let written = match self {
            Message::Handshake(m) => ciborium::into_writer(m, &mut *out),
            Message::HandshakeResponse(m) => ciborium::into_writer(m, &mut *out),
            Message::HandshakeConfirm(m) => ciborium::into_writer(m, &mut *out),
            Message::Ping(m) | Message::Pong(m) => ciborium::into_writer(m, &mut *out),
            Message::Disconnect(m) => ciborium::into_writer(m, &mut *out),
            Message::DisconnectAck => ciborium::into_writer(&Empty {}, &mut *out),
            Message::GetPeers(m) => ciborium::into_writer(m, &mut *out),
            Message::Peers(m) => ciborium::into_writer(m, &mut *out),
            Message::App(m) => ciborium::into_writer(m, &mut *out),
        };
        // Writing CBOR into a Vec cannot fail: the writer is infallible and every type is plain data.
        debug_assert!(written.is_ok(), "CBOR encoding into a Vec failed");
        let len = out.len() - start - LENGTH_PREFIX_LEN;
        if len > MAX_FRAME_LEN {
            out.truncate(start);
            return Err(WireError::FrameTooLarge {
                len: len as u64,
                max: MAX_FRAME_LEN,
            });
        }
        out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }

    /// This message as one frame.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut v = Vec::with_capacity(64);
        self.encode_into(&mut v)?;
        Ok(v)
    }

    /// Decodes a frame's payload (everything after the length prefix: version, type, body).
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn decode_payload(payload: &[u8]) -> Result<Message, WireError> {
        if payload.len() < 2 {
            return Err(WireError::FrameTooShort(payload.len() as u32));
        }
        if payload[0] != FRAME_VERSION {
            return Err(WireError::UnknownVersion(payload[0]));
        }
        let t =
            MessageType::from_byte(payload[1]).ok_or(WireError::UnknownMessageType(payload[1]))?;
        let body = &payload[2..];
        let msg = match t {
            MessageType::Handshake => Message::Handshake(cbor(t, body)?),
            MessageType::HandshakeResponse => Message::HandshakeResponse(cbor(t, body)?),
            MessageType::HandshakeConfirm => Message::HandshakeConfirm(cbor(t, body)?),
            MessageType::Ping => Message::Ping(cbor(t, body)?),
            MessageType::Pong => Message::Pong(cbor(t, body)?),
            MessageType::Disconnect => Message::Disconnect(cbor(t, body)?),
            MessageType::DisconnectAck => {
                let Empty {} = cbor(t, body)?;
                Message::DisconnectAck
            }
            MessageType::GetPeers => Message::GetPeers(cbor(t, body)?),
            MessageType::Peers => Message::Peers(cbor(t, body)?),
            MessageType::App => Message::App(cbor(t, body)?),
        };
        msg.check_limits()?;
        Ok(msg)
    }

    fn check_limits(&self) -> Result<(), WireError> {
        let t = self.message_type();
        let field = |field, len, ok, allowed| check_field(t, field, len, ok, allowed);
        match self {
            Message::Handshake(h) => check_body(t, &h.body),
            Message::HandshakeResponse(r) => {
                let sig = SIGNATURE_LEN;
                field(
                    "signature",
                    r.signature.len(),
                    r.signature.len() == sig,
                    "exactly 3309 bytes",
                )?;
                check_body(t, &r.body)
            }
            Message::HandshakeConfirm(c) => {
                let sig = SIGNATURE_LEN;
                field(
                    "signature",
                    c.signature.len(),
                    c.signature.len() == sig,
                    "exactly 3309 bytes",
                )
            }
            Message::Disconnect(d) => field(
                "text",
                d.text.len(),
                d.text.len() <= MAX_DISCONNECT_TEXT_LEN,
                "at most 256 bytes",
            ),
            Message::Peers(p) => {
                field(
                    "addresses",
                    p.addresses.len(),
                    p.addresses.len() <= MAX_PEX_ADDRESSES,
                    "at most 1000 entries",
                )?;
                for a in &p.addresses {
                    field(
                        "addresses",
                        a.len(),
                        a.len() <= MAX_LISTEN_ADDR_LEN,
                        "at most 512 bytes each",
                    )?;
                }
                Ok(())
            }
            Message::App(a) => field(
                "payload",
                a.payload.len(),
                a.payload.len() <= MAX_APP_PAYLOAD,
                "at most MAX_APP_PAYLOAD bytes",
            ),
            Message::Ping(_) | Message::Pong(_) | Message::DisconnectAck | Message::GetPeers(_) => {
                Ok(())
            }
        }
    }
}

impl HandshakeBody {
    /// The CBOR bytes that go into a handshake message's `body` and the transcript.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(2200);
        let written = ciborium::into_writer(self, &mut v);
        debug_assert!(written.is_ok(), "CBOR encoding into a Vec failed");
        v
    }

    /// Decodes and checks a body carried in a message of type `t`.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn from_cbor(t: MessageType, bytes: &[u8]) -> Result<HandshakeBody, WireError> {
        let b: HandshakeBody = cbor(t, bytes)?;
        let field = |field, len, ok, allowed| check_field(t, field, len, ok, allowed);
        let pk = PUBLIC_KEY_LEN;
        field(
            "public_key",
            b.public_key.len(),
            b.public_key.len() == pk,
            "exactly 1952 bytes",
        )?;
        field(
            "nonce",
            b.nonce.len(),
            b.nonce.len() == NONCE_LEN,
            "exactly 32 bytes",
        )?;
        field(
            "user_agent",
            b.user_agent.len(),
            b.user_agent.len() <= MAX_USER_AGENT_LEN,
            "at most 256 bytes",
        )?;
        field(
            "capabilities",
            b.capabilities.len(),
            b.capabilities.len() <= MAX_CAPABILITIES,
            "at most 32 entries",
        )?;
        for c in &b.capabilities {
            field(
                "capabilities",
                c.len(),
                !c.is_empty() && c.len() <= MAX_CAPABILITY_LEN,
                "1 to 32 bytes each",
            )?;
        }
        if let Some(a) = &b.listen_addr {
            field(
                "listen_addr",
                a.len(),
                a.len() <= MAX_LISTEN_ADDR_LEN,
                "at most 512 bytes",
            )?;
        }
        field(
            "suite",
            b.suite.len(),
            b.suite.len() <= MAX_SUITE_LEN,
            "at most 64 bytes",
        )?;
        let (kem_len, kem_allowed) = match t {
            MessageType::HandshakeResponse => {
                (KEM_CIPHERTEXT_LEN, "exactly 1088 bytes")
            }
            _ => (
                KEM_ENCAPSULATION_KEY_LEN,
                "exactly 1184 bytes",
            ),
        };
        field("kem", b.kem.len(), b.kem.len() == kem_len, kem_allowed)?;
        if let Some(a) = &b.quic_listen_addr {
            field(
                "quic_listen_addr",
                a.len(),
                a.len() <= MAX_LISTEN_ADDR_LEN,
                "at most 512 bytes",
            )?;
        }
        Ok(b)
    }
}

/// `Ok` if `ok`, else the `FieldLength` error describing `field` of a message of type `t`.
fn check_field(
    t: MessageType,
    field: &'static str,
    len: usize,
    ok: bool,
    allowed: &'static str,
) -> Result<(), WireError> {
    if ok {
        Ok(())
    } else {
        Err(WireError::FieldLength {
            msg_type: t,
            field,
            len,
            allowed,
        })
    }
}

/// Decodes exactly one CBOR item from `body`, refusing trailing bytes.
fn cbor<T: serde::de::DeserializeOwned>(
    msg_type: MessageType,
    body: &[u8],
) -> Result<T, WireError> {
    let mut rest = body;
    let v = ciborium::de::from_reader_with_recursion_limit(&mut rest, 16).map_err(|e| {
        WireError::Malformed {
            msg_type,
            detail: e.to_string(),
        }
    })?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes {
            msg_type,
            extra: rest.len(),
        });
    }
    Ok(v)
}

/// Reassembles frames from a byte stream split at arbitrary points.
///
/// Feed bytes with [`FrameDecoder::push`], then call [`FrameDecoder::next_message`] until it
/// returns `Ok(None)`. After an error the stream is unusable (framing is lost): close the
/// connection.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    failed: bool,
}

impl FrameDecoder {
    /// An empty decoder.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Takes bytes from `data` up to the end of the frame at the head (or the end of its
    /// length prefix) and returns how many it took. Call [`FrameDecoder::next_message`] after
    /// each call and push the rest: the buffer never holds more than one frame
    /// (`4 + MAX_FRAME_LEN` bytes). The length prefix is checked as soon as it is complete, so an
    /// oversized frame is refused before its body is buffered.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn push(&mut self, data: &[u8]) -> Result<usize, WireError> {
        if self.failed {
            return Ok(data.len());
        }
        self.compact();
        let have = self.buf.len();
        let want = if have < LENGTH_PREFIX_LEN {
            LENGTH_PREFIX_LEN - have
        } else {
            let len =
                u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            (LENGTH_PREFIX_LEN + len).saturating_sub(have)
        };
        let take = want.min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        self.check_head()?;
        Ok(take)
    }

    fn check_head(&mut self) -> Result<(), WireError> {
        let avail = &self.buf[self.start..];
        if avail.len() >= LENGTH_PREFIX_LEN {
            let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]);
            if len as usize > MAX_FRAME_LEN {
                self.fail();
                return Err(WireError::FrameTooLarge {
                    len: len as u64,
                    max: MAX_FRAME_LEN,
                });
            }
            if len < 2 {
                self.fail();
                return Err(WireError::FrameTooShort(len));
            }
        }
        Ok(())
    }

    fn fail(&mut self) {
        self.failed = true;
        self.buf = Vec::new();
        self.start = 0;
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        self.next_with(Message::decode_payload)
    }

    /// The next complete frame, handed to `read` as its payload (the bytes after the length
    /// prefix; for a sealed frame, ciphertext and tag): `Ok(None)` if more bytes are needed. An
    /// error from `read` fails the decoder like a framing error.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn next_with<T, E: From<WireError>>(
        &mut self,
        read: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<Option<T>, E> {
        if self.failed {
            return Ok(None);
        }
        self.check_head()?;
        let avail = &self.buf[self.start..];
        if avail.len() < LENGTH_PREFIX_LEN {
            self.compact();
            return Ok(None);
        }
        let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        if avail.len() < LENGTH_PREFIX_LEN + len {
            self.compact();
            return Ok(None);
        }
        let payload = &avail[LENGTH_PREFIX_LEN..LENGTH_PREFIX_LEN + len];
        let result = read(payload);
        self.start += LENGTH_PREFIX_LEN + len;
        match result {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                self.fail();
                Err(e)
            }
        }
    }

    /// Bytes currently buffered (a partial frame).
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        // Release memory held by a large frame once it has been consumed.
        if self.buf.capacity() > 64 * 1024 && self.buf.len() < 16 * 1024 {
            self.buf.shrink_to(16 * 1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_handshake() -> Handshake {
        Handshake {
            body: ByteBuf::from(sample_body().to_cbor()),
        }
    }

    fn sample_body() -> HandshakeBody {
        HandshakeBody {
            version: 2,
            min_version: 2,
            public_key: ByteBuf::from(vec![7u8; PUBLIC_KEY_LEN]),
            capabilities: vec!["routing".into(), "pex".into()],
            timestamp: 1_700_000_000,
            nonce: ByteBuf::from(vec![9u8; NONCE_LEN]),
            user_agent: "qudag/0.1.0".into(),
            listen_addr: Some("127.0.0.1:8000".into()),
            suite: SUITE.into(),
            kem: ByteBuf::from(vec![3u8; KEM_ENCAPSULATION_KEY_LEN]),
            quic_listen_addr: Some("quic://127.0.0.1:8001".into()),
        }
    }

    #[test]
    fn round_trip_and_split_reassembly() {
        let msgs = vec![
            Message::Handshake(sample_handshake()),
            Message::Ping(Ping { nonce: 42 }),
            Message::Pong(Ping { nonce: u64::MAX }),
            Message::Disconnect(Disconnect {
                reason: 1,
                text: "bye".into(),
            }),
            Message::DisconnectAck,
            Message::GetPeers(GetPeers { max: 100 }),
            Message::Peers(Peers {
                addresses: vec!["1.2.3.4:8000".into()],
            }),
            Message::App(App {
                payload: ByteBuf::from(vec![1, 2, 3]),
            }),
        ];
        let mut stream = Vec::new();
        for m in &msgs {
            m.encode_into(&mut stream).unwrap();
        }
        // Feed one byte at a time.
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        for b in &stream {
            assert_eq!(d.push(std::slice::from_ref(b)).unwrap(), 1);
            while let Some(m) = d.next_message().unwrap() {
                out.push(m);
            }
        }
        assert_eq!(out, msgs);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn oversized_length_refused_before_buffering() {
        let mut d = FrameDecoder::new();
        let err = d.push(&u32::MAX.to_be_bytes()).unwrap_err();
        assert_eq!(
            err,
            WireError::FrameTooLarge {
                len: u32::MAX as u64,
                max: MAX_FRAME_LEN
            }
        );
        let mut d = FrameDecoder::new();
        let over = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
        assert!(matches!(
            d.push(&over),
            Err(WireError::FrameTooLarge { .. })
        ));
        // Exactly at the limit is accepted as a header (the body may still be malformed).
        let mut d = FrameDecoder::new();
        d.push(&(MAX_FRAME_LEN as u32).to_be_bytes()).unwrap();
        assert_eq!(d.next_message().unwrap(), None);
    }

    #[test]
    fn typed_errors() {
        assert_eq!(
            Message::decode_payload(&[2, 0x10, 0xa0]),
            Err(WireError::UnknownVersion(2))
        );
        assert_eq!(
            Message::decode_payload(&[1, 0x99, 0xa0]),
            Err(WireError::UnknownMessageType(0x99))
        );
        assert_eq!(
            Message::decode_payload(&[1]),
            Err(WireError::FrameTooShort(1))
        );
        let mut f = Message::DisconnectAck.encode().unwrap();
        f.push(0);
        assert_eq!(
            Message::decode_payload(&f[4..]),
            Err(WireError::TrailingBytes {
                msg_type: MessageType::DisconnectAck,
                extra: 1
            })
        );
        assert!(matches!(
            Message::decode_payload(&[1, 0x10, 0xff]),
            Err(WireError::Malformed { .. })
        ));
        let mut d = FrameDecoder::new();
        assert_eq!(d.push(&[0, 0, 0, 1]), Err(WireError::FrameTooShort(1)));
        // A handshake whose embedded body is not a HandshakeBody.
        let bad = Message::Handshake(Handshake {
            body: ByteBuf::from(vec![0xa0]),
        });
        let f = bad.encode_into(&mut Vec::new());
        assert!(matches!(f, Err(WireError::Malformed { .. })));
    }

    #[test]
    fn pex_limit_exact() {
        let ok = Message::Peers(Peers {
            addresses: vec!["1.2.3.4:1".into(); MAX_PEX_ADDRESSES],
        });
        let bytes = ok.encode().unwrap();
        assert_eq!(Message::decode_payload(&bytes[4..]).unwrap(), ok);
        let over = Message::Peers(Peers {
            addresses: vec!["1.2.3.4:1".into(); MAX_PEX_ADDRESSES + 1],
        });
        assert!(matches!(
            over.encode(),
            Err(WireError::FieldLength {
                field: "addresses",
                ..
            })
        ));
    }
}
