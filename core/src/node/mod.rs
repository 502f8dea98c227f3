//! The [`Node`]: inputs in, outputs out.
//!
//! Drive it like this (see the crate docs for a complete loop):
//! 1. feed every event of the outside world with [`Node::handle_input`] (bytes received, a dial
//!    that connected or failed, a closed socket, a timer that fired) or [`Node::accept`] for a
//!    new inbound socket, and operator commands with [`Node::add_peer`], [`Node::remove_peer`]…;
//! 2. then call [`Node::poll_output`] until it returns [`Output::Timeout`], performing each
//!    output; 3. wait until that instant or the next input, whichever comes first.
//!
//! The node never panics on input: bytes from peers, operator strings and out-of-order calls
//! (data for a connection it already closed) are errors or are ignored.
//!
//! The node is a coordinator of owned sub-states (see `docs/ARCHITECTURE.md`, module map):
//! the connection `Pool` (each `Conn` made of its link, session, keep-alive, PEX state and
//! stats), the `Timers` table, the `Outbox` of outputs, the local handshake identity
//! (`Local`), the removed-peer `Cooldowns`, the `AutoBanGuard`, the address book, reputation, bans and the DNS client. The modules below each
//! handle one seam: `api` (the contract types), `error`, `timers`, `recv` (framing and the
//! receive loop), `session` (handshake to established), `close` (the one teardown path),
//! `admission` (accepting, inbound eviction), `commands` (operator commands), `pex`,
//! `discovery`, `dialing`, `trust` (reputation and bans) and `queries` (read-only views).

use crate::addr::PeerAddress;
use crate::addrbook::{AddrBook, Source, MAX_ADDRBOOK_ENTRIES};
use crate::bans::BanList;
use crate::channel::RekeyLimits;
use crate::config::Config;
use crate::dns::{DnsClient, QueryKind};
use crate::id::{ConnId, NodeId, RequestId};
use crate::identity::Identity;
use crate::inbound_limit::InboundLimiter;
use crate::metrics::Counters;
use crate::peer::{Direction, PeerState, Priority};
use crate::pool::{Conn, KeepAlive, Link, PexState, Pool, Session, Stats};
use crate::reputation::ReputationTable;
use crate::rng::Rng;
use crate::time::{Clock, UnixMillis};
use crate::wire;
use core::net::SocketAddr;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

mod admission;
mod api;
mod close;
mod commands;
mod dialing;
mod discovery;
mod error;
mod pex;
mod queries;
mod recv;
mod session;
mod timers;
mod trust;

pub use api::*;
use commands::Cooldowns;
pub use error::{CommandError, PeerError};
use session::Local;
use timers::Timers;
use trust::AutoBanGuard;

/// The outputs waiting for [`Node::poll_output`], in order.
#[derive(Debug, Default)]
struct Outbox {
    queue: VecDeque<Output>,
}

impl Outbox {
    fn push(&mut self, o: Output) {
        self.queue.push_back(o);
    }

    fn event(&mut self, e: Event) {
        self.queue.push_back(Output::Event(e));
    }

    fn transmit(&mut self, conn: ConnId, bytes: Vec<u8>) {
        self.queue.push_back(Output::Transmit { conn, bytes });
    }

    fn close(&mut self, conn: ConnId) {
        self.queue.push_back(Output::Close { conn });
    }
}

/// A QuDAG peer-management node: the sans-IO core.
#[derive(Debug)]
pub struct Node {
    config: Config,
    /// Who we are in a handshake (identity, capabilities, advertised addresses).
    local: Local,
    rng: Rng,
    clock: Clock,
    now: Instant,
    pool: Pool,
    timers: Timers,
    outbox: Outbox,
    next_conn: u64,
    next_request: u64,
    shutting_down: bool,
    shutdown_reported: bool,
    book: AddrBook,
    hardcoded_added: bool,
    last_step: Option<DiscoveryStep>,
    dns: DnsClient,
    /// Why each pending DNS question was asked, by (lower-case name, kind).
    dns_purposes: BTreeMap<(String, QueryKind), Vec<DnsPurpose>>,
    /// When each seed may be asked again.
    seed_next: BTreeMap<String, Instant>,
    reputation: ReputationTable,
    bans: BanList,
    /// Recent automatic bans (self-protection).
    auto_bans: AutoBanGuard,
    counters: Counters,
    /// Identities an operator removed, and until when the node leaves them alone.
    removed: Cooldowns,
    /// Inbound attempts per netgroup (token buckets).
    inbound_limit: InboundLimiter,
    /// When the sealed channel of each new connection rekeys.
    rekey_limits: RekeyLimits,
}

/// Why a DNS question was asked.
#[derive(Clone, Debug)]
enum DnsPurpose {
    /// A seed's TXT record.
    Seed,
    /// A hostname to dial.
    Resolve {
        target: PeerAddress,
        request: Option<RequestId>,
        priority: Priority,
    },
}

impl Node {
    /// A node with `config`, signing as `identity`, drawing randomness from `rng_seed`. `now` and
    /// `unix_now` anchor the node's notion of wall-clock time.
    pub fn new(
        config: Config,
        identity: Identity,
        rng_seed: [u8; 32],
        now: Instant,
        unix_now: UnixMillis,
    ) -> Node {
        let max = config.network.peers.max_connections;
        let limits = &config.limits;
        let mut node = Node {
            local: Local::new(identity, &config),
            rng: Rng::from_seed(rng_seed),
            clock: Clock::new(now, unix_now),
            now,
            pool: Pool::new(max, limits),
            timers: Timers::new(now),
            outbox: Outbox::default(),
            next_conn: 1,
            next_request: 1,
            shutting_down: false,
            shutdown_reported: false,
            book: AddrBook::new(MAX_ADDRBOOK_ENTRIES),
            hardcoded_added: false,
            last_step: None,
            dns: DnsClient::new(),
            dns_purposes: BTreeMap::new(),
            seed_next: BTreeMap::new(),
            reputation: ReputationTable::new(&config.network.reputation),
            bans: BanList::new(),
            auto_bans: AutoBanGuard::default(),
            counters: Counters::default(),
            removed: Cooldowns::default(),
            inbound_limit: InboundLimiter::new(
                limits.inbound_netgroup_burst,
                limits.inbound_netgroup_refill,
                limits.max_inbound_netgroups_tracked,
            ),
            rekey_limits: limits.rekey(),
            config: config.clone(),
        };
        let unix = node.clock.unix(now);
        for b in node.config.network.peers.bootstrap_nodes.clone() {
            match PeerAddress::parse(&b) {
                Ok(a) => {
                    node.book.add(a, Source::Config, unix, &mut node.rng);
                }
                Err(e) => node.outbox.event(Event::Warning {
                    message: format!("bootstrap node {b:?} ignored: {e}"),
                }),
            }
        }
        node
    }

    /// Replaces the advertised capabilities (at most [`wire::MAX_CAPABILITIES`], each
    /// 1–[`wire::MAX_CAPABILITY_LEN`] bytes; others are dropped).
    pub fn set_capabilities(&mut self, caps: &[&str]) {
        self.local.capabilities = caps
            .iter()
            .filter(|c| !c.is_empty() && c.len() <= wire::MAX_CAPABILITY_LEN)
            .take(wire::MAX_CAPABILITIES)
            .map(|s| s.to_string())
            .collect();
    }

    /// Replaces the rekey limits of the sealed channel for connections established from now on
    /// (default: `limits.rekey_after_frames`, `limits.rekey_after_bytes` of the configuration).
    /// Both peers must use the same limits, so this is for tests and simulations that exercise
    /// rekeying at small values; a deployed node keeps the defaults.
    #[cfg(feature = "test-support")]
    pub fn set_rekey_limits(&mut self, limits: RekeyLimits) {
        self.rekey_limits = limits;
    }

    /// The session keys a connection's sealed channel started with (`None` before the switch
    /// to sealed frames, or for an unknown connection), from this node's point of view: `send`
    /// seals what it sends. For simulators and fuzz harnesses that play the peer's part or
    /// rewrite this node's traffic; the embedding process owns these secrets as it owns the
    /// identity's secret key. Later keys follow from these by the rekey rule.
    #[cfg(feature = "test-support")]
    pub fn session_keys(&self, conn: ConnId) -> Option<crate::channel::SessionKeys> {
        self.pool.get(conn)?.session.keys.as_deref().cloned()
    }

    /// A sealer in the state of the peer's on `conn`: what it returns seals the frames this
    /// node expects next from that peer (`None` before the switch to sealed frames, or for an
    /// unknown connection). Like [`Node::session_keys`], for harnesses that play the peer.
    #[cfg(feature = "test-support")]
    pub fn peer_sealer(&self, conn: ConnId) -> Option<crate::channel::Sealer> {
        Some(
            self.pool
                .get(conn)?
                .session
                .opener
                .as_deref()?
                .peer_sealer(),
        )
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.local.identity.node_id()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Wall-clock time at `now`.
    pub fn unix_time(&self, now: Instant) -> UnixMillis {
        self.clock.unix(now)
    }

    fn tick(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// The next thing to do. Call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.outbox.queue.pop_front() {
            return o;
        }
        let (at, reason) = self.poll_timeout();
        Output::Timeout { at, reason }
    }

    /// Feeds one input. Never panics; inputs for unknown connections are ignored.
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Connected { conn, now } => {
                self.tick(now);
                self.on_connected(conn, now);
            }
            Input::ConnectFailed { conn, cause, now } => {
                self.tick(now);
                if self
                    .pool
                    .get(conn)
                    .is_some_and(|c| c.state == PeerState::Connecting)
                {
                    self.fail(conn, PeerError::ConnectFailed(cause), None);
                }
            }
            Input::Received { conn, data, now } => {
                self.tick(now);
                self.on_received(conn, data, now);
            }
            Input::Closed { conn, cause, now } => {
                self.tick(now);
                self.on_closed(conn, cause);
            }
            Input::DnsResponse { data, now } => {
                self.tick(now);
                if let Ok(outcome) = self.dns.handle_response(data, now) {
                    self.on_dns(outcome, now);
                }
            }
            Input::Timeout { now } => {
                self.tick(now);
                self.on_timeout(now);
            }
        }
    }

    fn alloc_conn(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    fn alloc_request(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    fn new_conn(&self, id: ConnId, direction: Direction, remote: SocketAddr, now: Instant) -> Conn {
        let p = &self.config.network.peers;
        let deadline = now
            + match direction {
                Direction::Outbound => p.connection_timeout,
                Direction::Inbound => p.handshake_timeout,
            };
        Conn {
            id,
            state: PeerState::Discovered,
            priority: Priority::Normal,
            request: None,
            remove_request: None,
            expected_id: None,
            deadline,
            closing: None,
            timer_at: None,
            fetch_only: false,
            link: Link::new(direction, remote),
            session: Session::new(),
            keepalive: KeepAlive::new(now),
            pex: PexState::new(&self.config.limits, now),
            stats: Stats::new(self.clock.unix(now)),
        }
    }

    fn unix_secs(&self) -> u64 {
        self.clock.unix(self.now).as_secs()
    }
}

/// Moves a connection's state machine; an illegal transition is a bug.
fn move_state(c: &mut Conn, to: PeerState) {
    let r = c.state.transition(to);
    debug_assert!(r.is_ok(), "{:?}", r);
}
