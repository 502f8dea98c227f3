//! Receiving and framing: the SOCKS5 negotiation in front of a proxied connection, frame
//! reassembly and opening of sealed frames, the dispatch of each message by connection state
//! ([`Node::on_message`], exhaustive over [`Message`]), and the sending side (encoding and
//! sealing one message into one frame).

use super::close::Ending;
use super::{IoFailure, Node, PeerError};
use crate::channel::{ChannelError, Sealer};
use crate::handshake::HandshakeError;
use crate::id::ConnId;
use crate::peer::{DisconnectReason, PeerState};
use crate::reputation::{Report, Violation};
use crate::socks5::Step as SocksStep;
use crate::wire::{Message, Ping, WireError};
use std::time::Instant;

/// `msg` as one frame, sealed with `sealer` once the connection has one.
pub(super) fn frame_of(msg: &Message, sealer: Option<&mut Sealer>) -> Option<Vec<u8>> {
    // Sized for the common small frames, so encoding does not regrow the buffer.
    let mut bytes = Vec::with_capacity(64);
    if let Err(e) = msg.encode_into(&mut bytes) {
        // Our own messages are built within the limits; an error is a bug.
        debug_assert!(
            false,
            "encoding our own {:?} failed: {e}",
            msg.message_type()
        );
        return None;
    }
    // After the handshake every frame is sealed.
    match sealer.map(|s| s.seal_frame(&bytes)) {
        None => Some(bytes),
        Some(Ok(sealed)) => Some(sealed),
        Some(Err(e)) => {
            // Within the frame limit and 2^64 frames: an error is a bug.
            debug_assert!(
                false,
                "sealing our own {:?} failed: {e}",
                msg.message_type()
            );
            None
        }
    }
}

impl Node {
    /// Sends `msg` on `id`, sealed once the connection has a sealer (plain to a connection
    /// no longer, or not yet, in the pool).
    pub(super) fn send(&mut self, id: ConnId, msg: &Message) {
        let mut conn = self.pool.get_mut(id);
        let sealer = conn.as_mut().and_then(|c| c.session.sealer.as_deref_mut());
        let Some(bytes) = frame_of(msg, sealer) else {
            return;
        };
        if let Some(c) = conn {
            c.stats.messages_sent += 1;
            c.stats.bytes_sent += bytes.len() as u64;
        }
        self.outbox.transmit(id, bytes);
    }

    /// Feeds the proxy's bytes to a running SOCKS5 negotiation. Returns the bytes left for the
    /// frame decoder: all of `data` when no negotiation is running, the peer's first bytes when
    /// the tunnel opened mid-`data`, `None` when nothing is left.
    pub(super) fn on_proxy_bytes<'d>(
        &mut self,
        id: ConnId,
        mut data: &'d [u8],
        now: Instant,
    ) -> Option<&'d [u8]> {
        let c = self.pool.get_mut(id)?;
        let Some(socks) = c.link.socks.as_mut().filter(|s| !s.is_connected()) else {
            return Some(data);
        };
        if c.state != PeerState::Connecting || !socks.is_started() {
            return Some(data);
        }
        let result = loop {
            match socks.receive(data) {
                Ok((n, step)) => {
                    data = data.get(n..).unwrap_or_default();
                    match step {
                        SocksStep::NeedMore => return None,
                        SocksStep::Send(bytes) => {
                            self.outbox.transmit(id, bytes);
                            if data.is_empty() {
                                return None;
                            }
                        }
                        SocksStep::Connected { .. } => break Ok(()),
                    }
                }
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) => {
                self.start_handshake(id, now);
                (!data.is_empty()).then_some(data)
            }
            Err(e) => {
                self.fail(id, PeerError::Proxy(e), None);
                None
            }
        }
    }

    pub(super) fn on_received(&mut self, id: ConnId, data: &[u8], now: Instant) {
        let Some(mut data) = self.on_proxy_bytes(id, data, now) else {
            return;
        };
        let unix = self.clock.unix(now);
        match self.pool.get_mut(id) {
            Some(c) if matches!(c.state, PeerState::Handshaking | PeerState::Connected) => {
                c.stats.bytes_received += data.len() as u64;
                c.keepalive.last_recv = now;
                c.stats.last_activity = unix;
            }
            _ => return,
        }
        while !data.is_empty() {
            let pushed = match self.pool.get_mut(id) {
                Some(c) => c.link.decoder.push(data),
                None => return,
            };
            match pushed {
                Ok(n) => data = &data[n..],
                Err(e) => return self.on_wire_error(id, e),
            }
            loop {
                let next = match self.pool.get_mut(id) {
                    Some(c) if c.state.is_terminal() => return,
                    Some(c) => match c.session.opener.as_mut() {
                        Some(opener) => c.link.decoder.next_with(|p| opener.open(p)),
                        None => c.link.decoder.next_message().map_err(ChannelError::Wire),
                    },
                    None => return,
                };
                match next {
                    Ok(Some(msg)) => {
                        if let Some(c) = self.pool.get_mut(id) {
                            c.stats.messages_received += 1;
                        }
                        self.on_message(id, msg, now);
                    }
                    Ok(None) => break,
                    Err(ChannelError::Wire(e)) => return self.on_wire_error(id, e),
                    Err(e) => return self.on_channel_error(id, e),
                }
            }
        }
        self.schedule(id);
    }

    pub(super) fn on_wire_error(&mut self, id: ConnId, e: WireError) {
        let Some(c) = self.pool.get(id) else { return };
        if c.state == PeerState::Connected {
            if let Some(p) = c.node_id() {
                let unix = self.clock.unix(self.now);
                self.reputation
                    .report(p, Report::ProtocolViolation(Violation::BadFrame), unix);
            }
            self.disconnect(id, DisconnectReason::InvalidMessage, &e.to_string(), false);
        } else {
            self.fail(
                id,
                PeerError::HandshakeFailed(HandshakeError::Malformed(e)),
                None,
            );
        }
    }

    /// A sealed frame that did not open (tampered, truncated, reordered, replayed): the stream
    /// can no longer be trusted, the connection ends with `ProtocolViolation`.
    pub(super) fn on_channel_error(&mut self, id: ConnId, e: ChannelError) {
        let Some(c) = self.pool.get(id) else { return };
        if let Some(p) = c.node_id() {
            let unix = self.clock.unix(self.now);
            self.reputation
                .report(p, Report::ProtocolViolation(Violation::BadFrame), unix);
        }
        self.disconnect(
            id,
            DisconnectReason::ProtocolViolation,
            &e.to_string(),
            false,
        );
    }

    /// One message from the peer on `id`. Exhaustive over [`Message`]: a new message type does
    /// not compile until it is handled here.
    fn on_message(&mut self, id: ConnId, msg: Message, now: Instant) {
        let Some(c) = self.pool.get(id) else { return };
        let state = c.state;
        let closing = c.closing.is_some();
        let control = matches!(msg, Message::Disconnect(_) | Message::DisconnectAck);
        if !control && closing {
            return;
        }
        if !control && state == PeerState::Handshaking {
            return self.on_handshake_message(id, msg, now);
        }
        match msg {
            Message::Disconnect(d) => {
                let reason = DisconnectReason::from_code(d.reason);
                if state == PeerState::Connected {
                    if !closing {
                        self.send(id, &Message::DisconnectAck);
                    }
                    self.finish_close(id, reason, true, closing);
                } else {
                    self.fail(
                        id,
                        PeerError::Refused {
                            reason,
                            text: d.text,
                        },
                        None,
                    );
                }
            }
            Message::DisconnectAck => {
                if closing {
                    let reason = self
                        .pool
                        .get(id)
                        .and_then(|c| c.closing.as_ref())
                        .map(|c| c.reason);
                    self.finish_close(
                        id,
                        reason.unwrap_or(DisconnectReason::UserRequested),
                        false,
                        true,
                    );
                }
            }
            Message::Ping(p) => self.send(id, &Message::Pong(p)),
            Message::Pong(p) => self.on_pong(id, p, now),
            Message::App(a) => {
                if let Some(peer) = self.pool.get(id).and_then(|c| c.node_id()) {
                    self.outbox.event(super::Event::Message {
                        peer,
                        payload: a.payload.into_vec(),
                    });
                }
            }
            Message::GetPeers(g) => self.on_get_peers(id, g, now),
            Message::Peers(p) => self.on_peers(id, p, now),
            m @ (Message::Handshake(_)
            | Message::HandshakeResponse(_)
            | Message::HandshakeConfirm(_)) => {
                if let Some(p) = self.pool.get(id).and_then(|c| c.node_id()) {
                    let unix = self.clock.unix(now);
                    self.reputation.report(
                        p,
                        Report::ProtocolViolation(Violation::Handshake),
                        unix,
                    );
                }
                let what = format!("{:?} after the handshake", m.message_type());
                self.disconnect(id, DisconnectReason::ProtocolViolation, &what, false);
            }
        }
    }

    fn on_pong(&mut self, id: ConnId, p: Ping, now: Instant) {
        let ewma_div = self.config.limits.latency_ewma_div;
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let Some(rtt) = c.keepalive.on_pong(p.nonce, now, ewma_div) else {
            return;
        };
        if let Some(peer) = c.node_id() {
            let unix = self.clock.unix(now);
            self.reputation.report(peer, Report::Latency(rtt), unix);
            self.counters.latency.observe(rtt.as_secs_f64());
            self.outbox.event(super::Event::Latency { peer, rtt });
        }
    }

    pub(super) fn on_closed(&mut self, id: ConnId, cause: IoFailure) {
        let Some(c) = self.pool.get(id) else { return };
        match c.state {
            PeerState::Connected => {
                let (reason, closing) = match &c.closing {
                    Some(cl) => (cl.reason, true),
                    None => (DisconnectReason::NetworkError, false),
                };
                self.close(
                    id,
                    Ending::Closed {
                        reason,
                        by_peer: !closing,
                        acked: false,
                    },
                    false,
                );
            }
            _ => {
                let err = match c.state {
                    PeerState::Connecting => PeerError::ConnectFailed(cause),
                    _ => PeerError::Closed(cause.to_string()),
                };
                self.close(
                    id,
                    Ending::Failed {
                        error: err,
                        reason: None,
                    },
                    false,
                );
            }
        }
    }
}
