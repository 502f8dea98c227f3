//! Dilithium3 identities for tests and simulations.
//!
//! Key generation draws from the OS (PQClean's `randombytes`), so it cannot be seeded. To keep
//! runs reproducible, identity `i` is generated once and cached on disk under
//! `target/qudag-key-pool/` (one file per index, public key then secret key), and in memory for
//! the process. A run replayed on the same machine (or with the same cache directory, which can
//! be copied) uses the same keys; `QUDAG_KEY_POOL` overrides the directory.

use pqcrypto_dilithium::dilithium3;
use pqcrypto_traits::sign::{PublicKey as _, SecretKey as _};
use qudag_peer::Identity;
use qudag_peer::{PUBLIC_KEY_LEN, SECRET_KEY_LEN};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

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

/// Identity number `i` of the pool: the same for every call on this machine.
pub fn identity(i: u64) -> Identity {
    let mut m = memo().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(id) = m.get(&i) {
        return id.clone();
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
