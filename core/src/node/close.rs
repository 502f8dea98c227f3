//! Ending connections: the one teardown path ([`Node::close`]) that every ending goes through —
//! a failure before the handshake completed, or the close of a connected peer — so the pool,
//! timers, counters, address book, reputation and events are updated in one place; and the
//! graceful start of a close ([`Node::disconnect`]).

use super::recv::frame_of;
use super::{error::reason_for, move_state, Event, Node, PeerError};
use crate::handshake::HandshakeError;
use crate::id::ConnId;
use crate::metrics::bump;
use crate::peer::{Direction, DisconnectReason, PeerState};
use crate::pool::Closing;
use crate::reputation::{DisconnectKind, Report};
use crate::wire::{self, Disconnect, Message};

/// How a connection ends.
#[derive(Debug)]
pub(super) enum Ending {
    /// Before the handshake completed: `error` is reported ([`Event::ConnectionFailed`], and to
    /// the `add_peer` request waiting for it); the peer is told `reason` (by default the one
    /// [`reason_for`] the error) if the handshake was under way.
    Failed {
        error: PeerError,
        reason: Option<DisconnectReason>,
    },
    /// A connected peer goes away ([`Event::PeerDisconnected`]).
    Closed {
        reason: DisconnectReason,
        /// The peer initiated it (or the transport failed).
        by_peer: bool,
        /// The peer acknowledged our `Disconnect`.
        acked: bool,
    },
}

impl Node {
    /// Fails a connection that never got connected: tells the peer why (if the transport is
    /// up), closes it, reports the outcome.
    pub(super) fn fail(&mut self, id: ConnId, error: PeerError, reason: Option<DisconnectReason>) {
        self.close(id, Ending::Failed { error, reason }, true)
    }

    /// Closes a connected peer now (the `Disconnect` is already sent, or received).
    pub(super) fn finish_close(
        &mut self,
        id: ConnId,
        reason: DisconnectReason,
        by_peer: bool,
        acked: bool,
    ) {
        self.close(
            id,
            Ending::Closed {
                reason,
                by_peer,
                acked,
            },
            true,
        )
    }

    /// Starts closing a connected peer: `Disconnect{reason}` now; with `graceful`, wait for the
    /// ack up to `disconnect_timeout`, else close at once. A connection not yet connected fails.
    pub(super) fn disconnect(
        &mut self,
        id: ConnId,
        reason: DisconnectReason,
        text: &str,
        graceful: bool,
    ) {
        let Some(c) = self.pool.get(id) else { return };
        if c.closing.is_some() {
            return;
        }
        if c.state != PeerState::Connected {
            self.fail(id, PeerError::Closed(reason.to_string()), Some(reason));
            return;
        }
        let text = truncate(text, wire::MAX_DISCONNECT_TEXT_LEN);
        self.send(
            id,
            &Message::Disconnect(Disconnect {
                reason: reason.code(),
                text,
            }),
        );
        if graceful {
            let deadline = self.now + self.config.network.peers.disconnect_timeout;
            if let Some(c) = self.pool.get_mut(id) {
                c.closing = Some(Closing { reason, deadline });
            }
            self.schedule(id);
        } else {
            self.finish_close(id, reason, false, false);
        }
    }

    /// The one teardown path: takes the connection out of the pool and the timers, closes the
    /// transport if it is still up (after a last `Disconnect` for a failed handshake), and
    /// accounts for the ending in the counters, the address book, reputation and events.
    pub(super) fn close(&mut self, id: ConnId, ending: Ending, transport_up: bool) {
        let Some(mut c) = self.pool.remove(id) else {
            return;
        };
        self.timers.unschedule(&c);
        if transport_up {
            if let Ending::Failed { error, reason } = &ending {
                if c.state == PeerState::Handshaking && !matches!(error, PeerError::Refused { .. })
                {
                    let reason = reason.unwrap_or_else(|| reason_for(error));
                    let text = truncate(&error.to_string(), wire::MAX_DISCONNECT_TEXT_LEN);
                    let msg = Message::Disconnect(Disconnect {
                        reason: reason.code(),
                        text,
                    });
                    // Out of the pool already: sealed with the connection's own sealer, if it
                    // has one (a responder that refuses right after the confirmation).
                    if let Some(bytes) = frame_of(&msg, c.session.sealer.as_deref_mut()) {
                        self.outbox.transmit(id, bytes);
                    }
                }
            }
            self.outbox.close(id);
        }
        self.counters.closed_messages += c.stats.messages();
        self.counters.closed_bytes += c.stats.bytes();
        let unix = self.clock.unix(self.now);
        let address = c.link.remote;
        let (peer, acked) = match ending {
            Ending::Failed { error, .. } => {
                move_state(&mut c, PeerState::Failed);
                bump(&mut self.counters.handshake_failures, error.kind());
                if c.link.direction == Direction::Outbound {
                    let outcome = match &error {
                        PeerError::ConnectFailed(_) => "connect_failed",
                        PeerError::Timeout(_) => "timeout",
                        PeerError::HandshakeFailed(_) => "handshake_failed",
                        PeerError::Refused { .. } => "refused",
                        _ => "other",
                    };
                    bump(&mut self.counters.dial_outcomes, outcome);
                }
                if let Some(a) = &c.link.dial_addr {
                    match &error {
                        PeerError::AlreadyConnected(_) | PeerError::ShuttingDown => {}
                        PeerError::HandshakeFailed(HandshakeError::SelfConnection)
                        | PeerError::Refused {
                            reason: DisconnectReason::SelfConnection,
                            ..
                        } => {
                            self.book.remove(a);
                        }
                        _ => self.book.mark_failure(a, unix),
                    }
                }
                self.outbox.event(Event::ConnectionFailed {
                    conn: id,
                    address,
                    error: error.clone(),
                });
                if let Some(request) = c.request {
                    self.outbox.event(Event::AddPeerFinished {
                        request,
                        result: Err(error),
                    });
                }
                (None, false)
            }
            Ending::Closed {
                reason,
                by_peer,
                acked,
            } => {
                move_state(&mut c, PeerState::Disconnected);
                bump(&mut self.counters.disconnections, reason.as_str());
                let peer = c.session.hello.as_ref().map(|h| h.node_id);
                if by_peer && reason == DisconnectReason::ConnectionLimitReached {
                    // The peer is full (it may have answered our GetPeers first): try it again
                    // later.
                    if let Some(a) = &c.link.dial_addr {
                        self.book.mark_failure(a, unix);
                    }
                }
                if let Some(peer) = peer {
                    let kind = match (by_peer, reason) {
                        (false, _) => DisconnectKind::Local,
                        (true, DisconnectReason::NetworkError) => DisconnectKind::Unclean,
                        (true, _) => DisconnectKind::Clean,
                    };
                    self.reputation
                        .report(peer, Report::Disconnected(kind), unix);
                    self.outbox.event(Event::PeerDisconnected {
                        conn: id,
                        peer,
                        address,
                        reason,
                        by_peer,
                    });
                }
                (peer, acked)
            }
        };
        if let Some(request) = c.remove_request {
            self.outbox.event(Event::RemovePeerFinished {
                request,
                peer,
                address,
                acked,
            });
        }
        self.after_removal();
    }

    /// After the last connection closed during a shutdown: [`Event::ShutdownComplete`], once.
    pub(super) fn after_removal(&mut self) {
        if self.shutting_down && !self.shutdown_reported && self.pool.len() == 0 {
            self.shutdown_reported = true;
            self.outbox.event(Event::ShutdownComplete);
        }
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
