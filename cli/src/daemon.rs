//! `qudag start`: the node in the foreground. It owns the data directory (identity key,
//! peer database, control socket, optional `config.toml`), drives the core through the tokio
//! adapter, serves the control socket, saves the durable state, and shuts down gracefully on
//! SIGINT/SIGTERM or `qudag stop`.

use crate::config_file::{ConfigFile, MetricsConfig};
use crate::control::{self, Command, Response, MAX_REQUEST_LEN, PROTOCOL_VERSION};
use crate::db::Store;
use crate::metrics::MetricsServer;
use crate::render::{BanView, KnownView, PeerView, StatusView};
use crate::util;
use pqcrypto_traits::sign::{PublicKey as _, SecretKey as _};
use qudag_peer::identity::{Identity, PUBLIC_KEY_LEN, SECRET_KEY_LEN};
use qudag_peer::node::USER_AGENT;
use qudag_peer::{Config, Event, NodeId};
use qudag_peer_tokio::NodeHandle;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, error, info, warn};

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

/// Creates the data directory (mode 0700) if needed; an existing one must be a directory
/// this user may read, write and search (checked here, so that the node does not fail half-way
/// or, worse, silently ignore a `config.toml` it cannot see).
pub fn ensure_data_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot set permissions of {}: {e}", dir.display()))?;
    } else if !dir.is_dir() {
        return Err(format!("data dir {} is not a directory", dir.display()));
    }
    check_access(dir)
}

/// Whether this process may read, write and search `dir` (effective ids, as `open` checks).
fn check_access(dir: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| format!("data dir {} contains a NUL byte", dir.display()))?;
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
        return Err(format!(
            "data dir {} is not usable by uid {}: {e} (it must be readable, writable and searchable: check its owner and mode, or use another --data-dir)",
            dir.display(),
            util::euid()
        ));
    }
    Ok(())
}

/// The effective configuration: the file (`--config`, else `config.toml` in the data dir if
/// present, else the defaults), then the command-line overrides.
pub fn load_config(data_dir: &Path, opts: &StartOptions) -> Result<ConfigFile, String> {
    let path = opts
        .config
        .clone()
        .or_else(|| Some(data_dir.join(util::CONFIG_FILE)).filter(|p| p.exists()));
    let (mut file, text) = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read config file {}: {e}", p.display()))?;
            let file = crate::config_file::from_toml_str(&text).map_err(|e| e.in_file(p, &text))?;
            (file, text)
        }
        None => (ConfigFile::default(), String::new()),
    };
    let config = &mut file.node;
    if let Some(listen) = opts.listen {
        config.network.listen = listen;
    }
    if let Some(quic) = opts.quic_listen {
        config.network.quic_listen = Some(quic);
    }
    if let Some(listen) = opts.metrics_listen {
        file.metrics.listen = listen;
        file.metrics.enabled = true;
    }
    if opts.no_metrics {
        file.metrics.enabled = false;
    }
    let defaults = Config::default();
    if !opts.bootstrap.is_empty() {
        config.network.peers.bootstrap_nodes = opts.bootstrap.clone();
    }
    // The core only warns about a bootstrap address it cannot parse and starts without it:
    // in the operator's own file that is an error, like any other bad value.
    for b in &config.network.peers.bootstrap_nodes {
        if let Err(e) = qudag_peer::addr::PeerAddress::parse(b) {
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
            return Err(format!(
                "{at}network.peers.bootstrap_nodes: entry {b:?} is not a valid address: {e}"
            ));
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
        .map_err(|e| format!("invalid configuration: {e}"))?;
    Ok(file)
}

/// Reads the identity key (public then secret key bytes), or creates one with mode 0600.
pub fn load_or_create_identity(data_dir: &Path) -> Result<Identity, String> {
    let path = data_dir.join(util::KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            if bytes.len() != PUBLIC_KEY_LEN + SECRET_KEY_LEN {
                return Err(format!(
                    "identity key {} has {} bytes, expected {} (Dilithium3 public + secret key)",
                    path.display(),
                    bytes.len(),
                    PUBLIC_KEY_LEN + SECRET_KEY_LEN
                ));
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
                .map_err(|e| format!("identity key {}: {e}", path.display()))
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
                .map_err(|e| format!("cannot create identity key {}: {e}", path.display()))?;
            use std::io::Write;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("cannot write identity key {}: {e}", path.display()))?;
            let identity = Identity::from_bytes(pk.as_bytes(), sk.as_bytes())
                .map_err(|e| format!("new identity key: {e}"))?;
            info!(
                "created identity key {} (node id {})",
                path.display(),
                identity.node_id()
            );
            Ok(identity)
        }
        Err(e) => Err(format!("cannot read identity key {}: {e}", path.display())),
    }
}

/// `qudag start`. Returns when the node has stopped.
pub fn run(data_dir: &Path, opts: &StartOptions) -> Result<(), String> {
    init_logging();
    let sock = control::socket_path(data_dir);
    util::check_socket_path(&sock)?;
    // An existing data dir is checked before the config file is looked for in it; a new one
    // is created only once the configuration is known to be good (a bad config file writes
    // nothing).
    if data_dir.exists() {
        ensure_data_dir(data_dir)?;
    }
    let ConfigFile {
        node: config,
        metrics,
    } = load_config(data_dir, opts)?;
    ensure_data_dir(data_dir)?;
    if let Ok(meta) = std::fs::symlink_metadata(&sock) {
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            return Err(format!(
                "a node is already running for data dir {} (stop it with: qudag stop)",
                data_dir.display()
            ));
        }
        // Only a socket left behind by a killed node is removed, never a file someone put
        // there under that name.
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(format!(
                "{} exists and is not a control socket; move it away (it is not removed)",
                sock.display()
            ));
        }
        std::fs::remove_file(&sock)
            .map_err(|e| format!("cannot remove stale control socket {}: {e}", sock.display()))?;
    }
    let identity = load_or_create_identity(data_dir)?;
    let opened = Store::open(&data_dir.join(util::DB_FILE)).map_err(|e| e.to_string())?;
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
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let result = runtime.block_on(serve(
        data_dir.to_path_buf(),
        config,
        metrics,
        identity,
        opened.store,
        opened.state,
    ));
    let _ = std::fs::remove_file(&sock);
    result
}

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
    async fn save(&self) -> Result<(), String> {
        let _guard = self.save_lock.lock().await;
        let state = self
            .handle
            .with_node(|n, now| n.durable_state(now))
            .await
            .map_err(|e| format!("cannot read the node's state: {e}"))?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            store
                .lock()
                .map_err(|_| "peer database lock poisoned".to_string())?
                .save(&state)
        })
        .await
        .map_err(|e| format!("database task failed: {e}"))?
    }
}

async fn serve(
    data_dir: PathBuf,
    config: Config,
    metrics_config: MetricsConfig,
    identity: Identity,
    store: Store,
    state: Option<qudag_peer::node::DurableState>,
) -> Result<(), String> {
    let listen = config.network.listen;
    let quic = config
        .network
        .quic_listen
        .map(|q| format!(" (and QUIC on {q})"))
        .unwrap_or_default();
    let handle = qudag_peer_tokio::spawn_with(config, identity, state)
        .map_err(|e| format!("cannot listen on {listen}{quic}: {e}"))?;
    let metrics = start_metrics(&metrics_config, &handle).await;
    let events = handle.events();
    let sock = control::socket_path(&data_dir);
    let listener = UnixListener::bind(&sock)
        .map_err(|e| format!("cannot create control socket {}: {e}", sock.display()))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot set permissions of {}: {e}", sock.display()))?;
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
    let accept = tokio::spawn(accept_loop(listener, ctx.clone()));
    let watcher = tokio::spawn(watch_events(events, ctx.clone()));
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
        .map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?;
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

async fn watch_events(mut events: tokio::sync::broadcast::Receiver<Event>, ctx: Arc<Ctx>) {
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

async fn accept_loop(listener: UnixListener, ctx: Arc<Ctx>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let ctx = ctx.clone();
                tokio::spawn(async move { handle_conn(stream, ctx).await });
            }
            Err(e) => {
                warn!("control socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_conn(stream: UnixStream, ctx: Arc<Ctx>) {
    let me = util::euid();
    let response = match stream.peer_cred() {
        Ok(cred) if cred.uid() == me => None,
        Ok(cred) => {
            warn!(
                "refused a control connection from uid {} (only uid {me} may control this node)",
                cred.uid()
            );
            Some(Response::err(format!(
                "refused: uid {} may not control this node (it runs as uid {me})",
                cred.uid()
            )))
        }
        Err(e) => Some(Response::err(format!(
            "refused: cannot check the caller's credentials: {e}"
        ))),
    };
    let (rd, mut wr) = stream.into_split();
    let response = match response {
        Some(r) => r,
        None => {
            let mut line = String::new();
            let mut reader = BufReader::new(rd.take(MAX_REQUEST_LEN));
            match reader.read_line(&mut line).await {
                Ok(_) => dispatch(&line, &ctx).await,
                Err(e) => Response::err(format!("cannot read the request: {e}")),
            }
        }
    };
    let mut text = serde_json::to_string(&response).unwrap_or_else(|_| {
        r#"{"version":1,"ok":false,"error":"cannot encode the response"}"#.to_string()
    });
    text.push('\n');
    let _ = wr.write_all(text.as_bytes()).await;
    let _ = wr.shutdown().await;
}

async fn dispatch(line: &str, ctx: &Ctx) -> Response {
    let value: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Response::err(format!("malformed request: {e}")),
    };
    let version = value.get("version").and_then(|v| v.as_u64());
    if version != Some(u64::from(PROTOCOL_VERSION)) {
        return Response::err(format!(
            "unsupported control protocol version {}: this node speaks version {PROTOCOL_VERSION}",
            version.map_or_else(|| "(none)".to_string(), |v| v.to_string())
        ));
    }
    let request: control::Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => return Response::err(format!("malformed request: {e}")),
    };
    match run_command(request.command, ctx).await {
        Ok(v) => Response::ok(v),
        Err(e) => Response::err(e),
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

async fn run_command(command: Command, ctx: &Ctx) -> Result<serde_json::Value, String> {
    let h = &ctx.handle;
    let gone = |e: qudag_peer::node::PeerError| format!("the node is stopping: {e}");
    match command {
        Command::Status => {
            let (counts, max, known, bans) = h
                .with_node(|n, now| {
                    (
                        n.counts(),
                        n.config().network.peers.max_connections,
                        n.address_book().len(),
                        n.bans(now).len(),
                    )
                })
                .await
                .map_err(gone)?;
            json(&StatusView {
                node_id: h.node_id().to_hex(),
                listen_address: h.local_addr().to_string(),
                quic_listen_address: h.quic_addr().map(|a| format!("quic://{a}")),
                user_agent: USER_AGENT.to_string(),
                data_dir: ctx.data_dir.display().to_string(),
                pid: std::process::id(),
                started_at: util::rfc3339(ctx.started_unix),
                uptime_secs: ctx.started.elapsed().as_secs(),
                connected: counts.connected(),
                inbound: counts.inbound,
                outbound: counts.outbound,
                connecting: counts.connecting,
                handshaking: counts.handshaking,
                max_connections: max,
                known_addresses: known,
                bans,
                metrics_address: ctx.metrics_addr.map(|a| a.to_string()),
            })
        }
        Command::PeerList => {
            let peers = h.with_node(|n, _| n.peers()).await.map_err(gone)?;
            json(&peers.iter().map(PeerView::from_info).collect::<Vec<_>>())
        }
        Command::BanList => {
            let bans = h.with_node(|n, now| n.bans(now)).await.map_err(gone)?;
            json(&bans.iter().map(BanView::from_ban).collect::<Vec<_>>())
        }
        Command::KnownList => {
            let known = h
                .with_node(|n, _| {
                    n.address_book()
                        .iter()
                        .map(KnownView::from_entry)
                        .collect::<Vec<_>>()
                })
                .await
                .map_err(gone)?;
            json(&known)
        }
        Command::PeerAdd { address, priority } => match h.add_peer(&address, priority).await {
            Ok(id) => {
                if let Err(e) = ctx.save().await {
                    error!("{e}");
                }
                Ok(serde_json::json!({ "peer_id": id.to_hex(), "address": address }))
            }
            Err(e) => Err(format!("cannot add peer {address}: {e}")),
        },
        Command::PeerRemove { target, ban } => {
            let t = target.clone();
            let id = h
                .with_node(move |n, _| {
                    n.find_peer(&t)
                        .map(|c| n.peer(c).and_then(|p| p.id).map(|i| i.to_hex()))
                })
                .await
                .map_err(gone)?
                .map_err(|e| format!("cannot remove {target}: {}", target_error(&target, e)))?;
            h.remove_peer(&target, ban)
                .await
                .map_err(|e| format!("cannot remove {target}: {e}"))?;
            if ban {
                ctx.save()
                    .await
                    .map_err(|e| format!("{target} was removed and banned, but {e}"))?;
            }
            Ok(serde_json::json!({ "removed": target, "peer_id": id, "banned": ban }))
        }
        Command::PeerBan {
            target,
            duration_secs,
            reason,
        } => {
            if target.trim().parse::<NodeId>().ok() == Some(h.node_id()) {
                return Err(format!("cannot ban {target}: that is this node's own id"));
            }
            let ban = h
                .ban(&target, duration_secs.map(Duration::from_secs), &reason)
                .await
                .map_err(|e| format!("cannot ban {target}: {e}"))?;
            ctx.save()
                .await
                .map_err(|e| format!("{target} is banned, but {e}"))?;
            json(&BanView::from_ban(&ban))
        }
        Command::PeerUnban { target } => {
            let ban = h
                .unban(&target)
                .await
                .map_err(|e| format!("cannot unban {target}: {e}"))?;
            ctx.save()
                .await
                .map_err(|e| format!("{target} is unbanned, but {e}"))?;
            json(&BanView::from_ban(&ban))
        }
        Command::PeerInfo { target } => {
            let t = target.clone();
            h.with_node(move |n, now| peer_info(n, &t, now))
                .await
                .map_err(gone)?
        }
        Command::Stats => {
            let m = h.with_node(|n, now| n.metrics(now)).await.map_err(gone)?;
            json(&m)
        }
        Command::Stop => {
            ctx.stop.notify_one();
            Ok(serde_json::json!({ "stopping": true }))
        }
    }
}

/// Why `target` names no connected peer, for `peer remove` and `peer info`. The core reads a
/// target that is not 8+ hex characters as an address; its "missing port" is confusing for
/// `abcd` (a too-short id prefix) or `1.2.3.4`.
fn target_error(target: &str, e: qudag_peer::node::PeerError) -> String {
    use qudag_peer::node::PeerError;
    let t = target.trim();
    match e {
        PeerError::InvalidAddress(_) if t.bytes().all(|b| b.is_ascii_hexdigit()) => format!(
            "unknown peer: {t} (a node-id prefix needs at least 8 hex characters)"
        ),
        PeerError::InvalidAddress(a) => format!(
            "unknown peer: {t} is neither a connected peer's address (host:port) nor a node id or node-id prefix (8+ hex characters): {a}"
        ),
        other => other.to_string(),
    }
}

fn peer_info(
    n: &mut qudag_peer::Node,
    target: &str,
    now: Instant,
) -> Result<serde_json::Value, String> {
    let found = n.find_peer(target);
    let peer = found
        .as_ref()
        .ok()
        .and_then(|c| n.peer(*c))
        .map(|p| PeerView::from_info(&p));
    let id: Option<NodeId> = peer
        .as_ref()
        .and_then(|p| p.id.as_deref())
        .and_then(|s| s.parse().ok())
        .or_else(|| target.trim().parse().ok());
    if peer.is_none() && id.is_none() {
        return Err(match found {
            Err(e @ qudag_peer::node::PeerError::InvalidAddress(_)) => format!(
                "{} (a full 64-character node id shows a disconnected peer's reputation)",
                target_error(target, e)
            ),
            _ => format!(
                "unknown peer: {target} (not connected; give a full 64-character node id to see a disconnected peer's reputation)"
            ),
        });
    }
    let mut out = serde_json::json!({
        "version": crate::render::JSON_SCHEMA_VERSION,
        "node_id": id.map(|i| i.to_hex()),
        "peer": peer,
    });
    if let Some(id) = id {
        out["reputation"] = json(&n.reputation(&id, now))?;
        out["history"] = json(&n.reputation_history(&id))?;
        let hex = id.to_hex();
        out["ban"] = json(
            &n.bans(now)
                .iter()
                .find(|b| b.target.to_string() == hex)
                .map(BanView::from_ban),
        )?;
    }
    Ok(out)
}
