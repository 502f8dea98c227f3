//! The post-quantum encrypted channel that follows the handshake (protocol version 2).
//!
//! The handshake ([`crate::handshake`]) carries an ML-KEM-768 (FIPS 203) exchange: the
//! initiator sends a fresh encapsulation key, the responder encapsulates a shared secret to it
//! and sends the ciphertext. Both bodies enter the transcript hash `th` that both dilithium3
//! signatures cover, so the shared secret belongs to the two authenticated peers. From it:
//!
//! ```text
//! prk   = HKDF-Extract(salt = th, ikm = shared secret)              (HKDF-SHA-256, RFC 5869)
//! k_i2r = HKDF-Expand(prk, "qudag-peer/channel/v2/initiator-to-responder", 32)
//! k_r2i = HKDF-Expand(prk, "qudag-peer/channel/v2/responder-to-initiator", 32)
//! ```
//!
//! Every frame after `HandshakeConfirm` is sealed with ChaCha20-Poly1305 (RFC 8439):
//!
//! ```text
//! sealed frame = length:u32be  ciphertext  tag:16
//! length       = len(ciphertext) + 16            (2 + 16 ..= MAX_FRAME_LEN)
//! plaintext    = version:u8  type:u8  body        (what follows the prefix of a plain frame)
//! nonce        = 0x00000000 ‖ u64le(counter)      (12 bytes; the counter is never sent)
//! aad          = the 4 length bytes
//! ```
//!
//! Each direction has its own key and its own 64-bit frame counter, starting at 0 and
//! increased by one per frame. A receiver only ever tries the next counter, so a frame that was
//! tampered with, truncated, reordered, dropped or replayed fails to open: the connection ends.
//!
//! Rekeying is implicit: after [`RekeyLimits::frames`] frames or [`RekeyLimits::bytes`] bytes
//! under one key (whichever comes first), both ends replace the key of that direction by
//! `HKDF-Expand(prk = key, "qudag-peer/channel/v2/rekey", 32)` and forget the old one. The
//! counter is not reset. No message is needed: both ends count the same frames.
//!
//! Everything here is deterministic: key generation and encapsulation take their randomness
//! from the caller's seeded [`Rng`].

use crate::rng::Rng;
use crate::wire::{Message, WireError, LENGTH_PREFIX_LEN, MAX_FRAME_LEN};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use ml_kem::{Decapsulate, KeyExport};
use sha2::Sha256;

#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub use crate::wire::{KEM_CIPHERTEXT_LEN, KEM_ENCAPSULATION_KEY_LEN, SUITE};

// The codec owns the KEM sizes it checks; they must be ML-KEM-768's.
const _: () = assert!(
    size_of::<ml_kem::kem::Key<ml_kem::EncapsulationKey768>>() == KEM_ENCAPSULATION_KEY_LEN
);
const _: () = assert!(size_of::<ml_kem::Ciphertext<ml_kem::MlKem768>>() == KEM_CIPHERTEXT_LEN);
/// Random bytes drawn for an ML-KEM-768 key pair (`d ‖ z`, FIPS 203 ML-KEM.KeyGen_internal).
pub(crate) const KEM_KEYGEN_SEED_LEN: usize = 64;
/// Random bytes drawn for one encapsulation (`m`, FIPS 203 ML-KEM.Encaps_internal).
pub(crate) const KEM_ENCAPS_SEED_LEN: usize = 32;
// The seed sizes the docs name are the ones ml-kem draws.
const _: () = assert!(size_of::<ml_kem::Seed>() == KEM_KEYGEN_SEED_LEN);
const _: () = assert!(size_of::<ml_kem::B32>() == KEM_ENCAPS_SEED_LEN);
/// Length of a direction key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of the Poly1305 tag that ends every sealed frame.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const TAG_LEN: usize = 16;
/// Longest plaintext (version + type + body) that fits in a sealed frame.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_SEALED_PLAINTEXT: usize = MAX_FRAME_LEN - TAG_LEN;
/// HKDF-Expand label of the initiator-to-responder key.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const LABEL_INITIATOR_TO_RESPONDER: &[u8] = b"qudag-peer/channel/v2/initiator-to-responder";
/// HKDF-Expand label of the responder-to-initiator key.
pub(crate) const LABEL_RESPONDER_TO_INITIATOR: &[u8] = b"qudag-peer/channel/v2/responder-to-initiator";
/// HKDF-Expand label of the next key of a direction.
pub(crate) const LABEL_REKEY: &[u8] = b"qudag-peer/channel/v2/rekey";
/// Default rekey limit: frames under one key (2^20).
pub(crate) const REKEY_AFTER_FRAMES: u64 = 1 << 20;
/// Default rekey limit: sealed bytes (length prefixes included) under one key (1 GiB).
pub(crate) const REKEY_AFTER_BYTES: u64 = 1 << 30;

/// Why sealing or opening failed. Any of these ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub enum ChannelError {
    /// The frame did not authenticate under the expected key and counter: tampered, truncated,
    /// reordered, replayed or forged.
    #[error("sealed frame {counter} does not authenticate (tampered, reordered or replayed)")]
    Open {
        /// The counter the receiver expected.
        counter: u64,
    },
    /// A sealed frame shorter than a header and a tag.
    #[error("sealed frame of {0} bytes is shorter than a header and a tag")]
    TooShort(usize),
    /// The plaintext does not fit in one frame.
    #[error("plaintext of {len} bytes exceeds the sealed limit of {max}")]
    TooLarge {
        /// The plaintext length.
        len: usize,
        /// [`MAX_SEALED_PLAINTEXT`].
        max: usize,
    },
    /// The 64-bit counter is used up (never in practice: the connection must end).
    #[error("frame counter exhausted")]
    CounterExhausted,
    /// The frame opened, but its plaintext is not a valid message.
    #[error("sealed message: {0}")]
    Wire(WireError),
    /// An earlier failure ended this direction.
    #[error("the channel failed earlier")]
    Failed,
}

impl From<WireError> for ChannelError {
    fn from(e: WireError) -> ChannelError {
        ChannelError::Wire(e)
    }
}

/// When both ends replace a direction's key. Both values must be at least 1 (0 is treated as 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RekeyLimits {
    /// Rekey after this many frames under one key.
    pub frames: u64,
    /// Rekey once this many sealed bytes (length prefixes included) went under one key.
    pub bytes: u64,
}

impl Default for RekeyLimits {
    fn default() -> RekeyLimits {
        RekeyLimits {
            frames: REKEY_AFTER_FRAMES,
            bytes: REKEY_AFTER_BYTES,
        }
    }
}

/// Which end of the handshake we are (decides which derived key sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Sent `Handshake`.
    Initiator,
    /// Sent `HandshakeResponse`.
    Responder,
}

/// The initiator's ML-KEM-768 decapsulation key, kept until the response arrives.
#[derive(Clone)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct KemSecret(Box<ml_kem::DecapsulationKey768>);

impl std::fmt::Debug for KemSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KemSecret(..)")
    }
}

/// A fresh ML-KEM-768 key pair from [`KEM_KEYGEN_SEED_LEN`] bytes of `rng`: the secret and the
/// encapsulation key bytes ([`KEM_ENCAPSULATION_KEY_LEN`]).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn kem_keygen(rng: &mut Rng) -> (KemSecret, Vec<u8>) {
    let mut seed = ml_kem::Seed::default();
    rng.fill(&mut seed);
    let dk = ml_kem::DecapsulationKey768::from_seed(seed);
    let ek = dk.encapsulation_key().to_bytes().to_vec();
    (KemSecret(Box::new(dk)), ek)
}

/// Encapsulates to `encapsulation_key` with [`KEM_ENCAPS_SEED_LEN`] bytes of `rng`: the
/// ciphertext ([`KEM_CIPHERTEXT_LEN`] bytes) and the shared secret. `None` if the key has the
/// wrong length or fails the FIPS 203 modulus check.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn kem_encapsulate(encapsulation_key: &[u8], rng: &mut Rng) -> Option<(Vec<u8>, [u8; 32])> {
    let key = ml_kem::kem::Key::<ml_kem::EncapsulationKey768>::try_from(encapsulation_key).ok()?;
    let ek = ml_kem::EncapsulationKey768::new(&key).ok()?;
    let mut m = ml_kem::B32::default();
    rng.fill(&mut m);
    let (ct, ss) = ek.encapsulate_deterministic(&m);
    Some((ct.to_vec(), ss.into()))
}

/// Decapsulates `ciphertext` (FIPS 203: a wrong ciphertext yields an unrelated secret, never
/// an error). `None` if the ciphertext has the wrong length.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn kem_decapsulate(secret: &KemSecret, ciphertext: &[u8]) -> Option<[u8; 32]> {
    let ct = ml_kem::Ciphertext::<ml_kem::MlKem768>::try_from(ciphertext).ok()?;
    Some(secret.0.decapsulate(&ct).into())
}

/// The two direction keys of a session.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct SessionKeys {
    /// Seals what we send.
    pub send: [u8; KEY_LEN],
    /// Opens what we receive.
    pub recv: [u8; KEY_LEN],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

impl SessionKeys {
    /// The keys for `role` from the KEM shared secret and the transcript hash.
    pub(crate) fn derive(shared_secret: &[u8; 32], transcript_hash: &[u8; 32], role: Role) -> SessionKeys {
        let hk = Hkdf::<Sha256>::new(Some(transcript_hash), shared_secret);
        let mut i2r = [0u8; KEY_LEN];
        let mut r2i = [0u8; KEY_LEN];
        // 32 bytes is far below HKDF-SHA-256's 8160-byte output limit: expand cannot fail.
        let a = hk.expand(LABEL_INITIATOR_TO_RESPONDER, &mut i2r);
        let b = hk.expand(LABEL_RESPONDER_TO_INITIATOR, &mut r2i);
        debug_assert!(a.is_ok() && b.is_ok());
        match role {
            Role::Initiator => SessionKeys {
                send: i2r,
                recv: r2i,
            },
            Role::Responder => SessionKeys {
                send: r2i,
                recv: i2r,
            },
        }
    }

    /// A sealer and an opener over these keys.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn split(&self, limits: RekeyLimits) -> (Sealer, Opener) {
        (
            Sealer(Direction::new(self.send, limits)),
            Opener(Direction::new(self.recv, limits)),
        )
    }
}

/// The next key of a direction.
fn next_key(key: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    // A 32-byte PRK is exactly HashLen: from_prk accepts it, and a 32-byte expand cannot fail.
    if let Ok(hk) = Hkdf::<Sha256>::from_prk(key) {
        let r = hk.expand(LABEL_REKEY, &mut out);
        debug_assert!(r.is_ok());
    }
    out
}

/// One direction's key, counter and rekey bookkeeping.
#[derive(Clone)]
struct Direction {
    key: [u8; KEY_LEN],
    cipher: ChaCha20Poly1305,
    counter: u64,
    frames_under_key: u64,
    bytes_under_key: u64,
    rekeys: u64,
    limits: RekeyLimits,
    failed: bool,
}

impl std::fmt::Debug for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direction")
            .field("counter", &self.counter)
            .field("rekeys", &self.rekeys)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Direction {
    fn new(key: [u8; KEY_LEN], limits: RekeyLimits) -> Direction {
        Direction {
            cipher: ChaCha20Poly1305::new(&key.into()),
            key,
            counter: 0,
            frames_under_key: 0,
            bytes_under_key: 0,
            rekeys: 0,
            limits,
            failed: false,
        }
    }

    fn nonce(&self) -> chacha20poly1305::Nonce {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.counter.to_le_bytes());
        n.into()
    }

    /// Counts one frame of `frame_len` bytes; rekeys at the limit.
    fn advance(&mut self, frame_len: usize) {
        self.counter += 1;
        self.frames_under_key += 1;
        self.bytes_under_key = self.bytes_under_key.saturating_add(frame_len as u64);
        if self.frames_under_key >= self.limits.frames.max(1)
            || self.bytes_under_key >= self.limits.bytes.max(1)
        {
            self.key = next_key(&self.key);
            self.cipher = ChaCha20Poly1305::new(&self.key.into());
            self.frames_under_key = 0;
            self.bytes_under_key = 0;
            self.rekeys += 1;
        }
    }
}

/// Seals our frames in one direction.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct Sealer(Direction);

impl Sealer {
    /// Seals `msg` as one frame (length prefix included).
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn seal_message(&mut self, msg: &Message) -> Result<Vec<u8>, ChannelError> {
        let plain = msg.encode().map_err(ChannelError::Wire)?;
        self.seal_frame(&plain)
    }

    /// Seals a plain frame (`length version type body`, as [`Message::encode`] makes it) into a
    /// sealed frame.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn seal_frame(&mut self, plain_frame: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let d = &mut self.0;
        if d.failed {
            return Err(ChannelError::Failed);
        }
        let plaintext = plain_frame.get(LENGTH_PREFIX_LEN..).unwrap_or_default();
        if plaintext.len() > MAX_SEALED_PLAINTEXT {
            return Err(ChannelError::TooLarge {
                len: plaintext.len(),
                max: MAX_SEALED_PLAINTEXT,
            });
        }
        if d.counter == u64::MAX {
            d.failed = true;
            return Err(ChannelError::CounterExhausted);
        }
        let len = (plaintext.len() + TAG_LEN) as u32;
        let mut out = Vec::with_capacity(LENGTH_PREFIX_LEN + len as usize);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(plaintext);
        let aad = len.to_be_bytes();
        let tag = d
            .cipher
            .encrypt_inout_detached(&d.nonce(), &aad, (&mut out[LENGTH_PREFIX_LEN..]).into())
            .map_err(|_| ChannelError::TooLarge {
                len: plaintext.len(),
                max: MAX_SEALED_PLAINTEXT,
            })?;
        out.extend_from_slice(&tag);
        d.advance(out.len());
        Ok(out)
    }

    /// Frames sealed so far (the counter of the next frame).
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn counter(&self) -> u64 {
        self.0.counter
    }

    /// Times the key was replaced.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn rekeys(&self) -> u64 {
        self.0.rekeys
    }
}

/// Opens the peer's frames in one direction.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct Opener(Direction);

impl Opener {
    /// Opens a sealed frame's payload (everything after the length prefix) and decodes the
    /// message inside. After any error every later call fails with [`ChannelError::Failed`].
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn open(&mut self, payload: &[u8]) -> Result<Message, ChannelError> {
        let plain = self.open_raw(payload)?;
        Message::decode_payload(&plain).map_err(|e| {
            self.0.failed = true;
            ChannelError::Wire(e)
        })
    }

    /// Opens a sealed frame's payload and returns the plaintext (`version type body`) without
    /// decoding it.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn open_raw(&mut self, payload: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let d = &mut self.0;
        if d.failed {
            return Err(ChannelError::Failed);
        }
        if payload.len() < 2 + TAG_LEN || payload.len() > MAX_FRAME_LEN {
            d.failed = true;
            return Err(ChannelError::TooShort(payload.len()));
        }
        if d.counter == u64::MAX {
            d.failed = true;
            return Err(ChannelError::CounterExhausted);
        }
        let (ct, tag) = payload.split_at(payload.len() - TAG_LEN);
        let aad = (payload.len() as u32).to_be_bytes();
        let mut buf = ct.to_vec();
        let tag = chacha20poly1305::Tag::try_from(tag)
            .map_err(|_| ChannelError::Open { counter: d.counter })?;
        if d.cipher
            .decrypt_inout_detached(&d.nonce(), &aad, buf.as_mut_slice().into(), &tag)
            .is_err()
        {
            d.failed = true;
            return Err(ChannelError::Open { counter: d.counter });
        }
        d.advance(LENGTH_PREFIX_LEN + payload.len());
        Ok(buf)
    }

    /// Frames opened so far (the counter expected next).
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn counter(&self) -> u64 {
        self.0.counter
    }

    /// A sealer in the state of the peer's: it seals exactly the frames this opener expects
    /// next (same key, counter and rekey bookkeeping). For harnesses that play the peer's part
    /// (simulators, benchmarks, fuzzers); an opener that failed gives a sealer that still seals.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    pub(crate) fn peer_sealer(&self) -> Sealer {
        let mut d = self.0.clone();
        d.failed = false;
        Sealer(d)
    }

    /// Times the key was replaced.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn rekeys(&self) -> u64 {
        self.0.rekeys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{App, Ping};
    use serde_bytes::ByteBuf;

    fn pair(limits: RekeyLimits) -> ((Sealer, Opener), (Sealer, Opener)) {
        let mut rng = Rng::from_seed([3; 32]);
        let (dk, ek) = kem_keygen(&mut rng);
        assert_eq!(ek.len(), KEM_ENCAPSULATION_KEY_LEN);
        let (ct, ss_r) = kem_encapsulate(&ek, &mut rng).unwrap();
        assert_eq!(ct.len(), KEM_CIPHERTEXT_LEN);
        let ss_i = kem_decapsulate(&dk, &ct).unwrap();
        assert_eq!(ss_i, ss_r);
        let th = [5u8; 32];
        let i = SessionKeys::derive(&ss_i, &th, Role::Initiator);
        let r = SessionKeys::derive(&ss_r, &th, Role::Responder);
        assert_eq!(i.send, r.recv);
        assert_eq!(i.recv, r.send);
        assert_ne!(i.send, i.recv);
        (i.split(limits), r.split(limits))
    }

    fn app(n: u8) -> Message {
        Message::App(App {
            payload: ByteBuf::from(vec![n; 40]),
        })
    }

    #[test]
    fn seal_open_round_trip_and_layout() {
        let ((mut s, _), (_, mut o)) = pair(RekeyLimits::default());
        let msg = app(7);
        let plain = msg.encode().unwrap();
        let sealed = s.seal_message(&msg).unwrap();
        assert_eq!(sealed.len(), plain.len() + TAG_LEN);
        let len = u32::from_be_bytes(sealed[..4].try_into().unwrap()) as usize;
        assert_eq!(len, sealed.len() - 4);
        assert!(!sealed.windows(40).any(|w| w == [7u8; 40]));
        assert_eq!(o.open(&sealed[4..]).unwrap(), msg);
        assert_eq!((s.counter(), o.counter()), (1, 1));
    }

    #[test]
    fn tamper_truncate_reorder_replay_fail() {
        let ((mut s, _), (_, o)) = pair(RekeyLimits::default());
        let f0 = s.seal_message(&app(0)).unwrap();
        let f1 = s.seal_message(&app(1)).unwrap();
        // Tampered: every byte position.
        for i in 4..f0.len() {
            let mut o = o.clone();
            let mut t = f0.clone();
            t[i] ^= 1;
            assert_eq!(o.open(&t[4..]), Err(ChannelError::Open { counter: 0 }));
            assert_eq!(o.open(&f0[4..]), Err(ChannelError::Failed), "stays failed");
        }
        // Truncated.
        let mut o1 = o.clone();
        assert!(o1.open(&f0[4..f0.len() - 1]).is_err());
        let mut o1 = o.clone();
        assert_eq!(o1.open(&f0[4..10]), Err(ChannelError::TooShort(6)));
        // Reordered.
        let mut o1 = o.clone();
        assert_eq!(o1.open(&f1[4..]), Err(ChannelError::Open { counter: 0 }));
        // Replayed.
        let mut o1 = o.clone();
        o1.open(&f0[4..]).unwrap();
        assert_eq!(o1.open(&f0[4..]), Err(ChannelError::Open { counter: 1 }));
        // The wrong direction's key.
        let ((_, mut own), _) = pair(RekeyLimits::default());
        assert!(own.open(&f0[4..]).is_err());
    }

    #[test]
    fn rekey_exactly_at_frame_limit() {
        let limits = RekeyLimits {
            frames: 3,
            bytes: u64::MAX,
        };
        let ((mut s, mut o_i), (mut s_r, mut o)) = pair(limits);
        // A reference opener that never rekeys proves the key really changes at frame 3.
        let ((_, _), (_, mut never)) = pair(RekeyLimits {
            frames: u64::MAX,
            bytes: u64::MAX,
        });
        for n in 0..3u8 {
            let f = s.seal_message(&app(n)).unwrap();
            assert_eq!(never.open(&f[4..]).unwrap(), app(n));
            assert_eq!(o.open(&f[4..]).unwrap(), app(n));
        }
        assert_eq!(
            (s.rekeys(), o.rekeys()),
            (1, 1),
            "rekeyed at exactly 3 frames"
        );
        let f = s.seal_message(&app(3)).unwrap();
        assert!(never.open(&f[4..]).is_err(), "frame 4 is under a new key");
        assert_eq!(o.open(&f[4..]).unwrap(), app(3));
        for n in 4..10u8 {
            let f = s.seal_message(&app(n)).unwrap();
            assert_eq!(o.open(&f[4..]).unwrap(), app(n));
            let back = s_r
                .seal_message(&Message::Ping(Ping { nonce: n as u64 }))
                .unwrap();
            assert_eq!(
                o_i.open(&back[4..]).unwrap(),
                Message::Ping(Ping { nonce: n as u64 })
            );
        }
        assert_eq!(s.rekeys(), 3);
        assert_eq!(o_i.rekeys(), 2, "6 frames the other way");
    }

    #[test]
    fn rekey_exactly_at_byte_limit() {
        let msg = app(1);
        let frame_len = msg.encode().unwrap().len() + TAG_LEN;
        let limits = RekeyLimits {
            frames: u64::MAX,
            bytes: 2 * frame_len as u64,
        };
        let ((mut s, _), (_, mut o)) = pair(limits);
        s.seal_message(&msg).unwrap();
        assert_eq!(s.rekeys(), 0, "one byte short of the limit");
        let f = s.seal_message(&msg).unwrap();
        assert_eq!(s.rekeys(), 1, "exactly at the limit");
        let _ = f;
        // The opener counts the same bytes.
        let ((mut s2, _), (_, _)) = pair(limits);
        for _ in 0..5 {
            let f = s2.seal_message(&msg).unwrap();
            o.open(&f[4..]).unwrap();
        }
        assert_eq!(o.rekeys(), 2);
    }

    #[test]
    fn size_limit_exact() {
        let ((mut s, _), (_, mut o)) = pair(RekeyLimits::default());
        let mut plain = vec![0u8; LENGTH_PREFIX_LEN];
        plain.extend_from_slice(&[1, 0x10]);
        plain.resize(LENGTH_PREFIX_LEN + MAX_SEALED_PLAINTEXT, 0);
        let sealed = s.seal_frame(&plain).unwrap();
        assert_eq!(sealed.len(), LENGTH_PREFIX_LEN + MAX_FRAME_LEN);
        assert_eq!(
            o.open_raw(&sealed[4..]).unwrap().len(),
            MAX_SEALED_PLAINTEXT
        );
        plain.push(0);
        assert!(matches!(
            s.seal_frame(&plain),
            Err(ChannelError::TooLarge { .. })
        ));
    }

    #[test]
    fn bad_kem_inputs_refused() {
        let mut rng = Rng::from_seed([1; 32]);
        assert!(kem_encapsulate(&[0u8; 10], &mut rng).is_none());
        // Coefficients of 0xfff exceed q = 3329: the FIPS 203 modulus check refuses the key.
        assert!(kem_encapsulate(&[0xff; KEM_ENCAPSULATION_KEY_LEN], &mut rng).is_none());
        let (dk, _) = kem_keygen(&mut rng);
        assert!(kem_decapsulate(&dk, &[0u8; 5]).is_none());
        assert!(kem_decapsulate(&dk, &[0u8; KEM_CIPHERTEXT_LEN]).is_some());
    }

    #[test]
    fn same_seed_same_bytes() {
        let run = || {
            let ((mut s, _), _) = pair(RekeyLimits::default());
            s.seal_message(&app(9)).unwrap()
        };
        assert_eq!(run(), run());
    }
}
