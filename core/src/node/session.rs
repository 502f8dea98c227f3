//! The session: from a connected transport to a proven, connected peer. Who we are in a
//! handshake ([`Local`], owned data), the handshake messages, the switch to the sealed
//! channel, and the checks that need the whole node once the peer is proven
//! ([`Node::on_established`]: bans, reputation, duplicate connections, listen addresses).

use super::{Event, Node, PeerError};
use crate::addr::{PeerAddress, Transport};
use crate::addrbook::Source;
use crate::channel::SessionKeys;
use crate::config::Config;
use crate::handshake::{self, HandshakeError, HandshakeState, LocalHello, PeerHello};
use crate::id::ConnId;
use crate::identity::Identity;
use crate::metrics::bump;
use crate::peer::{Direction, DisconnectReason, PeerState};
use crate::reputation::Report;
use crate::wire::{Message, MessageType, Ping};
use core::net::SocketAddr;
use std::time::{Duration, Instant};

/// What this node says about itself in a handshake: its own data, so that lending a
/// [`LocalHello`] borrows only this, never the RNG the handshake draws from.
#[derive(Debug)]
pub(super) struct Local {
    pub(super) identity: Identity,
    pub(super) capabilities: Vec<String>,
    user_agent: String,
    listen_addr: String,
    quic_listen_addr: Option<String>,
    max_skew: Duration,
}

impl Local {
    pub(super) fn new(identity: Identity, config: &Config) -> Local {
        let n = &config.network;
        Local {
            identity,
            capabilities: super::DEFAULT_CAPABILITIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            user_agent: super::USER_AGENT.to_string(),
            listen_addr: n.listen.to_string(),
            quic_listen_addr: n
                .quic_listen
                .map(|a| PeerAddress::from_socket_addr_via(a, Transport::Quic).to_string()),
            max_skew: n.peers.max_clock_skew,
        }
    }

    /// Our hello at `unix_secs`.
    pub(super) fn hello(&self, unix_secs: u64) -> LocalHello<'_> {
        LocalHello {
            identity: &self.identity,
            capabilities: &self.capabilities,
            user_agent: &self.user_agent,
            listen_addr: Some(self.listen_addr.clone()),
            unix_secs,
            max_skew: self.max_skew,
            quic_listen_addr: self.quic_listen_addr.clone(),
        }
    }
}

impl Node {
    pub(super) fn on_connected(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        if c.state != PeerState::Connecting {
            return;
        }
        // Through the proxy: the SOCKS5 negotiation first, still under `connection_timeout`.
        if let Some(socks) = c.link.socks.as_mut() {
            if socks.is_started() {
                return;
            }
            match socks.start() {
                Ok(bytes) => self.outbox.transmit(id, bytes),
                Err(e) => self.fail(id, PeerError::Proxy(e), None),
            }
            return;
        }
        self.start_handshake(id, now);
    }

    /// Sends our hello on a freshly connected (or freshly tunnelled) outbound connection.
    pub(super) fn start_handshake(&mut self, id: ConnId, now: Instant) {
        let hs_timeout = self.config.network.peers.handshake_timeout;
        let Some(c) = self.pool.get(id) else { return };
        if c.state != PeerState::Connecting {
            return;
        }
        let expected = c.expected_id;
        let unix = self.unix_secs();
        let (hs, msg) = handshake::initiate(&self.local.hello(unix), expected, &mut self.rng);
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let mut st = c.state;
        let r = st.transition(PeerState::Handshaking);
        debug_assert!(r.is_ok());
        c.state = st;
        c.session.hs = hs;
        c.deadline = now + hs_timeout;
        c.keepalive.last_recv = now;
        self.send(id, &msg);
        self.schedule(id);
    }

    /// Switches a connection to the sealed channel.
    fn install_keys(&mut self, id: ConnId, keys: &SessionKeys) {
        let limits = self.rekey_limits;
        if let Some(c) = self.pool.get_mut(id) {
            c.session.install_keys(keys, limits);
        }
    }

    pub(super) fn on_handshake_message(&mut self, id: ConnId, msg: Message, now: Instant) {
        let Some(c) = self.pool.get(id) else { return };
        let expected = c.session.hs.expects();
        let result = match (&c.session.hs, msg) {
            (HandshakeState::AwaitHello, Message::Handshake(h)) => {
                let unix = self.unix_secs();
                match handshake::on_hello(&h, &self.local.hello(unix), &mut self.rng) {
                    // Refusals on the claimed id are safe before it is proven: claiming someone
                    // else's id only gets the claimant refused.
                    Ok((_, _, claimed))
                        if self.ban_of(None, Some(&claimed.node_id), now).is_some() =>
                    {
                        let why = self
                            .ban_of(None, Some(&claimed.node_id), now)
                            .unwrap_or_default();
                        Err(PeerError::Blacklisted(why))
                    }
                    Ok((_, _, claimed)) if self.low_reputation(&claimed.node_id, now).is_some() => {
                        Err(self
                            .low_reputation(&claimed.node_id, now)
                            .unwrap_or(PeerError::ShuttingDown))
                    }
                    Ok((st, reply, claimed)) => {
                        if let Some(c) = self.pool.get_mut(id) {
                            c.session.hs = st;
                            c.session.hello = Some(claimed);
                        }
                        self.send(id, &reply);
                        Ok(None)
                    }
                    Err(e) => Err(PeerError::HandshakeFailed(e)),
                }
            }
            (HandshakeState::AwaitResponse { .. }, Message::HandshakeResponse(r)) => {
                let unix = self.unix_secs();
                match handshake::on_response(&c.session.hs, &r, &self.local.hello(unix)) {
                    Ok((confirm, peer, keys)) => Ok(Some((peer, Some(confirm), keys))),
                    Err(e) => Err(PeerError::HandshakeFailed(e)),
                }
            }
            (HandshakeState::AwaitConfirm { .. }, Message::HandshakeConfirm(cf)) => {
                handshake::on_confirm(&c.session.hs, &cf)
                    .map(|(p, keys)| Some((p, None, keys)))
                    .map_err(PeerError::HandshakeFailed)
            }
            (_, m) => Err(PeerError::HandshakeFailed(
                HandshakeError::UnexpectedMessage {
                    got: m.message_type(),
                    expected: expected.unwrap_or(MessageType::Handshake),
                },
            )),
        };
        match result {
            Ok(None) => {}
            Ok(Some((peer, confirm, keys))) => self.on_established(id, peer, confirm, keys, now),
            Err(e) => self.fail(id, e, None),
        }
    }

    /// The peer proved `peer`. Applies the checks that need the whole node, then connects.
    ///
    /// The channel switches to sealed frames right after `HandshakeConfirm`: the responder
    /// (no `confirm` to send) at once, since the initiator seals everything after its
    /// confirmation; the initiator right after sending it. A refusal before that point goes out
    /// in plain text, one after it sealed, matching what the peer expects.
    pub(super) fn on_established(
        &mut self,
        id: ConnId,
        peer: PeerHello,
        confirm: Option<Message>,
        keys: SessionKeys,
        now: Instant,
    ) {
        if confirm.is_none() {
            self.install_keys(id, &keys);
        }
        let Some(c) = self.pool.get(id) else { return };
        let direction = c.link.direction;
        if let Some(why) = self.ban_of(Some(c.link.remote.ip()), Some(&peer.node_id), now) {
            return self.fail(
                id,
                PeerError::Blacklisted(why),
                Some(DisconnectReason::Banned),
            );
        }
        if let Some(err) = self.low_reputation(&peer.node_id, now) {
            return self.fail(id, err, Some(DisconnectReason::LowReputation));
        }
        if let Some(confirm) = confirm {
            self.send(id, &confirm);
            self.install_keys(id, &keys);
        }
        if let Some(other_id) = self.pool.by_node(&peer.node_id) {
            let other_dir = self.pool.get(other_id).map(|o| o.link.direction);
            // Both sides apply the same rule, so they keep the same connection: the one whose
            // initiator has the lower node id; if both were opened by the same side, the older.
            let initiator = |d: Direction| {
                if d == Direction::Outbound {
                    self.node_id()
                } else {
                    peer.node_id
                }
            };
            // A connection already closing (an operator removal waiting for its ack) cannot be
            // replaced: closing it is under way, and dropping it from the index while it is
            // still connected would leave two connections to one node (found by the node_ops
            // fuzzer). The newcomer is refused; the peer reconnects once the old one is gone.
            let other_closing = self.pool.get(other_id).is_some_and(|o| o.closing.is_some());
            let keep_new = match other_dir {
                Some(od) if od != direction && !other_closing => {
                    initiator(direction) < initiator(od)
                }
                _ => false,
            };
            if keep_new {
                self.disconnect(other_id, DisconnectReason::DuplicateConnection, "", false);
            } else {
                let err = PeerError::AlreadyConnected(peer.node_id.to_string());
                self.fail(id, err, Some(DisconnectReason::DuplicateConnection));
                return;
            }
        }
        let unix = self.clock.unix(now);
        let resolve = |a: Option<&str>, transport: Transport| {
            let a = a?;
            let c = self.pool.get(id)?;
            // Tunnelled to a name, the socket's address is the proxy's: it tells nothing.
            let named = c
                .link
                .dial_addr
                .as_ref()
                .is_some_and(|d| d.socket_addr().is_none());
            if c.link.socks.is_some() && named {
                let l = PeerAddress::parse(a).ok()?;
                let l = l.socket_addr().filter(|_| l.transport == transport)?;
                return (!l.ip().is_unspecified()).then_some(l);
            }
            resolve_listen(a, transport, c.link.remote)
        };
        let listen = resolve(peer.listen_addr.as_deref(), Transport::Tcp);
        let quic_listen = resolve(peer.quic_listen_addr.as_deref(), Transport::Quic);
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let mut st = c.state;
        let r = st.transition(PeerState::Connected);
        debug_assert!(r.is_ok());
        c.state = st;
        c.session.hs = HandshakeState::Done;
        c.session.connected_since = Some(unix);
        if c.fetch_only {
            c.deadline = now + self.config.limits.fetch_grace;
        }
        c.session.hello = Some(peer.clone());
        c.session.listen_addr = listen;
        c.session.quic_listen_addr = quic_listen;
        c.keepalive.last_recv = now;
        let address = c.link.remote;
        let transport = c.link.transport;
        let request = c.request.take();
        let dial_addr = c.link.dial_addr.clone();
        let wants_pex =
            direction == Direction::Outbound && peer.capabilities.iter().any(|c| c == "pex");
        self.pool.bind_node(peer.node_id, id);
        bump(
            &mut self.counters.connections,
            if direction == Direction::Outbound {
                "outbound"
            } else {
                "inbound"
            },
        );
        bump(
            &mut self.counters.connections_by_transport,
            transport.as_str(),
        );
        if direction == Direction::Outbound {
            bump(&mut self.counters.dial_outcomes, "connected");
        }
        self.reputation
            .report(peer.node_id, Report::Connected, unix);
        if let Some(a) = &dial_addr {
            self.book.mark_success(a, peer.node_id, unix);
        }
        // The signed handshake vouches for both listen addresses alike.
        let listens = [(listen, Transport::Tcp), (quic_listen, Transport::Quic)];
        for (l, transport) in listens {
            let Some(l) = l else { continue };
            let mut a = PeerAddress::from_socket_addr_via(l, transport);
            a.expected_id = Some(peer.node_id);
            if self.in_scope(&a) {
                self.book
                    .add(a.clone(), Source::Handshake, unix, &mut self.rng);
                self.book.mark_success(&a, peer.node_id, unix);
            }
        }
        if wants_pex {
            self.ask_peers(id, now);
        }
        self.outbox.event(Event::PeerConnected {
            conn: id,
            peer: peer.node_id,
            address,
            direction,
        });
        if let Some(request) = request {
            self.outbox.event(Event::AddPeerFinished {
                request,
                result: Ok(peer.node_id),
            });
        }
        // A first ping right away gives a latency figure within one round trip.
        self.send_ping(id, now);
        self.schedule(id);
    }

    pub(super) fn send_ping(&mut self, id: ConnId, now: Instant) {
        let nonce = self.rng.next_u64();
        let interval = self.config.network.peers.ping_interval;
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        c.keepalive.ping = Some((nonce, now));
        c.keepalive.next_ping = now + interval;
        self.send(id, &Message::Ping(Ping { nonce }));
    }
}

/// The dialable address a peer advertised: an unspecified IP means "the IP you see me at".
/// An advertised listen address of `transport` (a `quic://` address for QUIC, a plain one for
/// TCP) as a socket address, its unspecified IP replaced by the `observed` one.
fn resolve_listen(
    advertised: &str,
    transport: Transport,
    observed: SocketAddr,
) -> Option<SocketAddr> {
    let a = PeerAddress::parse(advertised).ok()?;
    if a.transport != transport {
        return None;
    }
    let a = a.socket_addr()?;
    if a.ip().is_unspecified() {
        Some(SocketAddr::new(observed.ip(), a.port()))
    } else {
        Some(a)
    }
}
