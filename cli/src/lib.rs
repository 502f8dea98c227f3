//! # qudag-cli: the `qudag` node and operator commands
//!
//! `qudag start` runs a node in the foreground; the other commands talk to it over the control
//! socket in its data directory (see [`control`]). `qudag testnet` runs a whole local network
//! in one process. The command reference, the JSON schema and the exit codes are in
//! `docs/CLI.md`.
//!
//! Exit codes: 0 success, 1 an operational error (one line on stderr, or a JSON error document
//! on stdout with `--format json`), 2 a usage error (clap's message and help, or the JSON error
//! document with `--format json`). Usage errors are found before the node is asked anything.
#![warn(missing_docs)]

pub mod config_file;
pub mod control;
pub mod daemon;
pub mod db;
pub mod metrics;
pub mod render;
pub mod testnet;
pub mod util;

use clap::{Parser, Subcommand, ValueEnum};
use control::Command;
use qudag_peer::peer::Priority;
use render::{BanView, Filter, PeerView, StatusView, Style};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// How long a client waits for most answers.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `peer add` waits (connect and handshake timeouts, DNS, with margin).
pub const ADD_TIMEOUT: Duration = Duration::from_secs(90);

/// The `qudag` command line.
#[derive(Debug, Parser)]
#[command(
    name = "qudag",
    version,
    about = "QuDAG peer node and operator commands",
    long_about = "QuDAG peer node and operator commands.\n\n`qudag start` runs a node; the other commands talk to it through the control socket in its data directory. `qudag testnet` runs a local network in one process.",
    propagate_version = true
)]
pub struct Cli {
    /// Data directory: identity key, peer database, control socket, config.toml [default: ~/.qudag]
    #[arg(long, global = true, env = "QUDAG_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    #[value(alias = "text")]
    Table,
    /// JSON (schema in docs/CLI.md).
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a node in the foreground (logs to stderr; RUST_LOG filters them)
    Start {
        /// Configuration file [default: config.toml in the data dir, if present]
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Address to listen on and advertise (overrides network.listen)
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// UDP address to accept QUIC connections on (overrides network.quic_listen)
        #[arg(long, value_name = "ADDR")]
        quic_listen: Option<SocketAddr>,
        /// Bootstrap node to dial at start (repeatable; replaces network.peers.bootstrap_nodes)
        #[arg(long, value_name = "ADDR", value_parser = parse_peer_address)]
        bootstrap: Vec<String>,
        /// Use neither the built-in bootstrap nodes nor the built-in DNS seeds
        #[arg(long)]
        no_default_bootstrap: bool,
        /// Serve /metrics and the dashboard on this address (overrides metrics.listen; port 0 picks a free port)
        #[arg(long, value_name = "ADDR", conflicts_with = "no_metrics")]
        metrics_listen: Option<SocketAddr>,
        /// Serve neither /metrics nor the dashboard (overrides metrics.enabled)
        #[arg(long)]
        no_metrics: bool,
    },
    /// List, add, remove, ban and inspect peers of the running node
    #[command(subcommand)]
    Peer(PeerCmd),
    /// Show the running node's id, listen address, peer counts and uptime
    Status {
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Stop the running node gracefully (disconnects peers, saves the peer database)
    Stop,
    /// Run N nodes on loopback in this process and watch them find each other
    Testnet {
        /// Number of nodes (2 to 100)
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(2..=100))]
        nodes: u16,
        /// Stop after this long (e.g. 30s, 5m) instead of waiting for Ctrl-C
        #[arg(long, value_name = "DURATION", value_parser = util::parse_duration)]
        duration: Option<Duration>,
    },
}

/// `qudag peer …`.
#[derive(Debug, Subcommand)]
pub enum PeerCmd {
    /// List peers, bans or known addresses (table or JSON)
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Which peers: connected, all live connections, the ban list, or every known address
        #[arg(long, value_enum, default_value_t = Filter::All)]
        filter: Filter,
    },
    /// Connect to a peer and wait for the handshake
    Add {
        /// 1.2.3.4:8000, [2001:db8::1]:8000, host:8000, name.onion:8000 or quantum://<node-id>@host[:port]
        #[arg(value_parser = non_empty)]
        address: String,
        /// Eviction priority
        #[arg(long, value_enum, default_value_t = PriorityArg::Normal)]
        priority: PriorityArg,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Disconnect a peer gracefully
    Remove {
        /// The peer's address, node id or unique node-id prefix (8+ hex characters)
        #[arg(value_parser = non_empty)]
        target: String,
        /// Also ban the peer's node id (or its IP before the handshake)
        #[arg(long)]
        ban: bool,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Ban a node id, an IP address or a CIDR subnet (disconnects it; refuses it both ways)
    Ban {
        /// Node id (64 hex characters), IP address, or subnet like 10.0.0.0/8
        #[arg(value_parser = non_empty)]
        target: String,
        /// How long (e.g. 90s, 10m, 2h, 7d, 1w) [default: permanently]
        #[arg(long = "for", value_name = "DURATION", value_parser = util::parse_duration)]
        duration: Option<Duration>,
        /// Why, for the ban list (at most 256 bytes, one line)
        #[arg(long, value_name = "TEXT", default_value = "", value_parser = parse_reason)]
        reason: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Lift a ban
    Unban {
        /// The target as banned (node id, IP address or subnet)
        #[arg(value_parser = non_empty)]
        target: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Everything known about one peer: connection, reputation components, recent history
    Info {
        /// Node id, unique node-id prefix, or address
        #[arg(value_parser = non_empty)]
        target: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Headline metrics: peers, connections and failures by reason, dials, PEX, DNS, bans,
    /// latency, reputation distribution and netgroup concentration
    Stats {
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// `--priority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PriorityArg {
    /// Never evicted; may evict a low-priority inbound peer when full
    High,
    /// The default
    Normal,
    /// Evicted first
    Low,
}

impl From<PriorityArg> for Priority {
    fn from(p: PriorityArg) -> Priority {
        match p {
            PriorityArg::High => Priority::High,
            PriorityArg::Normal => Priority::Normal,
            PriorityArg::Low => Priority::Low,
        }
    }
}

/// The longest address or target argument, in bytes. The longest valid one,
/// `quantum://<64 hex>@<253-character host name>:65535`, is about 340 bytes; a longer one is
/// refused here rather than sent to the node (a request over the control socket's
/// [`control::MAX_REQUEST_LEN`] would arrive cut off) and echoed back in an error.
pub const MAX_TARGET_LEN: usize = 1024;

/// An address or target argument: not empty (`qudag peer add ""`), at most
/// [`MAX_TARGET_LEN`] bytes.
fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else if s.len() > MAX_TARGET_LEN {
        Err(format!("is {} bytes; at most {MAX_TARGET_LEN}", s.len()))
    } else {
        Ok(s.to_string())
    }
}

/// `--bootstrap`: any address format of spec 3.2, checked before the node starts (the core
/// would only log a warning and start without it).
fn parse_peer_address(s: &str) -> Result<String, String> {
    qudag_peer::addr::PeerAddress::parse(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// `--reason`: one line of at most [`qudag_peer::bans::MAX_BAN_REASON_LEN`] bytes (the ban
/// list would otherwise truncate it silently, and a newline would break the table).
fn parse_reason(s: &str) -> Result<String, String> {
    let max = qudag_peer::bans::MAX_BAN_REASON_LEN;
    if s.len() > max {
        return Err(format!("is {} bytes; at most {max} are kept", s.len()));
    }
    if s.chars().any(char::is_control) {
        return Err("must be one line without control characters".into());
    }
    Ok(s.to_string())
}

/// Whether the raw arguments ask for JSON output (`--format json` or `--format=json`), for
/// usage errors, which are found before the arguments are parsed.
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter().enumerate().any(|(i, a)| {
        a == "--format=json" || (a == "--format" && args.get(i + 1).is_some_and(|v| v == "json"))
    })
}

/// The JSON error document of docs/CLI.md.
fn json_error(message: &str) -> String {
    serde_json::json!({
        "version": render::JSON_SCHEMA_VERSION,
        "error": { "message": message },
    })
    .to_string()
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    // An empty QUDAG_DATA_DIR means unset (clap would report it as a missing --data-dir value).
    if std::env::var_os("QUDAG_DATA_DIR").is_some_and(|v| v.is_empty()) {
        std::env::remove_var("QUDAG_DATA_DIR");
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: not errors.
            let _ = util::out(&e.render().to_string());
            return ExitCode::SUCCESS;
        }
        Err(e) if wants_json(&args) => {
            // A usage error in JSON mode: the JSON error document (exit 2), so that a script
            // reading stdout always gets JSON.
            // clap's message is the paragraph before the usage ("the following required
            // arguments were not provided:" and the arguments on the next lines).
            let text = e.render().to_string();
            let message = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .trim_start_matches("error: ")
                .to_string();
            let _ = util::out(&format!("{}\n", json_error(&message)));
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let data_dir = util::data_dir(cli.data_dir.as_deref());
    let (format, result) = run(cli.command, &data_dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            match format {
                Format::Json => {
                    if let Err(e) = util::out(&format!("{}\n", json_error(&message))) {
                        util::err_line(&format!("error: {message} ({e})"));
                    }
                }
                Format::Table => util::err_line(&format!("error: {message}")),
            }
            ExitCode::from(1)
        }
    }
}

fn run(command: Cmd, data_dir: &Path) -> (Format, Result<(), String>) {
    match command {
        Cmd::Start {
            config,
            listen,
            quic_listen,
            bootstrap,
            no_default_bootstrap,
            metrics_listen,
            no_metrics,
        } => {
            let opts = daemon::StartOptions {
                config,
                listen,
                quic_listen,
                bootstrap,
                no_default_bootstrap,
                metrics_listen,
                no_metrics,
            };
            (Format::Table, daemon::run(data_dir, &opts))
        }
        Cmd::Testnet { nodes, duration } => {
            (Format::Table, testnet::run(usize::from(nodes), duration))
        }
        Cmd::Status { format } => (format, status(data_dir, format)),
        Cmd::Stop => (
            Format::Table,
            request(data_dir, Command::Stop, CALL_TIMEOUT).and_then(|_| {
                util::out(&format!(
                    "stopping the node for data dir {}\n",
                    data_dir.display()
                ))
            }),
        ),
        Cmd::Peer(p) => peer(p, data_dir),
    }
}

/// Sends a command; the result on success, the node's error line otherwise.
fn request(
    data_dir: &Path,
    command: Command,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let r = control::call(data_dir, command, timeout)?;
    if r.ok {
        Ok(r.result.unwrap_or_default())
    } else {
        Err(r
            .error
            .unwrap_or_else(|| "the node reported an error".into()))
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v)
        .map_err(|e| format!("the node sent an answer this client does not understand: {e}"))
}

fn print_json(v: &serde_json::Value) -> Result<(), String> {
    util::out(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    ))
}

fn status(data_dir: &Path, format: Format) -> Result<(), String> {
    let s: StatusView = decode(request(data_dir, Command::Status, CALL_TIMEOUT)?)?;
    match format {
        Format::Json => {
            let mut v = serde_json::to_value(&s).map_err(|e| e.to_string())?;
            v["version"] = render::JSON_SCHEMA_VERSION.into();
            print_json(&v)?;
        }
        Format::Table => util::out(&render::status_text(&s))?,
    }
    Ok(())
}

fn peer(cmd: PeerCmd, data_dir: &Path) -> (Format, Result<(), String>) {
    let style = Style {
        color: util::color_stdout(),
    };
    match cmd {
        PeerCmd::List { format, filter } => (
            format,
            (|| {
                if filter == Filter::Known {
                    let known: Vec<render::KnownView> =
                        decode(request(data_dir, Command::KnownList, CALL_TIMEOUT)?)?;
                    match format {
                        Format::Json => print_json(&render::known_json(&known))?,
                        Format::Table => util::out(&render::known_table(&known))?,
                    }
                    return Ok(());
                }
                if filter == Filter::Banned {
                    let bans: Vec<BanView> =
                        decode(request(data_dir, Command::BanList, CALL_TIMEOUT)?)?;
                    match format {
                        Format::Json => print_json(&render::ban_json(&bans))?,
                        Format::Table => util::out(&render::ban_table(&bans))?,
                    }
                    return Ok(());
                }
                let peers: Vec<PeerView> =
                    decode(request(data_dir, Command::PeerList, CALL_TIMEOUT)?)?;
                let peers = render::filter_peers(peers, filter);
                match format {
                    Format::Json => print_json(&render::peer_json(&peers))?,
                    Format::Table => util::out(&render::peer_table(&peers, style))?,
                }
                Ok(())
            })(),
        ),
        PeerCmd::Add {
            address,
            priority,
            format,
        } => (
            format,
            (|| {
                let command = Command::PeerAdd {
                    address: address.clone(),
                    priority: priority.into(),
                };
                let r = request(data_dir, command, ADD_TIMEOUT)?;
                match format {
                    Format::Json => print_json(&with_version(r))?,
                    Format::Table => util::out(&format!(
                        "Peer {address} added successfully (peer id {})\n",
                        r["peer_id"].as_str().unwrap_or("?")
                    ))?,
                }
                Ok(())
            })(),
        ),
        PeerCmd::Remove {
            target,
            ban,
            format,
        } => (
            format,
            (|| {
                let command = Command::PeerRemove {
                    target: target.clone(),
                    ban,
                };
                let r = request(data_dir, command, CALL_TIMEOUT)?;
                match format {
                    Format::Json => print_json(&with_version(r))?,
                    Format::Table => {
                        let id = r["peer_id"]
                            .as_str()
                            .map_or_else(String::new, |i| format!(" (peer id {i})"));
                        if ban {
                            util::out(&format!("Peer {target}{id} removed and banned\n"))?;
                        } else {
                            util::out(&format!("Peer {target}{id} removed\n"))?;
                        }
                    }
                }
                Ok(())
            })(),
        ),
        PeerCmd::Ban {
            target,
            duration,
            reason,
            format,
        } => (
            format,
            (|| {
                let command = Command::PeerBan {
                    target: target.clone(),
                    duration_secs: duration.map(|d| d.as_secs()),
                    reason,
                };
                let r = request(data_dir, command, CALL_TIMEOUT)?;
                match format {
                    Format::Json => print_json(&with_version(r))?,
                    Format::Table => {
                        let b: BanView = decode(r)?;
                        let until = match (&b.expires, duration) {
                            (Some(e), Some(d)) => {
                                format!("for {} (until {e})", util::format_duration(d))
                            }
                            (Some(e), None) => format!("until {e}"),
                            (None, _) => "permanently".to_string(),
                        };
                        util::out(&format!("banned {} {until}: {}\n", b.target, b.reason))?;
                    }
                }
                Ok(())
            })(),
        ),
        PeerCmd::Unban { target, format } => (
            format,
            (|| {
                let r = request(
                    data_dir,
                    Command::PeerUnban {
                        target: target.clone(),
                    },
                    CALL_TIMEOUT,
                )?;
                match format {
                    Format::Json => print_json(&with_version(r))?,
                    Format::Table => {
                        let b: BanView = decode(r)?;
                        util::out(&format!("unbanned {}\n", b.target))?;
                    }
                }
                Ok(())
            })(),
        ),
        PeerCmd::Info { target, format } => (
            format,
            (|| {
                let r = request(data_dir, Command::PeerInfo { target }, CALL_TIMEOUT)?;
                match format {
                    Format::Json => print_json(&r)?,
                    Format::Table => util::out(&render::info_text(&r))?,
                }
                Ok(())
            })(),
        ),
        PeerCmd::Stats { format } => (
            format,
            (|| {
                let r = request(data_dir, Command::Stats, CALL_TIMEOUT)?;
                match format {
                    Format::Json => print_json(&with_version(r))?,
                    Format::Table => util::out(&render::stats_text(&r))?,
                }
                Ok(())
            })(),
        ),
    }
}

fn with_version(mut v: serde_json::Value) -> serde_json::Value {
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("version".into(), render::JSON_SCHEMA_VERSION.into());
    }
    v
}
