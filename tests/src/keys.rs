//! Dilithium3 identities for tests and simulations.
//!
//! Key generation draws from the OS (PQClean's `randombytes`), so it cannot be seeded. To keep
//! runs reproducible, identity `i` is generated once and cached on disk under
//! `target/qudag-key-pool/` (one file per index, public key then secret key), and in memory for
//! the process. A run replayed on the same machine (or with the same cache directory, which can
//! be copied) uses the same keys; `QUDAG_KEY_POOL` overrides the directory.
//!
//! The first [`COMMITTED_KEYS`] identities are not generated at all: they are read from
//! `tests/data/sim-keys.bin` (committed), so small simulations are byte-for-byte the same on
//! every machine and their trace hashes can be pinned (`sim-random-seeds.rs`).

use pqcrypto_dilithium::dilithium3;
use pqcrypto_traits::sign::{PublicKey as _, SecretKey as _};
use qudag_peer::Identity;
use qudag_peer::{PUBLIC_KEY_LEN, SECRET_KEY_LEN};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// How many identities `tests/data/sim-keys.bin` holds (public key then secret key each).
pub const COMMITTED_KEYS: u64 = 32;

static COMMITTED: &[u8] = include_bytes!("../data/sim-keys.bin");

/// Committed identity `i` (`i < COMMITTED_KEYS`).
fn committed(i: u64) -> Identity {
    let len = PUBLIC_KEY_LEN + SECRET_KEY_LEN;
    let at = usize::try_from(i).expect("a small index") * len;
    let b = &COMMITTED[at..at + len];
    Identity::from_bytes(&b[..PUBLIC_KEY_LEN], &b[PUBLIC_KEY_LEN..])
        .expect("the committed keys are valid key pairs")
}

fn pool_dir() -> PathBuf {
    if let Ok(d) = std::env::var("QUDAG_KEY_POOL") {
        return PathBuf::from(d);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/qudag-key-pool")
}

fn memo() -> &'static Mutex<BTreeMap<u64, Identity>> {
    static M: OnceLock<Mutex<BTreeMap<u64, Identity>>> = OnceLock::new();
    M.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// A fresh identity, not from the pool (different every call).
pub fn fresh_identity() -> Identity {
    let (pk, sk) = dilithium3::keypair();
    Identity::from_bytes(pk.as_bytes(), sk.as_bytes()).expect("a generated key pair is consistent")
}

/// Identity number `i`: committed for `i < COMMITTED_KEYS`, else from the pool (the same for
/// every call on this machine).
pub fn identity(i: u64) -> Identity {
    let mut m = memo().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(id) = m.get(&i) {
        return id.clone();
    }
    if i < COMMITTED_KEYS {
        let id = committed(i);
        m.insert(i, id.clone());
        return id;
    }
    let path = pool_dir().join(format!("key-{i}.bin"));
    let from_disk = std::fs::read(&path).ok().and_then(|b| {
        if b.len() != PUBLIC_KEY_LEN + SECRET_KEY_LEN {
            return None;
        }
        Identity::from_bytes(&b[..PUBLIC_KEY_LEN], &b[PUBLIC_KEY_LEN..]).ok()
    });
    let id = match from_disk {
        Some(id) => id,
        None => {
            let id = fresh_identity();
            let mut bytes = id.public_key().to_vec();
            bytes.extend_from_slice(id.secret_key());
            // Best effort: a read-only target dir only costs reproducibility across processes.
            if std::fs::create_dir_all(pool_dir()).is_ok() {
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                if std::fs::write(&tmp, &bytes).is_ok() {
                    let _ = std::fs::rename(&tmp, &path);
                }
            }
            id
        }
    };
    m.insert(i, id.clone());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_keys_are_all_there_and_distinct() {
        let len = (PUBLIC_KEY_LEN + SECRET_KEY_LEN) as u64;
        assert_eq!(COMMITTED.len() as u64, COMMITTED_KEYS * len);
        let ids: std::collections::BTreeSet<_> =
            (0..COMMITTED_KEYS).map(|i| identity(i).node_id()).collect();
        assert_eq!(ids.len() as u64, COMMITTED_KEYS);
    }
}
