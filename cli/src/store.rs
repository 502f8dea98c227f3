//! The peer database: the core's [`DurableState`] (known addresses, reputation records with
//! their time, bans with expiry) in a [redb](https://docs.rs/redb) file, `peers.redb` in the
//! data directory.
//!
//! Why redb: pure Rust (no C toolchain, nothing to link, cross-compiles as the rest of the
//! workspace does), ACID with copy-on-write B-trees and a checksummed commit slot, so a
//! `kill -9` or a power cut at any moment leaves the last committed transaction intact;
//! commits are durable (`fsync`) when `commit` returns. The data is a few thousand small
//! records written as one transaction: no SQL is needed.
//!
//! Layout (schema version [`SCHEMA_VERSION`]): table `meta` (`schema_version`, `saved_at`),
//! and tables `addresses`, `reputation`, `bans`, each keyed by the record's natural key with
//! the record as JSON. Every save replaces the three tables in one write transaction.
//!
//! A file redb cannot open, a record that does not decode, or a schema version newer than
//! this build is never wiped and never a panic: the file is renamed to
//! `peers.redb.corrupt-<unix seconds>` (or `.newer-…`), the reason is logged, and the node
//! starts with an empty database.

use qudag_peer::DurableState;
use redb::{Database, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

/// The layout version this build writes and reads.
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const ADDRESSES: TableDefinition<&str, &[u8]> = TableDefinition::new("addresses");
const REPUTATION: TableDefinition<&str, &[u8]> = TableDefinition::new("reputation");
const BANS: TableDefinition<&str, &[u8]> = TableDefinition::new("bans");

/// How many names [`Store::open`] tries for a file it moves aside
/// (`peers.redb.corrupt-<secs>`, then `…-<secs>-1` up to `…-<secs>-<N-1>`) before giving up
/// rather than overwrite an earlier one.
pub const MAX_ASIDE_NAMES: u32 = 100;

/// A name to move `path` aside to that no file has yet: an earlier moved-aside file (a
/// second corruption within the same second, say) is never overwritten.
fn aside_path(path: &Path, suffix: &str, secs: u64) -> Option<PathBuf> {
    (0..MAX_ASIDE_NAMES)
        .map(|n| match n {
            0 => PathBuf::from(format!("{}.{suffix}-{secs}", path.display())),
            n => PathBuf::from(format!("{}.{suffix}-{secs}-{n}", path.display())),
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
}

/// Runs `f`, turning a panic into `Err` with its message and keeping the panic message off
/// stderr (the caller reports it). Meant for the single-threaded start-up: the panic hook is
/// process-wide while `f` runs.
fn without_panicking<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// An open peer database.
pub struct Store {
    db: Database,
    path: PathBuf,
}

/// What opening found.
pub struct Opened {
    /// The database, ready for saves.
    pub store: Store,
    /// The saved state, if there was any.
    pub state: Option<DurableState>,
    /// A file that was moved aside, and why.
    pub moved_aside: Option<(PathBuf, String)>,
}

/// Why the database could not be opened at all, or a save failed: one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

enum Bad {
    /// Unusable: move aside with this suffix and reason.
    Aside(&'static str, String),
    /// Cannot proceed (e.g. the file is locked by another process).
    Fatal(String),
}

impl Store {
    /// Opens (or creates) the database at `path` and reads the saved state. A corrupt or
    /// newer-version file is moved aside and reported in [`Opened::moved_aside`].
    pub fn open(path: &Path) -> Result<Opened, StoreError> {
        Self::open_at(path, crate::util::unix_now_ms() / 1000)
    }

    /// [`Store::open`] with the time (Unix seconds) used to name a moved-aside file.
    fn open_at(path: &Path, secs: u64) -> Result<Opened, StoreError> {
        // redb asserts on some damaged files instead of returning an error (a truncated file:
        // `storage.raw_file_len()? >= header.layout().len()`): that is a corrupt database too,
        // never a crash of the node.
        let attempt = without_panicking(|| Self::try_open(path)).unwrap_or_else(|panic| {
            Err(Bad::Aside(
                "corrupt",
                format!("the database library failed on it: {panic}"),
            ))
        });
        match attempt {
            Ok((store, state)) => Ok(Opened {
                store,
                state,
                moved_aside: None,
            }),
            Err(Bad::Fatal(why)) => Err(StoreError(why)),
            Err(Bad::Aside(suffix, why)) => {
                let aside = aside_path(path, suffix, secs)
                    .ok_or_else(|| {
                        StoreError(format!(
                            "peer database {} is unusable ({why}) and there is no free name to move it aside to (remove old {}.{suffix}-* files)",
                            path.display(),
                            path.display()
                        ))
                    })?;
                std::fs::rename(path, &aside).map_err(|e| {
                    StoreError(format!(
                        "peer database {} is unusable ({why}) and could not be moved aside to {}: {e}",
                        path.display(),
                        aside.display()
                    ))
                })?;
                let (store, _) = Self::try_open(path).map_err(|b| {
                    StoreError(match b {
                        Bad::Aside(_, w) | Bad::Fatal(w) => {
                            format!("cannot create a new peer database {}: {w}", path.display())
                        }
                    })
                })?;
                Ok(Opened {
                    store,
                    state: None,
                    moved_aside: Some((aside, why)),
                })
            }
        }
    }

    fn try_open(path: &Path) -> Result<(Store, Option<DurableState>), Bad> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Bad::Fatal(format!(
                "peer database {} is in use by another process (is a node already running for this data dir?)",
                path.display()
            )),
            redb::DatabaseError::UpgradeRequired(v) => Bad::Aside(
                "newer",
                format!("written in redb file format {v}, which this build does not read"),
            ),
            redb::DatabaseError::Storage(redb::StorageError::Io(io))
                if io.kind() != std::io::ErrorKind::InvalidData
                    && io.kind() != std::io::ErrorKind::UnexpectedEof =>
            {
                Bad::Fatal(format!("cannot open peer database {}: {io}", path.display()))
            }
            other => Bad::Aside("corrupt", other.to_string()),
        })?;
        let store = Store {
            db,
            path: path.to_path_buf(),
        };
        let state = store.read()?;
        Ok((store, state))
    }

    /// The saved state, `None` for a new database.
    fn read(&self) -> Result<Option<DurableState>, Bad> {
        let corrupt = |e: &dyn std::fmt::Display| Bad::Aside("corrupt", e.to_string());
        let tx = self.db.begin_read().map_err(|e| corrupt(&e))?;
        let meta = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(corrupt(&e)),
        };
        let version = meta
            .get("schema_version")
            .map_err(|e| corrupt(&e))?
            .map(|v| v.value());
        let Some(version) = version else {
            return Ok(None);
        };
        if version > SCHEMA_VERSION {
            return Err(Bad::Aside(
                "newer",
                format!(
                    "schema version {version} is newer than this build's {SCHEMA_VERSION} (written by a newer qudag)"
                ),
            ));
        }
        let saved_at = meta
            .get("saved_at")
            .map_err(|e| corrupt(&e))?
            .map_or(0, |v| v.value());
        let mut doc = serde_json::Map::new();
        doc.insert("saved_at".into(), saved_at.into());
        for (name, def) in [
            ("addresses", ADDRESSES),
            ("reputation", REPUTATION),
            ("bans", BANS),
        ] {
            let mut rows = Vec::new();
            match tx.open_table(def) {
                Ok(t) => {
                    for row in t.iter().map_err(|e| corrupt(&e))? {
                        let (k, v) = row.map_err(|e| corrupt(&e))?;
                        let value: serde_json::Value = serde_json::from_slice(v.value())
                            .map_err(|e| corrupt(&format!("{name} record {:?}: {e}", k.value())))?;
                        rows.push(value);
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(corrupt(&e)),
            }
            doc.insert(name.into(), serde_json::Value::Array(rows));
        }
        serde_json::from_value(serde_json::Value::Object(doc))
            .map(Some)
            .map_err(|e| corrupt(&format!("records do not decode: {e}")))
    }

    /// Replaces the saved state with `state` in one durable transaction.
    pub fn save(&self, state: &DurableState) -> Result<(), StoreError> {
        let err = |e: &dyn std::fmt::Display| {
            StoreError(format!(
                "cannot write peer database {}: {e}",
                self.path.display()
            ))
        };
        let tx = self.db.begin_write().map_err(|e| err(&e))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| err(&e))?;
            meta.insert("schema_version", SCHEMA_VERSION)
                .map_err(|e| err(&e))?;
            meta.insert("saved_at", state.saved_at.0)
                .map_err(|e| err(&e))?;
        }
        let to_rows = |items: Vec<(String, Vec<u8>)>| items;
        let addresses = to_rows(
            state
                .addresses
                .iter()
                .map(|e| Ok((e.addr.to_string(), serde_json::to_vec(e)?)))
                .collect::<Result<_, serde_json::Error>>()
                .map_err(|e| err(&e))?,
        );
        let reputation = to_rows(
            state
                .reputation
                .iter()
                .map(|r| Ok((r.node_id.to_hex(), serde_json::to_vec(r)?)))
                .collect::<Result<_, serde_json::Error>>()
                .map_err(|e| err(&e))?,
        );
        let bans = to_rows(
            state
                .bans
                .iter()
                .map(|b| Ok((b.target.to_string(), serde_json::to_vec(b)?)))
                .collect::<Result<_, serde_json::Error>>()
                .map_err(|e| err(&e))?,
        );
        for (def, rows) in [
            (ADDRESSES, addresses),
            (REPUTATION, reputation),
            (BANS, bans),
        ] {
            tx.delete_table(def).map_err(|e| err(&e))?;
            let mut t = tx.open_table(def).map_err(|e| err(&e))?;
            for (k, v) in rows {
                t.insert(k.as_str(), v.as_slice()).map_err(|e| err(&e))?;
            }
        }
        tx.commit().map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DurableState {
        serde_json::from_value(serde_json::json!({
            "saved_at": 1_760_000_000_000u64,
            "addresses": [],
            "reputation": [],
            "bans": [{
                "target": "10.0.0.0/8",
                "reason": "test",
                "origin": "operator",
                "created": 1_760_000_000_000u64,
                "expires": null
            }]
        }))
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.redb");
        let opened = Store::open(&path).unwrap();
        assert!(opened.state.is_none());
        opened.store.save(&sample()).unwrap();
        drop(opened);
        let opened = Store::open(&path).unwrap();
        assert_eq!(opened.state.unwrap(), sample());
    }

    #[test]
    fn corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.redb");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let opened = Store::open(&path).unwrap();
        let (aside, why) = opened.moved_aside.expect("moved aside");
        assert!(aside.exists(), "{}", aside.display());
        assert!(!why.is_empty());
        assert!(opened.state.is_none());
    }

    #[test]
    fn an_earlier_moved_aside_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.redb");
        let first = aside_path(&path, "corrupt", 7).unwrap();
        assert_eq!(first, dir.path().join("peers.redb.corrupt-7"));
        std::fs::write(&first, b"earlier").unwrap();
        let second = aside_path(&path, "corrupt", 7).unwrap();
        assert_eq!(second, dir.path().join("peers.redb.corrupt-7-1"));
        // At the limit: every name taken, no name rather than an overwrite.
        for n in 1..MAX_ASIDE_NAMES {
            std::fs::write(dir.path().join(format!("peers.redb.corrupt-7-{n}")), b"x").unwrap();
        }
        assert_eq!(aside_path(&path, "corrupt", 7), None);
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        // Opening now fails clearly and keeps every file.
        let e = Store::open_at(&path, 7).err().expect("no free name");
        assert!(e.0.contains("no free name"), "{e}");
        assert_eq!(std::fs::read(&first).unwrap(), b"earlier");
        assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 8192]);
    }

    #[test]
    fn a_truncated_file_is_moved_aside_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.redb");
        let opened = Store::open(&path).unwrap();
        opened.store.save(&sample()).unwrap();
        drop(opened);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len / 2).unwrap();
        drop(f);
        let original = std::fs::read(&path).unwrap();
        let opened = Store::open(&path).unwrap();
        let (aside, why) = opened.moved_aside.expect("moved aside");
        assert!(why.contains("the database library failed"), "{why}");
        assert_eq!(std::fs::read(&aside).unwrap(), original);
        assert!(opened.state.is_none());
    }

    #[test]
    fn newer_schema_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.redb");
        {
            let db = Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(META)
                .unwrap()
                .insert("schema_version", SCHEMA_VERSION + 1)
                .unwrap();
            tx.commit().unwrap();
        }
        let opened = Store::open(&path).unwrap();
        let (aside, why) = opened.moved_aside.expect("moved aside");
        assert!(why.contains("newer"), "{why}");
        assert!(aside.to_string_lossy().contains(".newer-"));
    }
}
