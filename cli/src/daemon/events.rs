//! Logging: the subscriber (stderr, `RUST_LOG`), and the node's events turned into log lines;
//! a ban change also saves the peer database at once.

use super::Ctx;
use crate::util;
use qudag_peer::Event;
use std::sync::Arc;
use tracing::{debug, error, info, warn};

/// Sets up logging to stderr (`RUST_LOG`, default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(util::color_stderr())
        .with_target(false)
        .try_init();
}

/// Logs the node's events until the node stops; saves the peer database on a ban change.
pub(super) async fn watch_events(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    ctx: Arc<Ctx>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                warn!("{n} node events were dropped (the log fell behind)");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let mut save = false;
        match &event {
            Event::PeerConnected {
                peer,
                address,
                direction,
                ..
            } => info!("connected to {peer} at {address} ({direction:?})"),
            Event::PeerDisconnected {
                peer,
                address,
                reason,
                by_peer,
                ..
            } => info!(
                "disconnected from {peer} at {address}: {reason}{}",
                if *by_peer { " (by the peer)" } else { "" }
            ),
            Event::ConnectionFailed { address, error, .. } => {
                debug!("connection to {address} failed: {error}")
            }
            Event::BanAdded { ban } => {
                info!("banned {} ({})", ban.target, ban.reason);
                save = true;
            }
            Event::BanRemoved { ban, expired } => {
                info!(
                    "ban of {} {}",
                    ban.target,
                    if *expired { "expired" } else { "lifted" }
                );
                save = true;
            }
            Event::Warning { message } => warn!("{message}"),
            Event::AutoBanPaused { peer, why } => warn!("not banning {peer}: {why}"),
            Event::ReputationAction {
                peer,
                score,
                action,
            } => warn!("reputation of {peer} is {score}: {action:?}"),
            Event::Discovery { step, reason } => info!("discovery: {step:?}: {reason}"),
            other => debug!("{other:?}"),
        }
        if save {
            if let Err(e) = ctx.save().await {
                error!("{e}");
            }
        }
    }
}
