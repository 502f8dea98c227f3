//! The errors a `qudag` command ends with, and their exit codes (docs/CLI.md, "Exit codes").
//!
//! Every variant's text is the one line printed after `error: ` (or put in the JSON error
//! document with `--format json`); [`Error::exit_code`] is the process's exit code: 2 for a
//! usage error, found before anything is read, written or sent, 1 for everything else.
//! The messages are written for the operator: what was asked, what is wrong, and, where there
//! is one, what to do about it.

use std::path::PathBuf;
use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line is malformed (unknown command or option, missing or extra argument,
    /// bad value): clap's message. Exit 2.
    #[error("{0}")]
    Usage(#[from] clap::Error),
    /// The configuration file cannot be read or has a bad value, or the effective
    /// configuration (file plus command line) is invalid.
    #[error("{0}")]
    Config(String),
    /// The data directory, the identity key or the control socket's file cannot be used.
    #[error("{0}")]
    Files(String),
    /// The peer database cannot be opened or written.
    #[error("{0}")]
    Store(String),
    /// The node could not start or keep running: the async runtime, a listening socket,
    /// the control socket, a signal handler.
    #[error("{0}")]
    Start(String),
    /// `qudag start` for a data dir whose node is running.
    #[error("a node is already running for data dir {} (stop it with: qudag stop)", data_dir.display())]
    AlreadyRunning {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// A client command for a data dir where no node is running.
    #[error("no node is running for data dir {} (start one with: qudag start)", data_dir.display())]
    NotRunning {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// Talking to the node over the control socket failed: no connection, no answer in
    /// time, an answer this client does not understand.
    #[error("{0}")]
    Control(String),
    /// The node answered the command with an error (its line, as sent).
    #[error("{0}")]
    Refused(String),
    /// Writing the command's output to stdout failed (a closed pipe is not an error).
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// The exit code's number: 2 for [`Error::Usage`], 1 for every other error.
    pub fn code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }

    /// The process exit code for this error ([`Error::code`]).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Error {
        Error::Store(e.0)
    }
}

/// The result of a command.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let usage = clap::Error::new(clap::error::ErrorKind::UnknownArgument);
        assert_eq!(Error::Usage(usage).code(), 2);
        assert_eq!(Error::Refused("x".into()).code(), 1);
        let e = Error::NotRunning {
            data_dir: "/d".into(),
        };
        assert_eq!(
            e.to_string(),
            "no node is running for data dir /d (start one with: qudag start)"
        );
        let e = Error::Output(std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(
            e.to_string().starts_with("cannot write the output: "),
            "{e}"
        );
    }
}
