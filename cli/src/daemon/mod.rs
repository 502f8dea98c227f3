//! `qudag start`: the node in the foreground. It owns the data directory (identity key,
//! peer database, control socket, optional `config.toml`), drives the core through the tokio
//! adapter, serves the control socket, saves the durable state, and shuts down gracefully on
//! SIGINT/SIGTERM or `qudag stop`.
//!
//! [`run`] is the start-up sequence (checks and files first, so that a bad configuration
//! writes nothing), then the event loop in `serve`: the node, the metrics endpoint, the
//! control server, the event log and the periodic save, until a signal or `qudag stop`.
//!
//! - [`files`]: the data dir and its permissions, the config file, the identity key, a stale
//!   control socket;
//! - [`control_server`]: the control socket's server and its commands;
//! - [`events`]: logging, and the node's events as log lines (a ban change saves at once).

pub mod control_server;
pub mod events;
pub mod files;

use crate::control;
use crate::error::Error;
use crate::http::MetricsServer;
use crate::store::Store;
use crate::util;
use qudag_peer::Config;
use qudag_peer::Identity;
use qudag_peer::MetricsConfig;
use qudag_peer_tokio::NodeHandle;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

pub use events::init_logging;
pub use files::{ensure_data_dir, load_config, load_or_create_identity};

/// How often the durable state is saved besides ban changes and shutdown.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(30);

/// Options of `qudag start`.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--quic-listen`.
    pub quic_listen: Option<SocketAddr>,
    /// `--bootstrap` (replaces the configured list when given).
    pub bootstrap: Vec<String>,
    /// `--no-default-bootstrap`.
    pub no_default_bootstrap: bool,
    /// `--metrics-listen` (overrides `metrics.listen` and turns the endpoint on).
    pub metrics_listen: Option<SocketAddr>,
    /// `--no-metrics` (turns the endpoint off).
    pub no_metrics: bool,
}

/// `qudag start`. Returns when the node has stopped.
pub fn run(data_dir: &Path, opts: &StartOptions) -> Result<(), Error> {
    init_logging();
    let sock = control::socket_path(data_dir);
    util::check_socket_path(&sock)?;
    // An existing data dir is checked before the config file is looked for in it; a new one
    // is created only once the configuration is known to be good (a bad config file writes
    // nothing).
    if data_dir.exists() {
        ensure_data_dir(data_dir)?;
    }
    let config = load_config(data_dir, opts)?;
    ensure_data_dir(data_dir)?;
    files::remove_stale_socket(data_dir, &sock)?;
    let identity = load_or_create_identity(data_dir)?;
    let opened = Store::open(&data_dir.join(util::DB_FILE))?;
    if let Some((aside, why)) = &opened.moved_aside {
        error!(
            "peer database {} was unusable ({why}); moved it aside to {} and started with an empty database",
            data_dir.join(util::DB_FILE).display(),
            aside.display()
        );
    }
    if let Some(s) = &opened.state {
        info!(
            "peer database: {} known addresses, {} reputation records, {} bans",
            s.addresses.len(),
            s.reputation.len(),
            s.bans.len()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Start(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(serve(
        data_dir.to_path_buf(),
        config,
        identity,
        opened.store,
        opened.state,
    ));
    let _ = std::fs::remove_file(&sock);
    result
}

/// What the control server, the event log and the saver share.
struct Ctx {
    handle: NodeHandle,
    store: Arc<Mutex<Store>>,
    save_lock: tokio::sync::Mutex<()>,
    data_dir: PathBuf,
    started: Instant,
    started_unix: u64,
    stop: tokio::sync::Notify,
    /// Where the metrics endpoint and dashboard are served, if they are.
    metrics_addr: Option<SocketAddr>,
}

impl Ctx {
    /// Takes the node's durable state and commits it.
    async fn save(&self) -> Result<(), Error> {
        let _guard = self.save_lock.lock().await;
        let state = self
            .handle
            .with_node(|n, now| n.durable_state(now))
            .await
            .map_err(|e| Error::Store(format!("cannot read the node's state: {e}")))?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            store
                .lock()
                .map_err(|_| Error::Store("peer database lock poisoned".to_string()))?
                .save(&state)
                .map_err(Error::from)
        })
        .await
        .map_err(|e| Error::Store(format!("database task failed: {e}")))?
    }
}

/// The node's life: start it and its servers, wait for a signal or `qudag stop`, then save
/// the peer database and shut down.
async fn serve(
    data_dir: PathBuf,
    config: Config,
    identity: Identity,
    store: Store,
    state: Option<qudag_peer::DurableState>,
) -> Result<(), Error> {
    let listen = config.network.listen;
    let quic = config
        .network
        .quic_listen
        .map(|q| format!(" (and QUIC on {q})"))
        .unwrap_or_default();
    let metrics_config = config.metrics.clone();
    let handle = qudag_peer_tokio::spawn_with(config, identity, state)
        .map_err(|e| Error::Start(format!("cannot listen on {listen}{quic}: {e}")))?;
    let metrics = start_metrics(&metrics_config, &handle).await;
    let events = handle.events();
    let sock = control::socket_path(&data_dir);
    let listener = control_server::bind(&sock)?;
    info!(
        "node {} listening on {}{}; control socket {}",
        handle.node_id(),
        handle.local_addr(),
        handle
            .quic_addr()
            .map(|q| format!(" and quic://{q}"))
            .unwrap_or_default(),
        sock.display()
    );
    let ctx = Arc::new(Ctx {
        handle: handle.clone(),
        store: Arc::new(Mutex::new(store)),
        save_lock: tokio::sync::Mutex::new(()),
        data_dir,
        started: Instant::now(),
        started_unix: util::unix_now_ms(),
        stop: tokio::sync::Notify::new(),
        metrics_addr: metrics.as_ref().map(MetricsServer::local_addr),
    });
    if let Err(e) = ctx.save().await {
        error!("{e}");
    }
    let accept = tokio::spawn(control_server::accept_loop(listener, ctx.clone()));
    let watcher = tokio::spawn(events::watch_events(events, ctx.clone()));
    let saver = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            let mut tick = tokio::time::interval(SAVE_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                match ctx.save().await {
                    Ok(()) => debug!("peer database saved"),
                    Err(e) => error!("{e}"),
                }
            }
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Start(format!("cannot install the SIGTERM handler: {e}")))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        _ = term.recv() => info!("SIGTERM: shutting down"),
        () = ctx.stop.notified() => info!("stop requested: shutting down"),
    }
    accept.abort();
    drop(metrics);
    let saved = ctx.save().await;
    handle.shutdown().await;
    watcher.abort();
    saver.abort();
    match saved {
        Ok(()) => {
            info!("peer database saved; node stopped");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Starts the metrics endpoint and dashboard when configured. A failure to bind (the port is
/// taken, typically by another local node) is a warning: the node runs without them.
async fn start_metrics(config: &MetricsConfig, handle: &NodeHandle) -> Option<MetricsServer> {
    if !config.enabled {
        info!("metrics endpoint and dashboard are off (metrics.enabled = false or --no-metrics)");
        return None;
    }
    match MetricsServer::start(config.listen, handle.clone()).await {
        Ok(server) => {
            let addr = server.local_addr();
            info!("metrics: Prometheus endpoint http://{addr}/metrics, dashboard http://{addr}/");
            if config.is_exposed() {
                warn!(
                    "metrics endpoint listens on {addr}, which is not a loopback address: peer addresses and ids are visible to anyone who can reach it"
                );
            }
            Some(server)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            warn!(
                "metrics: {} is already in use (another node?); this node runs without the metrics endpoint and dashboard. Set [metrics] listen to a free port (port 0 picks one), or use --metrics-listen / --no-metrics",
                config.listen
            );
            None
        }
        Err(e) => {
            warn!(
                "metrics: cannot listen on {}: {e}; this node runs without the metrics endpoint and dashboard",
                config.listen
            );
            None
        }
    }
}
