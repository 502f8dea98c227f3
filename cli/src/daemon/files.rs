//! The node's files in its data directory: the directory itself and its permissions, the
//! configuration file (read once, in [`load_config`]), the identity key (`node.key`, mode
//! 0600) and a control socket left behind by a killed node. The peer database is
//! [`crate::store`].

use super::StartOptions;
use crate::error::Error;
use crate::util;
use pqcrypto_traits::sign::{PublicKey as _, SecretKey as _};
use qudag_peer::Config;
use qudag_peer::{Identity, PUBLIC_KEY_LEN, SECRET_KEY_LEN};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use tracing::{info, warn};

/// Creates the data directory (mode 0700) if needed; an existing one must be a directory
/// this user may read, write and search (checked here, so that the node does not fail half-way
/// or, worse, silently ignore a `config.toml` it cannot see).
pub fn ensure_data_dir(dir: &Path) -> Result<(), Error> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Files(format!("cannot create data dir {}: {e}", dir.display())))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            Error::Files(format!("cannot set permissions of {}: {e}", dir.display()))
        })?;
    } else if !dir.is_dir() {
        return Err(Error::Files(format!(
            "data dir {} is not a directory",
            dir.display()
        )));
    }
    check_access(dir)
}

/// Whether this process may read, write and search `dir` (effective ids, as `open` checks).
fn check_access(dir: &Path) -> Result<(), Error> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| Error::Files(format!("data dir {} contains a NUL byte", dir.display())))?;
    // SAFETY: `c` is a valid NUL-terminated path; faccessat only reads it.
    let rc = unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::R_OK | libc::W_OK | libc::X_OK,
            libc::AT_EACCESS,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::Files(format!(
            "data dir {} is not usable by uid {}: {e} (it must be readable, writable and searchable: check its owner and mode, or use another --data-dir)",
            dir.display(),
            util::euid()
        )));
    }
    Ok(())
}

/// A configuration file error as one line: the file, the line, the key and value, and what
/// is wrong (the core's own display names a generic `config.toml`).
fn config_error(path: &Path, text: &str, e: &qudag_peer::ConfigError) -> String {
    let mut s = format!("config file {}", path.display());
    if let Some(line) = e.line {
        s.push_str(&format!(" line {line}"));
    }
    s.push_str(": ");
    if let Some(key) = &e.key {
        s.push_str(key);
        if let Some(value) = &e.value {
            s.push_str(&format!(" = {value}"));
        }
        s.push_str(": ");
    }
    let message: Vec<&str> = e
        .message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut message = message.join("; ");
    // The core says "unknown key" for a table too: on a `[header]` line it is a section.
    let header = e
        .line
        .and_then(|l| text.lines().nth(l.saturating_sub(1)))
        .is_some_and(|l| l.trim_start().starts_with('['));
    if header {
        if let Some(rest) = message.strip_prefix("unknown key") {
            message = format!("unknown section{rest}");
        }
    }
    s.push_str(&message);
    s
}

/// The effective configuration: the file (`--config`, else `config.toml` in the data dir if
/// present, else the defaults), then the command-line overrides.
pub fn load_config(data_dir: &Path, opts: &StartOptions) -> Result<Config, Error> {
    let path = opts
        .config
        .clone()
        .or_else(|| Some(data_dir.join(util::CONFIG_FILE)).filter(|p| p.exists()));
    let (mut config, text) = match &path {
        Some(p) => read_config_file(p)?,
        None => (Config::default(), String::new()),
    };
    if let Some(listen) = opts.listen {
        config.network.listen = listen;
    }
    if let Some(quic) = opts.quic_listen {
        config.network.quic_listen = Some(quic);
    }
    if let Some(listen) = opts.metrics_listen {
        config.metrics.listen = listen;
        config.metrics.enabled = true;
    }
    if opts.no_metrics {
        config.metrics.enabled = false;
    }
    let defaults = Config::default();
    if !opts.bootstrap.is_empty() {
        config.network.peers.bootstrap_nodes = opts.bootstrap.clone();
    }
    // The core only warns about a bootstrap address it cannot parse and starts without it:
    // in the operator's own file that is an error, like any other bad value.
    for b in &config.network.peers.bootstrap_nodes {
        if let Err(e) = qudag_peer::PeerAddress::parse(b) {
            let at = path.as_ref().map_or_else(String::new, |p| {
                let quoted = [format!("\"{b}\""), format!("'{b}'")];
                match text
                    .lines()
                    .position(|l| quoted.iter().any(|q| l.contains(q.as_str())))
                {
                    Some(i) => format!("config file {} line {}: ", p.display(), i + 1),
                    None => format!("config file {}: ", p.display()),
                }
            });
            return Err(Error::Config(format!(
                "{at}network.peers.bootstrap_nodes: entry {b:?} is not a valid address: {e}"
            )));
        }
    }
    if opts.no_default_bootstrap {
        // The network's public entry points: the built-in bootstrap nodes and DNS seeds.
        config.network.peers.use_default_bootstrap = false;
        if config.network.peers.bootstrap_nodes == defaults.network.peers.bootstrap_nodes {
            config.network.peers.bootstrap_nodes.clear();
        }
        if config.network.peers.dns_seeds == defaults.network.peers.dns_seeds {
            config.network.peers.dns_seeds.clear();
        }
    }
    config
        .validate()
        .map_err(|e| Error::Config(format!("invalid configuration: {e}")))?;
    Ok(config)
}

/// Reads and parses the configuration file at `path`: the configuration and the file's text
/// (to point at a line later). The one place the file is read and parsed.
fn read_config_file(path: &Path) -> Result<(Config, String), Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read config file {}: {e}", path.display())))?;
    let config =
        Config::from_toml_str(&text).map_err(|e| Error::Config(config_error(path, &text, &e)))?;
    Ok((config, text))
}

/// Reads the identity key (public then secret key bytes), or creates one with mode 0600.
pub fn load_or_create_identity(data_dir: &Path) -> Result<Identity, Error> {
    let path = data_dir.join(util::KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            if bytes.len() != PUBLIC_KEY_LEN + SECRET_KEY_LEN {
                return Err(Error::Files(format!(
                    "identity key {} has {} bytes, expected {} (Dilithium3 public + secret key)",
                    path.display(),
                    bytes.len(),
                    PUBLIC_KEY_LEN + SECRET_KEY_LEN
                )));
            }
            if let Ok(meta) = std::fs::metadata(&path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    warn!(
                        "identity key {} is readable by others (mode {:o}); run: chmod 600 {}",
                        path.display(),
                        meta.permissions().mode() & 0o777,
                        path.display()
                    );
                }
            }
            Identity::from_bytes(&bytes[..PUBLIC_KEY_LEN], &bytes[PUBLIC_KEY_LEN..])
                .map_err(|e| Error::Files(format!("identity key {}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (pk, sk) = pqcrypto_dilithium::dilithium3::keypair();
            let mut bytes = pk.as_bytes().to_vec();
            bytes.extend_from_slice(sk.as_bytes());
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| {
                    Error::Files(format!(
                        "cannot create identity key {}: {e}",
                        path.display()
                    ))
                })?;
            use std::io::Write;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(|e| {
                    Error::Files(format!("cannot write identity key {}: {e}", path.display()))
                })?;
            let identity = Identity::from_bytes(pk.as_bytes(), sk.as_bytes())
                .map_err(|e| Error::Files(format!("new identity key: {e}")))?;
            info!(
                "created identity key {} (node id {})",
                path.display(),
                identity.node_id()
            );
            Ok(identity)
        }
        Err(e) => Err(Error::Files(format!(
            "cannot read identity key {}: {e}",
            path.display()
        ))),
    }
}

/// Makes way for the control socket `sock` of `data_dir`: a socket a live node answers on is
/// [`Error::AlreadyRunning`]; a socket left behind by a killed node is removed; anything else
/// under that name is an error and left alone.
pub fn remove_stale_socket(data_dir: &Path, sock: &Path) -> Result<(), Error> {
    let Ok(meta) = std::fs::symlink_metadata(sock) else {
        return Ok(());
    };
    if std::os::unix::net::UnixStream::connect(sock).is_ok() {
        return Err(Error::AlreadyRunning {
            data_dir: data_dir.to_path_buf(),
        });
    }
    // Only a socket left behind by a killed node is removed, never a file someone put
    // there under that name.
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_socket() {
        return Err(Error::Files(format!(
            "{} exists and is not a control socket; move it away (it is not removed)",
            sock.display()
        )));
    }
    std::fs::remove_file(sock).map_err(|e| {
        Error::Files(format!(
            "cannot remove stale control socket {}: {e}",
            sock.display()
        ))
    })
}
