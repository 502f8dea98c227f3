//! Timers: the table of connection deadlines and the maintenance tick ([`Timers`], owned
//! data), and the node's handling of a timer that fired.
//!
//! Invariant: every connection with a deadline ([`deadline`]) has an entry in the table no
//! later than that deadline (entries are lazy: a deadline that moved later is found when the
//! entry fires). Checked by `Node::check_invariants`.

use super::{Node, Output, PeerError, Stage, WakeReason};
use crate::dns::DnsTimeoutAction;
use crate::id::ConnId;
use crate::peer::{DisconnectReason, PeerState};
use crate::pool::Conn;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The connection timer index and the next maintenance pass.
#[derive(Debug)]
pub(super) struct Timers {
    /// (deadline, connection), earliest first.
    set: BTreeSet<(Instant, ConnId)>,
    /// When the periodic maintenance pass runs next.
    pub(super) next_maintenance: Instant,
}

impl Timers {
    pub(super) fn new(now: Instant) -> Timers {
        Timers {
            set: BTreeSet::new(),
            next_maintenance: now,
        }
    }

    /// The earliest connection timer.
    pub(super) fn first(&self) -> Option<(Instant, ConnId)> {
        self.set.first().copied()
    }

    /// Makes sure the index holds an entry for `c` no later than `at`.
    pub(super) fn schedule(&mut self, c: &mut Conn, at: Option<Instant>) {
        let Some(at) = at else { return };
        if let Some(old) = c.timer_at {
            if old <= at {
                return;
            }
            self.set.remove(&(old, c.id));
        }
        self.set.insert((at, c.id));
        c.timer_at = Some(at);
    }

    /// Drops `c`'s entry (the connection is gone).
    pub(super) fn unschedule(&mut self, c: &Conn) {
        if let Some(at) = c.timer_at {
            self.set.remove(&(at, c.id));
        }
    }

    /// Takes the earliest entry due at `now`, if any.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<ConnId> {
        let &(at, id) = self.set.first()?;
        if at > now {
            return None;
        }
        self.set.remove(&(at, id));
        Some(id)
    }
}

/// When `c` next needs attention: its connect, handshake or address-fetch deadline, the
/// disconnect-ack deadline while closing, else the next ping or the inactivity limit.
pub(super) fn deadline(c: &Conn, inactivity_timeout: Duration) -> Option<Instant> {
    if let Some(cl) = &c.closing {
        return Some(cl.deadline);
    }
    match c.state {
        PeerState::Connecting | PeerState::Handshaking => Some(c.deadline),
        PeerState::Connected if c.fetch_only => Some(c.deadline),
        PeerState::Connected => {
            let k = &c.keepalive;
            let idle = k.last_recv + inactivity_timeout;
            Some(if k.ping.is_some() {
                idle
            } else {
                idle.min(k.next_ping)
            })
        }
        _ => None,
    }
}

impl Node {
    /// When the node next needs `Input::Timeout`, and why.
    pub fn poll_timeout(&self) -> (Instant, WakeReason) {
        let mut best = (self.timers.next_maintenance, WakeReason::Maintenance);
        if let Some(at) = self.dns.poll_timeout() {
            if at < best.0 {
                best = (at, WakeReason::Dns);
            }
        }
        if let Some((at, conn)) = self.timers.first() {
            if at < best.0 {
                let reason = match self.pool.get(conn) {
                    Some(c) if c.closing.is_some() => WakeReason::DisconnectAck,
                    Some(c) if c.state == PeerState::Connecting => WakeReason::ConnectTimeout,
                    Some(c) if c.state == PeerState::Handshaking => WakeReason::HandshakeTimeout,
                    _ => WakeReason::KeepAlive,
                };
                best = (at, reason);
            }
        }
        best
    }

    /// Makes sure the timer index holds an entry no later than the connection's deadline.
    pub(super) fn schedule(&mut self, id: ConnId) {
        let inactivity = self.config.network.peers.inactivity_timeout;
        if let Some(c) = self.pool.get_mut(id) {
            self.timers.schedule(c, deadline(c, inactivity));
        }
    }

    pub(super) fn on_timeout(&mut self, now: Instant) {
        if self.dns.poll_timeout().is_some_and(|t| t <= now) {
            for action in self.dns.handle_timeout(now, &mut self.rng) {
                match action {
                    DnsTimeoutAction::Retry { new_id, bytes, .. } => {
                        self.counters.dns_queries += 1;
                        let server = self.config.network.dns_resolver;
                        self.outbox.push(Output::DnsQuery {
                            id: new_id,
                            server,
                            bytes,
                        });
                    }
                    DnsTimeoutAction::Failed { name, kind, .. } => {
                        self.on_dns_failed(&name, kind, "no answer from the resolver", now)
                    }
                }
            }
        }
        if now >= self.timers.next_maintenance {
            self.timers.next_maintenance = now + self.config.limits.maintenance_interval;
            self.maintenance(now);
        }
        while let Some(id) = self.timers.pop_due(now) {
            if let Some(c) = self.pool.get_mut(id) {
                c.timer_at = None;
            }
            self.on_conn_timer(id, now);
            self.schedule(id);
        }
    }

    pub(super) fn on_conn_timer(&mut self, id: ConnId, now: Instant) {
        let inactivity = self.config.network.peers.inactivity_timeout;
        let Some(c) = self.pool.get(id) else { return };
        if let Some(cl) = &c.closing {
            if now >= cl.deadline {
                let reason = cl.reason;
                self.finish_close(id, reason, false, false);
            }
            return;
        }
        match c.state {
            PeerState::Connecting if now >= c.deadline => {
                self.fail(id, PeerError::Timeout(Stage::Connect), None)
            }
            PeerState::Handshaking if now >= c.deadline => {
                self.fail(id, PeerError::Timeout(Stage::Handshake), None)
            }
            PeerState::Connected if c.fetch_only && now >= c.deadline => self.disconnect(
                id,
                DisconnectReason::ConnectionLimitReached,
                "the node is full",
                false,
            ),
            PeerState::Connected if c.fetch_only => {}
            PeerState::Connected => {
                if now >= c.keepalive.last_recv + inactivity {
                    self.disconnect(id, DisconnectReason::InactivityTimeout, "", false);
                } else if c.keepalive.ping.is_none() && now >= c.keepalive.next_ping {
                    self.send_ping(id, now);
                }
            }
            _ => {}
        }
    }
}
