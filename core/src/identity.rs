//! Node identities: dilithium3 key pairs and the [`NodeId`] derived from the public key.
//!
//! Key generation needs the OS random generator, so it never happens in the core: the CLI or
//! the test harness generates a key pair (`pqcrypto_dilithium::dilithium3::keypair`) and hands
//! the bytes in with [`Identity::from_bytes`]. Signing with dilithium3 (PQClean, round 3) is
//! deterministic, so the core stays reproducible.

use crate::id::NodeId;
use pqcrypto_dilithium::dilithium3;
use pqcrypto_traits::sign::{DetachedSignature as _, PublicKey as _, SecretKey as _};
use sha2::{Digest, Sha256};

pub use crate::wire::PUBLIC_KEY_LEN;
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub use crate::wire::SIGNATURE_LEN;
/// Length of a dilithium3 secret key in bytes.
pub const SECRET_KEY_LEN: usize = 4032;

// The codec owns the sizes it checks; they must be dilithium3's.
const _: () = assert!(PUBLIC_KEY_LEN == dilithium3::public_key_bytes());
const _: () = assert!(SIGNATURE_LEN == dilithium3::signature_bytes());
const _: () = assert!(SECRET_KEY_LEN == dilithium3::secret_key_bytes());

/// Domain separator hashed in front of the public key to form a [`NodeId`].
pub(crate) const NODE_ID_DOMAIN: &[u8] = b"qudag-peer/node-id/v1";

/// Why key bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A public key of the wrong length.
    #[error("a dilithium3 public key is {PUBLIC_KEY_LEN} bytes, got {0}")]
    PublicKeyLength(usize),
    /// A secret key of the wrong length.
    #[error("a dilithium3 secret key is {SECRET_KEY_LEN} bytes, got {0}")]
    SecretKeyLength(usize),
    /// The secret key does not belong to the public key.
    #[error("the secret key does not match the public key")]
    Mismatch,
}

/// A node's signing identity. Cloning copies the secret key; keep clones to a minimum.
#[derive(Clone)]
pub struct Identity {
    public: dilithium3::PublicKey,
    secret: dilithium3::SecretKey,
    node_id: NodeId,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Builds an identity from key bytes produced elsewhere, checking that they belong together.
    pub fn from_bytes(public: &[u8], secret: &[u8]) -> Result<Identity, IdentityError> {
        let pk = dilithium3::PublicKey::from_bytes(public)
            .map_err(|_| IdentityError::PublicKeyLength(public.len()))?;
        let sk = dilithium3::SecretKey::from_bytes(secret)
            .map_err(|_| IdentityError::SecretKeyLength(secret.len()))?;
        let id = Identity {
            node_id: node_id_of(public),
            public: pk,
            secret: sk,
        };
        let probe = id.sign(b"qudag-peer/identity-check");
        if !verify(public, b"qudag-peer/identity-check", &probe) {
            return Err(IdentityError::Mismatch);
        }
        Ok(id)
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The public key bytes.
    pub fn public_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    /// The secret key bytes (for storing the identity).
    pub fn secret_key(&self) -> &[u8] {
        self.secret.as_bytes()
    }

    /// A detached signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        dilithium3::detached_sign(msg, &self.secret)
            .as_bytes()
            .to_vec()
    }
}

/// The [`NodeId`] of a public key: SHA-256(`NODE_ID_DOMAIN` || public key).
pub(crate) fn node_id_of(public_key: &[u8]) -> NodeId {
    let mut h = Sha256::new();
    h.update(NODE_ID_DOMAIN);
    h.update(public_key);
    NodeId(h.finalize().into())
}

/// Checks a detached dilithium3 signature. Malformed keys or signatures are simply invalid.
pub(crate) fn verify(public_key: &[u8], msg: &[u8], signature: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (
        dilithium3::PublicKey::from_bytes(public_key),
        dilithium3::DetachedSignature::from_bytes(signature),
    ) else {
        return false;
    };
    dilithium3::verify_detached_signature(&sig, msg, &pk).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_library() {
        assert_eq!(dilithium3::public_key_bytes(), PUBLIC_KEY_LEN);
        assert_eq!(dilithium3::secret_key_bytes(), SECRET_KEY_LEN);
        assert_eq!(dilithium3::signature_bytes(), SIGNATURE_LEN);
    }

    #[test]
    fn sign_verify_and_mismatch() {
        let (pk, sk) = dilithium3::keypair();
        let (pk2, _) = dilithium3::keypair();
        let id = Identity::from_bytes(pk.as_bytes(), sk.as_bytes()).unwrap();
        let sig = id.sign(b"hello");
        assert_eq!(sig, id.sign(b"hello"), "signing is deterministic");
        assert!(verify(id.public_key(), b"hello", &sig));
        assert!(!verify(id.public_key(), b"hellO", &sig));
        assert!(!verify(pk2.as_bytes(), b"hello", &sig));
        assert!(!verify(&[1, 2, 3], b"hello", &sig));
        assert_eq!(
            Identity::from_bytes(pk2.as_bytes(), sk.as_bytes()).unwrap_err(),
            IdentityError::Mismatch
        );
        assert_eq!(id.node_id(), node_id_of(pk.as_bytes()));
    }
}
