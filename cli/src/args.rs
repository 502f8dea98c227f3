//! The command line's definitions (clap): commands, options, their help texts and the value
//! parsers that turn a malformed argument into a usage error (exit 2) before the node is asked
//! anything. The `--help` texts are checked byte for byte by the snapshots in
//! `cli/tests/snapshots/`.

use crate::render::Filter;
use crate::util;
use clap::{Parser, Subcommand, ValueEnum};
use qudag_peer::Priority;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

impl Cmd {
    /// The output format the command asks for; an error is reported in it too.
    pub fn format(&self) -> Format {
        match self {
            Cmd::Status { format } => *format,
            Cmd::Peer(p) => p.format(),
            Cmd::Start { .. } | Cmd::Stop | Cmd::Testnet { .. } => Format::Table,
        }
    }
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

impl PeerCmd {
    /// `--format`.
    pub fn format(&self) -> Format {
        match self {
            PeerCmd::List { format, .. }
            | PeerCmd::Add { format, .. }
            | PeerCmd::Remove { format, .. }
            | PeerCmd::Ban { format, .. }
            | PeerCmd::Unban { format, .. }
            | PeerCmd::Info { format, .. }
            | PeerCmd::Stats { format } => *format,
        }
    }
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
/// [`crate::control::MAX_REQUEST_LEN`] would arrive cut off) and echoed back in an error.
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
    qudag_peer::PeerAddress::parse(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// `--reason`: one line of at most [`qudag_peer::MAX_BAN_REASON_LEN`] bytes (the ban
/// list would otherwise truncate it silently, and a newline would break the table).
fn parse_reason(s: &str) -> Result<String, String> {
    let max = qudag_peer::MAX_BAN_REASON_LEN;
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
pub(crate) fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter().enumerate().any(|(i, a)| {
        a == "--format=json" || (a == "--format" && args.get(i + 1).is_some_and(|v| v == "json"))
    })
}
