//! The control API: JSON lines over a Unix domain socket in the data directory
//! (`control.sock`, mode 0600). One request per connection:
//!
//! ```text
//! → {"version":1,"command":"peer_add","address":"127.0.0.1:8001","priority":"normal"}
//! ← {"version":1,"ok":true,"result":{"peer_id":"…","address":"127.0.0.1:8001"}}
//! ← {"version":1,"ok":false,"error":"cannot add 127.0.0.1:8001: connect failed: refused"}
//! ```
//!
//! The node answers a request of another `version` with an error naming both versions. It
//! checks the connecting process's uid with `SO_PEERCRED` and refuses every uid but its own
//! (the socket's 0600 mode already keeps other users out; the check also covers a socket
//! whose mode was loosened). Nothing listens on a network address for control.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The protocol version of requests and responses.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line the node reads.
pub const MAX_REQUEST_LEN: u64 = 64 * 1024;

/// A request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// What to do.
    #[serde(flatten)]
    pub command: Command,
}

/// What a request asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Node id, listen address, counts, uptime.
    Status,
    /// Every live connection (`render::PeerView`s).
    PeerList,
    /// The ban list (`render::BanView`s).
    BanList,
    /// The address book (`render::KnownView`s).
    KnownList,
    /// Dial and wait for the handshake.
    PeerAdd {
        /// Any address format of spec 3.2.
        address: String,
        /// `high`, `normal`, `low`.
        priority: qudag_peer::Priority,
    },
    /// Graceful disconnect, optionally banning.
    PeerRemove {
        /// Node id, id prefix or address.
        target: String,
        /// Ban too.
        ban: bool,
    },
    /// Ban a node id, IP or CIDR subnet.
    PeerBan {
        /// What.
        target: String,
        /// How long; `None` = permanently.
        duration_secs: Option<u64>,
        /// Why.
        reason: String,
    },
    /// Lift a ban.
    PeerUnban {
        /// What.
        target: String,
    },
    /// One peer in detail.
    PeerInfo {
        /// Node id, id prefix or address.
        target: String,
    },
    /// The core's metrics snapshot (`qudag_peer::MetricsSnapshot`).
    Stats,
    /// Shut the node down gracefully.
    Stop,
}

/// A response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Whether the command succeeded.
    pub ok: bool,
    /// The result when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// One line saying what went wrong when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    /// A success.
    pub fn ok(result: serde_json::Value) -> Response {
        Response {
            version: PROTOCOL_VERSION,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    /// A failure.
    pub fn err(message: impl Into<String>) -> Response {
        Response {
            version: PROTOCOL_VERSION,
            ok: false,
            result: None,
            error: Some(message.into()),
        }
    }
}

/// The control socket of a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(crate::util::SOCKET_FILE)
}

/// Sends one request and waits for the answer (at most `timeout`). `Err` is one line for
/// the operator.
pub fn call(data_dir: &Path, command: Command, timeout: Duration) -> Result<Response, Error> {
    let path = socket_path(data_dir);
    let not_running = || Error::NotRunning {
        data_dir: data_dir.to_path_buf(),
    };
    crate::util::check_socket_path(&path)?;
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) => {
            return Err(match e.kind() {
                _ if data_dir.is_file() => Error::Files(format!(
                    "data dir {} is not a directory",
                    data_dir.display()
                )),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    not_running()
                }
                // The socket cannot even be looked up: the directory keeps this user out.
                std::io::ErrorKind::PermissionDenied
                    if std::fs::symlink_metadata(&path).is_err() =>
                {
                    Error::Files(format!(
                        "permission denied on data dir {}: uid {} may not enter it",
                        data_dir.display(),
                        crate::util::euid()
                    ))
                }
                std::io::ErrorKind::PermissionDenied => Error::Control(format!(
                    "permission denied on control socket {}: the node runs as another user",
                    path.display()
                )),
                _ => Error::Control(format!(
                    "cannot connect to control socket {}: {e}",
                    path.display()
                )),
            });
        }
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut line = serde_json::to_string(&Request {
        version: PROTOCOL_VERSION,
        command,
    })
    .map_err(|e| Error::Control(e.to_string()))?;
    line.push('\n');
    let io_err = |e: std::io::Error| {
        Error::Control(match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("the node did not answer within {} s", timeout.as_secs())
            }
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                "the node closed the control connection".to_string()
            }
            _ => format!("control socket {}: {e}", path.display()),
        })
    };
    // The node may answer (a refusal) and close before reading the request: read the answer
    // even when the write failed.
    let written = stream.write_all(line.as_bytes());
    let mut answer = String::new();
    let read = BufReader::new(&stream)
        .take(16 * 1024 * 1024)
        .read_line(&mut answer);
    if answer.trim().is_empty() {
        written.map_err(io_err)?;
        read.map_err(io_err)?;
        return Err(Error::Control(
            "the node closed the control connection without answering".into(),
        ));
    }
    let response: Response = serde_json::from_str(&answer).map_err(|e| {
        Error::Control(format!(
            "the node sent an answer this client does not understand: {e}"
        ))
    })?;
    if response.version != PROTOCOL_VERSION {
        return Err(Error::Control(format!(
            "the node speaks control protocol version {}, this client {PROTOCOL_VERSION}: use the same qudag build",
            response.version
        )));
    }
    Ok(response)
}

use std::io::Read as _;
