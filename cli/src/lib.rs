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
//! The mapping is [`Error::code`].
//!
//! Modules by role:
//! - [`args`]: the command line's definitions (clap);
//! - [`client`]: the client commands, which talk to a running node over the control socket;
//! - [`control`]: the control protocol (requests, responses) and its client call;
//! - [`daemon`]: `qudag start`: files, start-up, the control server, event logging;
//! - [`store`]: the peer database (redb);
//! - [`http`]: the metrics endpoint and dashboard (Prometheus encoding, dashboard data);
//! - [`render`]: tables, text and JSON documents of the client commands;
//! - [`testnet`]: `qudag testnet`;
//! - [`error`]: the error type and exit codes; [`util`]: small helpers shared by the others.
#![warn(missing_docs)]

pub mod args;
pub mod client;
pub mod control;
pub mod daemon;
pub mod error;
pub mod http;
pub mod render;
pub mod store;
pub mod testnet;
pub mod util;

pub use args::{Cli, Cmd, Format, PeerCmd, PriorityArg, MAX_TARGET_LEN};
pub use client::{ADD_TIMEOUT, CALL_TIMEOUT};
pub use error::Error;

use clap::Parser;
use std::path::Path;
use std::process::ExitCode;

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
        Err(e) => {
            let format = if args::wants_json(&args) {
                Format::Json
            } else {
                Format::Table
            };
            return report(&Error::Usage(e), format);
        }
    };
    let data_dir = util::data_dir(cli.data_dir.as_deref());
    let format = cli.command.format();
    match run(cli.command, &data_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, format),
    }
}

/// Runs a parsed command.
fn run(command: Cmd, data_dir: &Path) -> Result<(), Error> {
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
            daemon::run(data_dir, &opts)
        }
        Cmd::Testnet { nodes, duration } => testnet::run(usize::from(nodes), duration),
        Cmd::Status { format } => client::status(data_dir, format),
        Cmd::Stop => client::stop(data_dir),
        Cmd::Peer(p) => client::peer(p, data_dir),
    }
}

/// Prints `e` as docs/CLI.md says (one `error: ` line on stderr, or the JSON error document on
/// stdout with `--format json`; clap's own message and usage for a usage error) and returns
/// its exit code.
fn report(e: &Error, format: Format) -> ExitCode {
    match (e, format) {
        (Error::Usage(e), Format::Json) => {
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
        }
        (Error::Usage(e), Format::Table) => {
            let _ = e.print();
        }
        (e, Format::Json) => {
            if let Err(out) = util::out(&format!("{}\n", json_error(&e.to_string()))) {
                util::err_line(&format!("error: {e} ({out})"));
            }
        }
        (e, Format::Table) => util::err_line(&format!("error: {e}")),
    }
    e.exit_code()
}
