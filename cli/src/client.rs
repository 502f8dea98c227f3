//! The client commands: `qudag status`, `qudag stop` and `qudag peer …`. Each sends one
//! request over the control socket ([`crate::control::call`]), then prints the answer as a
//! table or text ([`crate::render`]) or as JSON (docs/CLI.md). A refusal by the node is
//! [`Error::Refused`] with the node's own line.

use crate::args::{Format, PeerCmd};
use crate::control::{self, Command};
use crate::error::{Error, Result};
use crate::render::{self, BanView, Filter, PeerView, StatusView, Style};
use crate::util;
use std::path::Path;
use std::time::Duration;

/// How long a client waits for most answers.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `peer add` waits (connect and handshake timeouts, DNS, with margin).
pub const ADD_TIMEOUT: Duration = Duration::from_secs(90);

/// `qudag stop`: asks the node to shut down gracefully.
pub fn stop(data_dir: &Path) -> Result<()> {
    request(data_dir, Command::Stop, CALL_TIMEOUT)?;
    util::out(&format!(
        "stopping the node for data dir {}\n",
        data_dir.display()
    ))
}

/// Sends a command; the result on success, the node's error line otherwise.
fn request(data_dir: &Path, command: Command, timeout: Duration) -> Result<serde_json::Value> {
    let r = control::call(data_dir, command, timeout)?;
    if r.ok {
        Ok(r.result.unwrap_or_default())
    } else {
        Err(Error::Refused(
            r.error
                .unwrap_or_else(|| "the node reported an error".into()),
        ))
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| {
        Error::Control(format!(
            "the node sent an answer this client does not understand: {e}"
        ))
    })
}

fn print_json(v: &serde_json::Value) -> Result<()> {
    util::out(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    ))
}

/// `qudag status`.
pub fn status(data_dir: &Path, format: Format) -> Result<()> {
    let s: StatusView = decode(request(data_dir, Command::Status, CALL_TIMEOUT)?)?;
    match format {
        Format::Json => {
            let mut v = serde_json::to_value(&s).map_err(|e| Error::Control(e.to_string()))?;
            v["version"] = render::JSON_SCHEMA_VERSION.into();
            print_json(&v)?;
        }
        Format::Table => util::out(&render::status_text(&s))?,
    }
    Ok(())
}

/// `qudag peer …`.
pub fn peer(cmd: PeerCmd, data_dir: &Path) -> Result<()> {
    match cmd {
        PeerCmd::List { format, filter } => list(data_dir, format, filter),
        PeerCmd::Add {
            address,
            priority,
            format,
        } => {
            let command = Command::PeerAdd {
                address: address.clone(),
                priority: priority.into(),
            };
            let r = request(data_dir, command, ADD_TIMEOUT)?;
            match format {
                Format::Json => print_json(&with_version(r)),
                Format::Table => util::out(&format!(
                    "Peer {address} added successfully (peer id {})\n",
                    r["peer_id"].as_str().unwrap_or("?")
                )),
            }
        }
        PeerCmd::Remove {
            target,
            ban,
            format,
        } => {
            let command = Command::PeerRemove {
                target: target.clone(),
                ban,
            };
            let r = request(data_dir, command, CALL_TIMEOUT)?;
            match format {
                Format::Json => print_json(&with_version(r)),
                Format::Table => {
                    let id = r["peer_id"]
                        .as_str()
                        .map_or_else(String::new, |i| format!(" (peer id {i})"));
                    if ban {
                        util::out(&format!("Peer {target}{id} removed and banned\n"))
                    } else {
                        util::out(&format!("Peer {target}{id} removed\n"))
                    }
                }
            }
        }
        PeerCmd::Ban {
            target,
            duration,
            reason,
            format,
        } => {
            let command = Command::PeerBan {
                target: target.clone(),
                duration_secs: duration.map(|d| d.as_secs()),
                reason,
            };
            let r = request(data_dir, command, CALL_TIMEOUT)?;
            match format {
                Format::Json => print_json(&with_version(r)),
                Format::Table => {
                    let b: BanView = decode(r)?;
                    let until = match (&b.expires, duration) {
                        (Some(e), Some(d)) => {
                            format!("for {} (until {e})", util::format_duration(d))
                        }
                        (Some(e), None) => format!("until {e}"),
                        (None, _) => "permanently".to_string(),
                    };
                    util::out(&format!("banned {} {until}: {}\n", b.target, b.reason))
                }
            }
        }
        PeerCmd::Unban { target, format } => {
            let r = request(
                data_dir,
                Command::PeerUnban {
                    target: target.clone(),
                },
                CALL_TIMEOUT,
            )?;
            match format {
                Format::Json => print_json(&with_version(r)),
                Format::Table => {
                    let b: BanView = decode(r)?;
                    util::out(&format!("unbanned {}\n", b.target))
                }
            }
        }
        PeerCmd::Info { target, format } => {
            let r = request(data_dir, Command::PeerInfo { target }, CALL_TIMEOUT)?;
            match format {
                Format::Json => print_json(&r),
                Format::Table => util::out(&render::info_text(&r)),
            }
        }
        PeerCmd::Stats { format } => {
            let r = request(data_dir, Command::Stats, CALL_TIMEOUT)?;
            match format {
                Format::Json => print_json(&with_version(r)),
                Format::Table => util::out(&render::stats_text(&r)),
            }
        }
    }
}

/// `qudag peer list`: live connections (all, or filtered), the ban list or the address book.
fn list(data_dir: &Path, format: Format, filter: Filter) -> Result<()> {
    match filter {
        Filter::Known => {
            let known: Vec<render::KnownView> =
                decode(request(data_dir, Command::KnownList, CALL_TIMEOUT)?)?;
            match format {
                Format::Json => print_json(&render::known_json(&known)),
                Format::Table => util::out(&render::known_table(&known)),
            }
        }
        Filter::Banned => {
            let bans: Vec<BanView> = decode(request(data_dir, Command::BanList, CALL_TIMEOUT)?)?;
            match format {
                Format::Json => print_json(&render::ban_json(&bans)),
                Format::Table => util::out(&render::ban_table(&bans)),
            }
        }
        _ => {
            let peers: Vec<PeerView> = decode(request(data_dir, Command::PeerList, CALL_TIMEOUT)?)?;
            let peers = render::filter_peers(peers, filter);
            match format {
                Format::Json => print_json(&render::peer_json(&peers)),
                Format::Table => {
                    let style = Style {
                        color: util::color_stdout(),
                    };
                    util::out(&render::peer_table(&peers, style))
                }
            }
        }
    }
}

fn with_version(mut v: serde_json::Value) -> serde_json::Value {
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("version".into(), render::JSON_SCHEMA_VERSION.into());
    }
    v
}
