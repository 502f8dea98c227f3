//! Operator commands: `add_peer`, `remove_peer` (with its cooldown), `find_peer`, `send_app`,
//! `shutdown`, `ban` and `unban`. Checks that can fail at once return an error; outcomes that
//! take time arrive as events.

use super::{CommandError, Event, Node, PeerError};
use crate::addr::{Host, PeerAddress, Transport};
use crate::addrbook::Source;
use crate::bans::{Ban, BanOrigin, BanTarget};
use crate::id::{ConnId, NodeId, RequestId};
use crate::limits::Limits;
use crate::metrics::bump;
use crate::peer::{DisconnectReason, PeerState, Priority};
use crate::wire::{self, App, Message};
use core::net::SocketAddr;
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Identities an operator removed, and until when the node leaves them alone (it does not
/// dial them on its own; `add_peer` still reaches them). Bounded by
/// `limits.max_removed_cooldowns`: the one expiring first is forgotten first.
#[derive(Debug, Default)]
pub(super) struct Cooldowns {
    until: BTreeMap<NodeId, Instant>,
}

impl Cooldowns {
    /// `node` was removed at `now`: left alone for `limits.removed_cooldown`.
    fn insert(&mut self, node: NodeId, now: Instant, limits: &Limits) {
        if self.until.len() >= limits.max_removed_cooldowns {
            let oldest = self.until.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.until.remove(&k);
            }
        }
        self.until.insert(node, now + limits.removed_cooldown);
    }

    /// Forgets the cooldowns over at `now`.
    pub(super) fn prune(&mut self, now: Instant) {
        self.until.retain(|_, until| *until > now);
    }

    /// Whether `node` is still cooling down.
    pub(super) fn contains(&self, node: &NodeId) -> bool {
        self.until.contains_key(node)
    }
}

impl Node {
    /// Dials `address` (any format of [`PeerAddress::parse`]). Checks that can fail at once do;
    /// the final outcome arrives as [`Event::AddPeerFinished`] with the returned id.
    /// Dials `address` (any format of [`PeerAddress::parse`]; hostnames are resolved through
    /// the core's DNS). Checks that can fail at once do; the final outcome arrives as
    /// [`Event::AddPeerFinished`] with the returned id.
    pub fn add_peer(
        &mut self,
        address: &str,
        priority: Priority,
        now: Instant,
    ) -> Result<RequestId, CommandError> {
        self.tick(now);
        if self.shutting_down {
            return Err(CommandError::ShuttingDown);
        }
        let addr = PeerAddress::parse(address)?;
        if addr.transport == Transport::Quic && self.proxy_for(&addr).is_some() {
            return Err(CommandError::QuicThroughProxy(addr.to_string()));
        }
        if let Some(id) = addr.expected_id {
            if id == self.node_id() {
                return Err(CommandError::SelfConnection);
            }
            if self.pool.by_node(&id).is_some() {
                return Err(CommandError::AlreadyConnected(id.to_string()));
            }
            if let Some(why) = self.ban_of(None, Some(&id), now) {
                return Err(CommandError::Blacklisted(why));
            }
        }
        match (&addr.host, self.proxy_for(&addr)) {
            (Host::Ip(ip), _) => {
                let sock = SocketAddr::new(*ip, addr.port);
                self.check_dial(sock, addr.transport, priority)?;
                let request = self.alloc_request();
                let unix = self.clock.unix(now);
                self.book
                    .add(addr.clone(), Source::Operator, unix, &mut self.rng);
                self.dial(sock, addr, priority, Some(request), now);
                Ok(request)
            }
            // A name the proxy resolves: `.onion` always, host names with `proxy_all`.
            (Host::Onion(_) | Host::Domain(_), Some(proxy)) => {
                self.check_proxied_dial(&addr, priority)?;
                let request = self.alloc_request();
                let unix = self.clock.unix(now);
                self.book
                    .add(addr.clone(), Source::Operator, unix, &mut self.rng);
                self.dial(proxy, addr, priority, Some(request), now);
                Ok(request)
            }
            (Host::Onion(_), None) => Err(CommandError::ProxyRequired(addr.to_string())),
            (Host::Domain(_), None) => {
                if self.pool.is_full() && priority != Priority::High {
                    return Err(CommandError::ConnectionLimitReached {
                        max: self.pool.max_connections,
                    });
                }
                let request = self.alloc_request();
                let unix = self.clock.unix(now);
                self.book
                    .add(addr.clone(), Source::Operator, unix, &mut self.rng);
                self.resolve(addr, Some(request), priority, now)?;
                Ok(request)
            }
        }
    }

    /// Disconnects the peer named by `target`: a node id (64 hex characters, or a unique prefix
    /// of at least 8), or an address. Graceful: `Disconnect{UserRequested}`, then wait for the
    /// ack up to `disconnect_timeout`. [`Event::RemovePeerFinished`] follows.
    pub fn remove_peer(
        &mut self,
        target: &str,
        ban: bool,
        now: Instant,
    ) -> Result<RequestId, CommandError> {
        self.tick(now);
        let id = self.find_peer(target)?;
        if ban {
            let t = match self.pool.get(id).and_then(|c| c.node_id()) {
                Some(n) => n.to_string(),
                None => self
                    .pool
                    .get(id)
                    .map(|c| c.link.remote.ip().to_string())
                    .unwrap_or_default(),
            };
            let unix = self.clock.unix(now);
            let target: BanTarget = t.parse().map_err(|e: crate::bans::BanTargetError| {
                CommandError::InvalidBanTarget(e.to_string())
            })?;
            self.bans
                .ban(
                    target,
                    "removed and banned by the operator",
                    BanOrigin::Operator,
                    unix,
                    None,
                )
                .map_err(|e| CommandError::BanList(e.to_string()))?;
            let canonical = target.canonical();
            bump(&mut self.counters.bans, "operator");
            let added = self
                .bans
                .list(unix)
                .find(|b| b.target == canonical)
                .cloned();
            if let Some(b) = added {
                self.outbox.event(Event::BanAdded { ban: b });
            }
        }
        if let Some(n) = self.pool.get(id).and_then(|c| c.node_id()) {
            self.removed.insert(n, now, &self.config.limits);
        }
        let request = self.alloc_request();
        if let Some(c) = self.pool.get_mut(id) {
            c.remove_request = Some(request);
        }
        self.disconnect(
            id,
            DisconnectReason::UserRequested,
            "removed by the operator",
            true,
        );
        Ok(request)
    }

    /// The connection an operator means by `target` (node id, unique id prefix, or address).
    pub fn find_peer(&self, target: &str) -> Result<ConnId, CommandError> {
        let t = target.trim();
        let unknown = || CommandError::UnknownPeer(t.to_string());
        let hexish = t.trim_end_matches("...");
        if hexish.len() >= 8 && hexish.chars().all(|c| c.is_ascii_hexdigit()) {
            let lower = hexish.to_ascii_lowercase();
            let matches: Vec<ConnId> = self
                .pool
                .iter()
                .filter(|c| c.node_id().is_some_and(|n| n.to_hex().starts_with(&lower)))
                .map(|c| c.id)
                .collect();
            return match matches.as_slice() {
                [one] => Ok(*one),
                [] => Err(unknown()),
                _ => Err(CommandError::UnknownPeer(format!(
                    "{t} (ambiguous: {} peers match)",
                    matches.len()
                ))),
            };
        }
        let addr = PeerAddress::parse(t)?;
        let sock = addr.socket_addr();
        self.pool
            .iter()
            .find(|c| {
                sock.is_some_and(|s| c.link.remote == s || c.session.listen_addr == Some(s))
                    || addr.expected_id.is_some_and(|e| c.node_id() == Some(e))
            })
            .map(|c| c.id)
            .ok_or_else(unknown)
    }

    /// Sends an application payload to a connected peer.
    pub fn send_app(&mut self, peer: &NodeId, payload: &[u8]) -> Result<(), CommandError> {
        if payload.len() > wire::MAX_APP_PAYLOAD {
            return Err(CommandError::PayloadTooLarge {
                len: payload.len(),
                max: wire::MAX_APP_PAYLOAD,
            });
        }
        let id = self
            .pool
            .by_node(peer)
            .ok_or_else(|| CommandError::UnknownPeer(peer.to_string()))?;
        self.send(
            id,
            &Message::App(App {
                payload: ByteBuf::from(payload.to_vec()),
            }),
        );
        Ok(())
    }

    /// Closes every connection: connected peers get `Disconnect{Shutdown}` and up to
    /// `disconnect_timeout` to acknowledge; [`Event::ShutdownComplete`] follows. New dials and
    /// accepts are refused from now on.
    pub fn shutdown(&mut self, now: Instant) {
        self.tick(now);
        self.shutting_down = true;
        for id in self.pool.ids() {
            match self.pool.get(id).map(|c| c.state) {
                Some(PeerState::Connected) => {
                    self.disconnect(id, DisconnectReason::Shutdown, "", true)
                }
                Some(_) => self.fail(
                    id,
                    PeerError::ShuttingDown,
                    Some(DisconnectReason::Shutdown),
                ),
                None => {}
            }
        }
        self.after_removal();
    }

    /// Bans a node id (64 hex characters), an IP address (a port is ignored) or a subnet in
    /// CIDR form, for `duration` (`None`: permanently). Connected peers it covers are
    /// disconnected with `Banned`; they cannot connect again in either direction until the ban
    /// expires or is lifted.
    pub fn ban(
        &mut self,
        target: &str,
        duration: Option<Duration>,
        reason: &str,
        now: Instant,
    ) -> Result<Ban, CommandError> {
        self.tick(now);
        let target: BanTarget = target
            .trim()
            .parse()
            .map_err(|e: crate::bans::BanTargetError| CommandError::InvalidBanTarget(e.to_string()))?;
        let unix = self.clock.unix(now);
        let reason = if reason.trim().is_empty() {
            "banned by the operator"
        } else {
            reason
        };
        self.bans
            .ban(target, reason, BanOrigin::Operator, unix, duration)
            .map_err(|e| CommandError::BanList(e.to_string()))?;
        let ban = self
            .bans
            .list(unix)
            .find(|b| b.target == target.canonical())
            .cloned()
            .ok_or_else(|| CommandError::BanList("the ban did not take".into()))?;
        bump(&mut self.counters.bans, "operator");
        self.outbox.event(Event::BanAdded { ban: ban.clone() });
        self.enforce_bans(now);
        Ok(ban)
    }

    /// Lifts a ban; the target as given to [`Node::ban`].
    pub fn unban(&mut self, target: &str, now: Instant) -> Result<Ban, CommandError> {
        self.tick(now);
        let t: BanTarget = target
            .trim()
            .parse()
            .map_err(|e: crate::bans::BanTargetError| CommandError::InvalidBanTarget(e.to_string()))?;
        let ban = self
            .bans
            .unban(&t)
            .ok_or_else(|| CommandError::NotBanned(target.trim().to_string()))?;
        self.outbox.event(Event::BanRemoved {
            ban: ban.clone(),
            expired: false,
        });
        Ok(ban)
    }

    /// The active bans.
    pub fn bans(&self, now: Instant) -> Vec<Ban> {
        self.bans.list(self.clock.unix(now)).cloned().collect()
    }
}
