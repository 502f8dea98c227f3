//! The control socket's server: accepts connections on `control.sock` (mode 0600), refuses
//! every uid but the node's own (`SO_PEERCRED`), reads one request line (at most
//! [`MAX_REQUEST_LEN`] bytes), runs the command against the node and answers one response
//! line. The protocol is [`crate::control`]; an error is one line for the operator, sent in
//! the response.

use super::Ctx;
use crate::control::{self, Command, Response, MAX_REQUEST_LEN, PROTOCOL_VERSION};
use crate::error::Error;
use crate::render::{BanView, KnownView, PeerView, StatusView};
use crate::util;
use qudag_peer::NodeId;
use qudag_peer::USER_AGENT;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{error, warn};

/// Binds the control socket `sock` and makes it private to this user (mode 0600).
pub(super) fn bind(sock: &Path) -> Result<UnixListener, Error> {
    let listener = UnixListener::bind(sock).map_err(|e| {
        Error::Start(format!(
            "cannot create control socket {}: {e}",
            sock.display()
        ))
    })?;
    std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::Start(format!("cannot set permissions of {}: {e}", sock.display())))?;
    Ok(listener)
}

/// Serves `listener` until aborted, one task per connection.
pub(super) async fn accept_loop(listener: UnixListener, ctx: Arc<Ctx>) {
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
    let gone = |e: qudag_peer::CommandError| format!("the node is stopping: {e}");
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
fn target_error(target: &str, e: qudag_peer::CommandError) -> String {
    use qudag_peer::CommandError;
    let t = target.trim();
    match e {
        CommandError::InvalidAddress(_) if t.bytes().all(|b| b.is_ascii_hexdigit()) => format!(
            "unknown peer: {t} (a node-id prefix needs at least 8 hex characters)"
        ),
        CommandError::InvalidAddress(a) => format!(
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
            Err(e @ qudag_peer::CommandError::InvalidAddress(_)) => format!(
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
