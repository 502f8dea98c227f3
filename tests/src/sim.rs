//! A deterministic simulator of whole networks of real [`Node`]s, with faults and hostile nodes.
//!
//! Every node is the real sans-IO core with a real dilithium3 identity ([`crate::keys`]). The
//! simulator is the drive loop of the architecture card: one priority queue of timed events
//! (deliveries, node wake-ups, crashes, restarts, hostile actions), virtual time that jumps to the
//! earliest one, and a seeded network model. No sockets, no threads, no sleeping.
//!
//! What the network model does (see `docs/SIMULATION.md`):
//! - **latency**: each pair of hosts has a base one-way latency drawn once from the seed
//!   (skewed towards the low end of `[latency_min, latency_max]`), plus per-segment `jitter`;
//! - **streams stay in order**: a connection is a TCP-like stream, each direction delivers in
//!   the order written (a segment never overtakes an earlier one). Reordering happens only
//!   across different connections;
//! - **loss** of a segment is modelled as TCP would hide it: a retransmission after `rto`
//!   (doubling on each further loss of the same segment), so the stream is delayed, never
//!   gapped. With probability `reset`, a segment instead resets the connection (both ends see
//!   `Closed{Reset}`);
//! - **bandwidth**: each host has an uplink of `bandwidth` bytes per second; segments queue on it;
//! - **partitions**: hosts on different sides cannot reach each other: dials black-hole (the
//!   dialer's own `connection_timeout` fires) and a segment written across the cut stalls the
//!   connection, which is reset at both ends `partition_reset_after` later (a TCP user
//!   timeout). Data is never delivered after a stall, so nothing arrives out of order;
//! - **crash and restart**: a crashed node's peers see `Closed{Reset}`; dials to its address are
//!   refused while it is down; on restart a new `Node` is built with the same identity and
//!   restored from the `durable_state` taken at the crash (what the peer database would hold);
//! - **clock skew**: each node's `unix_now` is offset by a value drawn from
//!   `[-max_clock_skew, +max_clock_skew]`;
//! - **connection refusal**: a dial is refused with probability `refuse`, and always by nodes
//!   marked `refuse_inbound` (behind a NAT or firewall).
//!
//! After every step (one input to one node and the outputs it produced) the touched node is
//! checked: [`Node::check_invariants`], the pool bound, bans, the identity each connected peer
//! proved against the real identity at the other end of the simulated link, state transitions
//! against the spec 1.3 diagram, and reputation bounds. Every delivered output is a line of the
//! event trace, hashed with SHA-256: the same seed gives the same hash.

use crate::keys;
use qudag_peer::channel::{Opener, RekeyLimits, Sealer, SessionKeys};
use qudag_peer::rng::Rng;
use qudag_peer::wire::{Message, MessageType, Peers, LENGTH_PREFIX_LEN, MAX_PEX_ADDRESSES};
use qudag_peer::BanTarget;
use qudag_peer::PeerState;
use qudag_peer::Report;
use qudag_peer::{Config, ConnId, Identity, Node, NodeId, UnixMillis};
use qudag_peer::{DurableState, Event, Input, IoFailure, Output};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Virtual time: nanoseconds since the start of the simulation.
pub type Ns = u64;

fn ns(d: Duration) -> Ns {
    d.as_nanos() as Ns
}

/// The network model. All randomness comes from the simulation seed.
#[derive(Clone, Debug)]
pub struct Model {
    /// Lowest base one-way latency of a host pair.
    pub latency_min: Duration,
    /// Highest base one-way latency of a host pair.
    pub latency_max: Duration,
    /// Extra delay per segment, uniform in `[0, jitter]`.
    pub jitter: Duration,
    /// Probability that a segment is lost and retransmitted after `rto` (doubling).
    pub loss: f64,
    /// Retransmission timeout for a lost segment.
    pub rto: Duration,
    /// Probability that a segment resets its connection instead.
    pub reset: f64,
    /// Uplink of every host, bytes per second (0: unlimited).
    pub bandwidth: u64,
    /// Probability that a dial is refused.
    pub refuse: f64,
    /// Each node's wall clock is offset by up to this much either way.
    pub max_clock_skew: Duration,
    /// A connection stalled by a partition is reset this long after the stall.
    pub partition_reset_after: Duration,
}

impl Default for Model {
    /// A healthy wide-area network: 10–150 ms links, 5 ms jitter, 10 MB/s uplinks, no faults.
    fn default() -> Model {
        Model {
            latency_min: Duration::from_millis(10),
            latency_max: Duration::from_millis(150),
            jitter: Duration::from_millis(5),
            loss: 0.0,
            rto: Duration::from_millis(200),
            reset: 0.0,
            bandwidth: 10_000_000,
            refuse: 0.0,
            max_clock_skew: Duration::ZERO,
            partition_reset_after: Duration::from_secs(20),
        }
    }
}

impl Model {
    /// A hostile network: 2 % loss, 0.1 % resets, 5 % refused dials, clock skew up to 100 s.
    pub fn faulty() -> Model {
        Model {
            jitter: Duration::from_millis(40),
            loss: 0.02,
            reset: 0.001,
            refuse: 0.05,
            max_clock_skew: Duration::from_secs(100),
            ..Model::default()
        }
    }

    /// The same latencies and skew with every fault turned off (for the fault-free phase).
    pub fn without_faults(&self) -> Model {
        Model {
            loss: 0.0,
            reset: 0.0,
            refuse: 0.0,
            ..self.clone()
        }
    }
}

/// What a PEX-lying node answers to `GetPeers`.
#[derive(Clone, Debug)]
pub enum PexLie {
    /// Fake public addresses nobody listens on (black holes).
    Fake,
    /// Only these addresses (e.g. its Sybil siblings).
    Only(Vec<String>),
}

/// How a hostile node misbehaves. A hostile node is a real core whose outputs the simulator
/// rewrites, plus scripted extra actions every `tick`.
#[derive(Clone, Debug, Default)]
pub struct Hostile {
    /// From this simulated time on, a garbage frame follows every Ping and Pong it sends.
    pub garbage_after: Option<Duration>,
    /// Rewrites its `Peers` answers.
    pub pex_lie: Option<PexLie>,
    /// Sends unsolicited `Peers` full of fake addresses to every peer each tick.
    pub pex_flood: bool,
    /// Holds every `Pong` this long (lies about latency).
    pub pong_delay: Option<Duration>,
    /// Sends application messages each tick: `OK…` before this time, `BAD…` from then on (the
    /// honest applications report them as valid / invalid).
    pub turn_bad_after: Option<Duration>,
    /// Records handshakes it receives and replays them to other nodes each tick.
    pub replay: bool,
    /// Interval of the scripted actions (default 5 s).
    pub tick: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// Node index, incarnation, connection.
    Node(usize, u32, ConnId),
    /// A raw replay connection.
    Raw(usize),
}

#[derive(Debug)]
struct Link {
    peer: End,
    /// Delivery time of the last segment written in this direction (streams stay in order).
    next_at: Ns,
    broken: bool,
}

#[derive(Debug)]
struct RawConn {
    owner: usize,
    hello: Vec<u8>,
    confirm: Vec<u8>,
    sent_confirm: bool,
}

#[derive(Debug)]
enum Ev {
    Start(usize),
    Wake(usize),
    Connected(End),
    Failed(End, IoFailure),
    Accept {
        target: usize,
        from: End,
        remote: SocketAddr,
    },
    Data(End, Vec<u8>),
    Closed(End, IoFailure),
    Restart(usize),
    Tick(usize),
    Send(End, Vec<u8>),
}

/// A hostile node's send direction of one sealed channel, built from its session keys: the
/// opener reads the frames the core sealed, the sealer seals what the simulator actually sends
/// instead (the core's counter and the peer's stay in step with these, not with each other).
#[derive(Debug)]
struct Shadow {
    opener: Opener,
    sealer: Sealer,
    /// Whether the core's first sealed frame was seen (plain frames come before).
    sealed: bool,
}

#[derive(Clone, Copy, Debug)]
enum StepEv {
    Connected(ConnId),
    Disconnected(ConnId),
    Failed(ConnId),
}

/// One simulated host.
pub struct SimNode {
    /// The running core (`None` while down or not yet started).
    pub node: Option<Node>,
    /// Its configuration.
    pub config: Config,
    /// Its identity.
    pub identity: Identity,
    /// Its node id.
    pub id: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
    /// How it misbehaves (`None`: honest).
    pub hostile: Option<Hostile>,
    /// Refuses every inbound dial.
    pub refuse_inbound: bool,
    /// Offset of its wall clock, milliseconds.
    pub skew_ms: i64,
    /// How many times it was (re)started.
    pub incarnation: u32,
    /// Crashes so far.
    pub crashes: u32,
    wake_at: Option<Ns>,
    saved: Option<DurableState>,
    states: BTreeMap<ConnId, PeerState>,
    ever_connected: BTreeSet<ConnId>,
    captured: Vec<(Vec<u8>, Vec<u8>)>,
    first_frames: BTreeMap<ConnId, Vec<Vec<u8>>>,
    /// A hostile node's sealed channels, so that the simulator can read and rewrite what it
    /// sends (by connection and incarnation).
    shadows: BTreeMap<(u32, ConnId), Shadow>,
    uplink_free: Ns,
    wakes_now: (Ns, u32),
}

impl SimNode {
    /// Whether the node is honest.
    pub fn is_honest(&self) -> bool {
        self.hostile.is_none()
    }
}

/// Counters of a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Steps (inputs to nodes).
    pub steps: u64,
    /// Segments delivered.
    pub segments: u64,
    /// Handshakes completed (PeerConnected events).
    pub connects: u64,
    /// Replayed handshakes attempted.
    pub replays: u64,
    /// Invalid messages reported by honest applications.
    pub reports: u64,
    /// Crashes.
    pub crashes: u64,
}

/// A simulated network.
pub struct Sim {
    /// The seed everything is drawn from.
    pub seed: u64,
    /// The network model in force.
    pub model: Model,
    /// The hosts.
    pub nodes: Vec<SimNode>,
    /// Counters.
    pub stats: Stats,
    /// Check every touched node after every step (on by default).
    pub check_every_step: bool,
    /// When set, every trace line is also kept here.
    pub keep_trace: Option<Vec<String>>,
    start: Instant,
    unix_start: UnixMillis,
    now: Ns,
    queue: BTreeMap<(Ns, u64), Ev>,
    seq: u64,
    rng: Rng,
    links: BTreeMap<End, Link>,
    by_addr: BTreeMap<SocketAddr, usize>,
    ips: BTreeSet<IpAddr>,
    by_id: BTreeMap<NodeId, usize>,
    raws: Vec<RawConn>,
    side: Vec<u8>,
    next_port: u16,
    hasher: Sha256,
    recent: VecDeque<String>,
    line: String,
    failure: Option<String>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn seed_bytes(parts: &[u64]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut h = 0x5157_4441_4753_494d_u64;
    for (k, chunk) in out.chunks_mut(8).enumerate() {
        for p in parts {
            h = splitmix(h ^ p);
        }
        h = splitmix(h ^ k as u64);
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    out
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for b in bytes {
        h = (h ^ *b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// A public address with its own /16 for host number `i` (`20.0.0.1` … `89.255.x.1`).
pub fn public_addr(i: usize) -> SocketAddr {
    let a = 20 + ((i >> 8) % 70) as u8;
    let b = (i & 0xff) as u8;
    let c = 1 + ((i / (256 * 70)) % 250) as u8;
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, 1)), 8000)
}

/// Host number `i` inside the /16 `group` (e.g. a Sybil operator's network).
pub fn group_addr(group: [u8; 2], i: usize) -> SocketAddr {
    let c = (i / 250) as u8;
    let d = 1 + (i % 250) as u8;
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(group[0], group[1], c, d)), 8000)
}

/// A config for simulated nodes: `listen` on a public address, no DNS, no default bootstrap.
pub fn sim_config(listen: SocketAddr, bootstrap: &[SocketAddr]) -> Config {
    let mut c = Config::local(listen);
    c.network.peers.bootstrap_nodes = bootstrap
        .iter()
        .filter(|b| **b != listen)
        .map(|b| b.to_string())
        .collect();
    c
}

fn reachable(from: PeerState, to: PeerState) -> bool {
    use PeerState::*;
    let rank = |s| match s {
        Discovered => 0,
        Connecting => 1,
        Handshaking => 2,
        Connected => 3,
        _ => 4,
    };
    from == to || (rank(from) < rank(to) && !(to == Failed && from == Connected))
}

impl Sim {
    /// An empty network drawing everything from `seed`.
    pub fn new(seed: u64, model: Model) -> Sim {
        Sim {
            seed,
            model,
            nodes: Vec::new(),
            stats: Stats::default(),
            check_every_step: true,
            keep_trace: None,
            start: Instant::now(),
            unix_start: UnixMillis(1_760_000_000_000),
            now: 0,
            queue: BTreeMap::new(),
            seq: 0,
            rng: Rng::from_seed(seed_bytes(&[seed, 0])),
            links: BTreeMap::new(),
            by_addr: BTreeMap::new(),
            ips: BTreeSet::new(),
            by_id: BTreeMap::new(),
            raws: Vec::new(),
            side: Vec::new(),
            next_port: 40_000,
            hasher: Sha256::new(),
            recent: VecDeque::new(),
            line: String::new(),
            failure: None,
        }
    }

    /// Current virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now)
    }

    /// The `Instant` the nodes see now.
    pub fn instant(&self) -> Instant {
        self.start + Duration::from_nanos(self.now)
    }

    /// Adds a host with `config` and identity number `key` of the key pool, started at
    /// `start_at` (virtual time). Returns its index.
    pub fn add_node(
        &mut self,
        config: Config,
        key: u64,
        hostile: Option<Hostile>,
        start_at: Duration,
    ) -> usize {
        let identity = keys::identity(key);
        let i = self.nodes.len();
        let addr = config.network.listen;
        let skew = ns(self.model.max_clock_skew) / 1_000_000;
        let skew_ms = if skew == 0 {
            0
        } else {
            self.rng.below(2 * skew as usize + 1) as i64 - skew as i64
        };
        let id = identity.node_id();
        self.by_addr.insert(addr, i);
        self.ips.insert(addr.ip());
        self.by_id.insert(id, i);
        self.side.push(0);
        let tick = hostile
            .as_ref()
            .map(|h| h.tick.unwrap_or(Duration::from_secs(5)));
        self.nodes.push(SimNode {
            node: None,
            config,
            identity,
            id,
            addr,
            hostile,
            refuse_inbound: false,
            skew_ms,
            incarnation: 0,
            crashes: 0,
            wake_at: None,
            saved: None,
            states: BTreeMap::new(),
            ever_connected: BTreeSet::new(),
            captured: Vec::new(),
            first_frames: BTreeMap::new(),
            shadows: BTreeMap::new(),
            uplink_free: 0,
            wakes_now: (0, 0),
        });
        let at = self.now.max(ns(start_at));
        self.push(at, Ev::Start(i));
        if let Some(t) = tick {
            self.push(at + ns(t), Ev::Tick(i));
        }
        i
    }

    /// The index of the node with id `id`.
    pub fn index_of(&self, id: &NodeId) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    fn push(&mut self, at: Ns, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at.max(self.now), self.seq), ev);
    }

    fn trace(&mut self) {
        self.hasher.update(self.line.as_bytes());
        self.hasher.update(b"\n");
        if self.recent.len() >= 64 {
            self.recent.pop_front();
        }
        self.recent.push_back(self.line.clone());
        if let Some(t) = &mut self.keep_trace {
            t.push(self.line.clone());
        }
    }

    fn begin_line(&mut self, i: usize) {
        self.line.clear();
        let _ = write!(
            self.line,
            "{}.{:06} n{i} ",
            self.now / 1_000_000_000,
            (self.now / 1000) % 1_000_000
        );
    }

    /// SHA-256 of the event trace so far, in hex.
    pub fn trace_hash(&self) -> String {
        let h = self.hasher.clone().finalize();
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The last trace lines (for failure reports).
    pub fn recent_trace(&self) -> Vec<String> {
        self.recent.iter().cloned().collect()
    }

    fn latency(&self, a: usize, b: usize) -> Ns {
        let (lo, hi) = (ns(self.model.latency_min), ns(self.model.latency_max));
        let (x, y) = (a.min(b) as u64, a.max(b) as u64);
        let h = splitmix(splitmix(self.seed ^ 0x6c61_7465) ^ (x << 32) ^ y);
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        lo + ((hi.saturating_sub(lo)) as f64 * u * u) as Ns
    }

    fn owner(&self, e: End) -> usize {
        match e {
            End::Node(i, _, _) => i,
            End::Raw(r) => self.raws[r].owner,
        }
    }

    fn alive(&self, e: End) -> bool {
        match e {
            End::Node(i, inc, _) => {
                self.nodes[i].node.is_some() && self.nodes[i].incarnation == inc
            }
            End::Raw(_) => true,
        }
    }

    // ------------------------------------------------------------------ faults

    /// Puts each node on side `side(i)`; hosts on different sides cannot reach each other.
    pub fn partition(&mut self, side: impl Fn(usize) -> u8) {
        for i in 0..self.nodes.len() {
            self.side[i] = side(i);
        }
        self.line.clear();
        let _ = write!(self.line, "{} partition", self.now);
        self.trace();
    }

    /// Heals every partition (connections stalled by it are still reset when their time comes).
    pub fn heal(&mut self) {
        self.side.iter_mut().for_each(|s| *s = 0);
        self.line.clear();
        let _ = write!(self.line, "{} heal", self.now);
        self.trace();
    }

    /// Crashes node `i` now; it restarts after `downtime` from its durable records.
    pub fn crash(&mut self, i: usize, downtime: Duration) {
        self.crash_inner(i, Some(downtime));
    }

    /// Takes node `i` down for good (e.g. the attackers, when the faults stop).
    pub fn stop(&mut self, i: usize) {
        self.crash_inner(i, None);
    }

    fn crash_inner(&mut self, i: usize, downtime: Option<Duration>) {
        let now_i = self.instant();
        let Some(node) = self.nodes[i].node.take() else {
            return;
        };
        self.nodes[i].saved = Some(node.durable_state(now_i));
        drop(node);
        self.nodes[i].crashes += 1;
        self.stats.crashes += 1;
        self.nodes[i].wake_at = None;
        self.nodes[i].states.clear();
        self.nodes[i].ever_connected.clear();
        self.nodes[i].first_frames.clear();
        self.nodes[i].shadows.clear();
        let mine: Vec<End> = self
            .links
            .keys()
            .filter(|e| self.owner(**e) == i)
            .copied()
            .collect();
        for e in mine {
            if let Some(l) = self.links.remove(&e) {
                self.links.remove(&l.peer);
                let at = self.now + self.latency(i, self.owner(l.peer));
                self.push(at, Ev::Closed(l.peer, IoFailure::Reset));
            }
        }
        self.begin_line(i);
        self.line.push_str("crash");
        self.trace();
        if let Some(d) = downtime {
            let at = self.now + ns(d);
            self.push(at, Ev::Restart(i));
        }
    }

    fn break_link(&mut self, e: End) {
        let Some(peer) = self.links.get(&e).map(|l| l.peer) else {
            return;
        };
        for x in [e, peer] {
            if let Some(l) = self.links.get_mut(&x) {
                l.broken = true;
            }
        }
        let at = self.now + ns(self.model.partition_reset_after);
        self.push(at, Ev::Closed(e, IoFailure::Reset));
        self.push(at, Ev::Closed(peer, IoFailure::Reset));
    }

    fn reset_link(&mut self, e: End) {
        if let Some(l) = self.links.remove(&e) {
            self.links.remove(&l.peer);
            let lat = self.latency(self.owner(e), self.owner(l.peer));
            self.push(self.now + 1, Ev::Closed(e, IoFailure::Reset));
            self.push(self.now + lat, Ev::Closed(l.peer, IoFailure::Reset));
        }
    }

    // ------------------------------------------------------------------ the loop

    /// Runs until virtual time `until` (since the start). Fails with a description of the first
    /// broken invariant or panic-free error.
    pub fn run_until(&mut self, until: Duration) -> Result<(), String> {
        let until = ns(until);
        while let Some((&(at, seq), _)) = self.queue.first_key_value() {
            if at > until {
                break;
            }
            let ev = self.queue.remove(&(at, seq)).expect("present");
            self.now = at;
            self.step(ev);
            if let Some(f) = self.failure.take() {
                return Err(format!(
                    "at {:?}: {f}\nlast trace lines:\n  {}",
                    self.elapsed(),
                    self.recent_trace().join("\n  ")
                ));
            }
        }
        self.now = self.now.max(until);
        Ok(())
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), String> {
        let until = self.elapsed() + d;
        self.run_until(until)
    }

    fn fail(&mut self, why: String) {
        if self.failure.is_none() {
            self.failure = Some(why);
        }
    }

    fn start_node(&mut self, i: usize) {
        let now_i = self.instant();
        let n = &mut self.nodes[i];
        n.incarnation += 1;
        let unix = (self.unix_start.0 + self.now / 1_000_000) as i64 + n.skew_ms;
        let seed = seed_bytes(&[self.seed, i as u64, n.incarnation as u64]);
        let mut node = Node::new(
            n.config.clone(),
            n.identity.clone(),
            seed,
            now_i,
            UnixMillis(unix as u64),
        );
        if let Some(st) = n.saved.take() {
            node.restore(st, now_i);
        }
        n.node = Some(node);
        n.wake_at = None;
        self.begin_line(i);
        let _ = write!(self.line, "start {}", self.nodes[i].incarnation);
        self.trace();
        self.drain(i, &mut Vec::new());
    }

    fn step(&mut self, ev: Ev) {
        self.stats.steps += 1;
        let now_i = self.instant();
        let mut evs = Vec::new();
        let touched = match ev {
            Ev::Start(i) | Ev::Restart(i) => {
                self.start_node(i);
                None
            }
            Ev::Wake(i) => {
                if self.nodes[i].wake_at != Some(self.now) {
                    return;
                }
                let n = &mut self.nodes[i];
                n.wake_at = None;
                if n.wakes_now.0 == self.now {
                    n.wakes_now.1 += 1;
                    if n.wakes_now.1 > 10_000 {
                        self.fail(format!("node {i} wakes in a busy loop"));
                        return;
                    }
                } else {
                    n.wakes_now = (self.now, 1);
                }
                let Some(node) = n.node.as_mut() else { return };
                node.handle_input(Input::Timeout { now: now_i });
                Some(i)
            }
            Ev::Connected(e) => match e {
                End::Node(i, _, conn) if self.alive(e) => {
                    if let Some(n) = self.nodes[i].node.as_mut() {
                        n.handle_input(Input::Connected { conn, now: now_i });
                    }
                    Some(i)
                }
                _ => None,
            },
            Ev::Failed(e, cause) => match e {
                End::Node(i, _, conn) if self.alive(e) => {
                    if let Some(n) = self.nodes[i].node.as_mut() {
                        n.handle_input(Input::ConnectFailed {
                            conn,
                            cause,
                            now: now_i,
                        });
                    }
                    Some(i)
                }
                _ => None,
            },
            Ev::Accept {
                target,
                from,
                remote,
            } => self.on_accept(target, from, remote),
            Ev::Data(e, bytes) => {
                self.stats.segments += 1;
                match e {
                    End::Node(i, _, conn) if self.alive(e) => {
                        if self.nodes[i].hostile.as_ref().is_some_and(|h| h.replay) {
                            self.capture(i, conn, &bytes);
                        }
                        if let Some(n) = self.nodes[i].node.as_mut() {
                            n.handle_input(Input::Received {
                                conn,
                                data: &bytes,
                                now: now_i,
                            });
                        }
                        Some(i)
                    }
                    End::Raw(r) => {
                        let raw = &mut self.raws[r];
                        if !raw.sent_confirm {
                            raw.sent_confirm = true;
                            let c = raw.confirm.clone();
                            self.send_on(End::Raw(r), c);
                        }
                        None
                    }
                    _ => None,
                }
            }
            Ev::Closed(e, cause) => {
                self.links.remove(&e);
                match e {
                    End::Node(i, _, conn) if self.alive(e) => {
                        if let Some(n) = self.nodes[i].node.as_mut() {
                            n.handle_input(Input::Closed {
                                conn,
                                cause,
                                now: now_i,
                            });
                        }
                        Some(i)
                    }
                    _ => None,
                }
            }
            Ev::Tick(i) => {
                self.hostile_tick(i);
                Some(i)
            }
            Ev::Send(e, plain) => {
                if self.alive(e) {
                    let bytes = self.hostile_seal(e, &plain);
                    self.send_on(e, bytes);
                }
                None
            }
        };
        if let Some(i) = touched {
            self.drain(i, &mut evs);
        }
    }

    fn on_accept(&mut self, target: usize, from: End, remote: SocketAddr) -> Option<usize> {
        if let End::Node(d, _, dc) = from {
            let gave_up = !self.alive(from)
                || self.nodes[d]
                    .node
                    .as_ref()
                    .is_none_or(|n| n.peer(dc).is_none());
            if gave_up {
                return None;
            }
        }
        let lat = self.latency(self.owner(from), target);
        let Some(node) = self.nodes[target].node.as_mut() else {
            self.push(self.now + lat, Ev::Failed(from, IoFailure::Refused));
            return None;
        };
        let conn = node.accept(remote, self.start + Duration::from_nanos(self.now));
        let here = End::Node(target, self.nodes[target].incarnation, conn);
        self.links.insert(
            here,
            Link {
                peer: from,
                next_at: self.now + lat,
                broken: false,
            },
        );
        self.links.insert(
            from,
            Link {
                peer: here,
                next_at: self.now,
                broken: false,
            },
        );
        match from {
            End::Node(..) => self.push(self.now + lat, Ev::Connected(from)),
            End::Raw(r) => {
                let hello = self.raws[r].hello.clone();
                self.send_on(from, hello);
            }
        }
        Some(target)
    }

    fn drain(&mut self, i: usize, evs: &mut Vec<StepEv>) {
        loop {
            let Some(node) = self.nodes[i].node.as_mut() else {
                return;
            };
            match node.poll_output() {
                Output::Timeout { at, .. } => {
                    let at = (ns(at.saturating_duration_since(self.start))).max(self.now);
                    if self.nodes[i].wake_at != Some(at) {
                        self.nodes[i].wake_at = Some(at);
                        self.push(at, Ev::Wake(i));
                    }
                    break;
                }
                o => self.perform(i, o, evs),
            }
        }
        if self.check_every_step {
            if let Err(e) = self.check_node(i, evs) {
                self.fail(e);
            }
        }
    }

    fn perform(&mut self, i: usize, o: Output, evs: &mut Vec<StepEv>) {
        let inc = self.nodes[i].incarnation;
        self.begin_line(i);
        match o {
            Output::Transmit { conn, bytes } => {
                let _ = write!(self.line, "tx {conn} {}:{:016x}", bytes.len(), fnv(&bytes));
                self.trace();
                let end = End::Node(i, inc, conn);
                let bytes = if self.nodes[i].hostile.is_some() {
                    match self.hostile_tx(i, end, bytes) {
                        Some(b) => b,
                        None => return,
                    }
                } else {
                    bytes
                };
                self.send_on(end, bytes);
            }
            Output::Dial { conn, addr, .. } => {
                let _ = write!(self.line, "dial {conn} {addr}");
                self.trace();
                self.dial(i, End::Node(i, inc, conn), addr);
            }
            Output::Close { conn } => {
                let _ = write!(self.line, "close {conn}");
                self.trace();
                let end = End::Node(i, inc, conn);
                if let Some(l) = self.links.remove(&end) {
                    // The FIN follows the data written before it.
                    self.links.remove(&l.peer);
                    let lat = self.latency(i, self.owner(l.peer));
                    let at = (self.now + lat).max(l.next_at);
                    if !l.broken {
                        self.push(at, Ev::Closed(l.peer, IoFailure::Eof));
                    }
                }
            }
            Output::Event(e) => {
                let _ = write!(self.line, "ev {e:?}");
                self.trace();
                self.on_event(i, e, evs);
            }
            other => {
                let _ = write!(self.line, "other {other:?}");
                self.trace();
            }
        }
    }

    fn on_event(&mut self, i: usize, e: Event, evs: &mut Vec<StepEv>) {
        match e {
            Event::PeerConnected { conn, .. } => {
                self.stats.connects += 1;
                evs.push(StepEv::Connected(conn));
            }
            Event::PeerDisconnected { conn, .. } => evs.push(StepEv::Disconnected(conn)),
            Event::ConnectionFailed { conn, .. } => evs.push(StepEv::Failed(conn)),
            Event::Message { peer, payload } if self.nodes[i].is_honest() => {
                // The honest application judges payloads.
                let report = if payload.starts_with(b"BAD") {
                    Report::InvalidMessage
                } else {
                    Report::ValidMessage
                };
                if report == Report::InvalidMessage {
                    self.stats.reports += 1;
                }
                let now_i = self.instant();
                if let Some(n) = self.nodes[i].node.as_mut() {
                    n.report(&peer, report, now_i);
                }
            }
            _ => {}
        }
    }

    fn dial(&mut self, i: usize, from: End, addr: SocketAddr) {
        self.next_port = if self.next_port >= 65_000 {
            40_000
        } else {
            self.next_port + 1
        };
        let remote = SocketAddr::new(self.nodes[i].addr.ip(), self.next_port);
        let Some(&t) = self.by_addr.get(&addr) else {
            if self.ips.contains(&addr.ip()) {
                let at = self.now + 2 * ns(self.model.latency_min);
                self.push(at, Ev::Failed(from, IoFailure::Refused));
            }
            // Nobody there: the SYN is never answered.
            return;
        };
        if self.side[i] != self.side[t] {
            return;
        }
        let lat = self.latency(i, t);
        let refused = self.nodes[t].node.is_none()
            || self.nodes[t].refuse_inbound
            || (self.model.refuse > 0.0 && self.rng.unit() < self.model.refuse);
        if refused {
            self.push(self.now + 2 * lat, Ev::Failed(from, IoFailure::Refused));
        } else {
            self.push(
                self.now + lat,
                Ev::Accept {
                    target: t,
                    from,
                    remote,
                },
            );
        }
    }

    fn send_on(&mut self, end: End, bytes: Vec<u8>) {
        let Some(link) = self.links.get(&end) else {
            return;
        };
        if link.broken {
            return;
        }
        let peer = link.peer;
        let (a, b) = (self.owner(end), self.owner(peer));
        if self.side[a] != self.side[b] {
            return self.break_link(end);
        }
        if self.model.reset > 0.0 && self.rng.unit() < self.model.reset {
            return self.reset_link(end);
        }
        let mut extra = 0;
        let mut rto = ns(self.model.rto);
        while self.model.loss > 0.0 && self.rng.unit() < self.model.loss {
            extra += rto;
            rto *= 2;
        }
        // Bandwidth 0 means unlimited: no transmission delay.
        let tx = (bytes.len() as u64 * 1_000_000_000)
            .checked_div(self.model.bandwidth)
            .unwrap_or(0);
        let depart = self.now.max(self.nodes[a].uplink_free) + tx;
        self.nodes[a].uplink_free = depart;
        let jitter = ns(self.model.jitter);
        let jitter = if jitter == 0 {
            0
        } else {
            self.rng.next_u64() % (jitter + 1)
        };
        let lat = self.latency(a, b);
        let link = self.links.get_mut(&end).expect("checked");
        let at = (depart + lat + jitter + extra).max(link.next_at);
        link.next_at = at;
        self.push(at, Ev::Data(peer, bytes));
    }

    // ------------------------------------------------------------------ hostile behaviour

    fn fake_addresses(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let x = self.rng.next_u64();
                // 150.0.0.0/8 … 159.0.0.0/8: public, and nobody listens there.
                let ip = Ipv4Addr::new(
                    150 + (x % 10) as u8,
                    (x >> 8) as u8,
                    (x >> 16) as u8,
                    1 + (x >> 24) as u8 % 250,
                );
                SocketAddr::new(IpAddr::V4(ip), 8000).to_string()
            })
            .collect()
    }

    /// Reads one frame a hostile node's core sent on `end` (`bytes` is one whole frame): the
    /// message and its plain frame, or `None` if it cannot be read (sealed under keys the
    /// simulator could not get, e.g. on a connection the core already dropped).
    fn hostile_read(&mut self, i: usize, end: End, bytes: &[u8]) -> Option<(Message, Vec<u8>)> {
        let End::Node(_, inc, conn) = end else {
            return None;
        };
        let n = &mut self.nodes[i];
        if !n.shadows.contains_key(&(inc, conn)) {
            if let Some(k) = n.node.as_ref().and_then(|node| node.session_keys(conn)) {
                // Both halves over the core's send key.
                let (sealer, _) = k.split(RekeyLimits::default());
                let (_, opener) = SessionKeys {
                    send: k.send,
                    recv: k.send,
                }
                .split(RekeyLimits::default());
                n.shadows.insert(
                    (inc, conn),
                    Shadow {
                        opener,
                        sealer,
                        sealed: false,
                    },
                );
            }
        }
        let payload = bytes.get(LENGTH_PREFIX_LEN..)?;
        let plain_of = |m: Message| {
            let f = m.encode().ok()?;
            Some((m, f))
        };
        match n.shadows.get_mut(&(inc, conn)) {
            Some(sh) if sh.sealed => plain_of(sh.opener.open(payload).ok()?),
            Some(sh) => {
                let mut trial = sh.opener.clone();
                match trial.open(payload) {
                    Ok(m) => {
                        sh.opener = trial;
                        sh.sealed = true;
                        plain_of(m)
                    }
                    Err(_) => Message::decode_payload(payload)
                        .ok()
                        .map(|m| (m, bytes.to_vec())),
                }
            }
            None => Message::decode_payload(payload)
                .ok()
                .map(|m| (m, bytes.to_vec())),
        }
    }

    /// What a hostile node sends on `end` instead of the plain frames `plain`: sealed with the
    /// shadow sealer once its channel is sealed, as they are otherwise.
    fn hostile_seal(&mut self, end: End, plain: &[u8]) -> Vec<u8> {
        let End::Node(i, inc, conn) = end else {
            return plain.to_vec();
        };
        let Some(sh) = self.nodes[i]
            .shadows
            .get_mut(&(inc, conn))
            .filter(|sh| sh.sealed)
        else {
            return plain.to_vec();
        };
        let mut out = Vec::with_capacity(plain.len() + 32);
        let mut rest = plain;
        while rest.len() >= LENGTH_PREFIX_LEN {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let whole = (LENGTH_PREFIX_LEN + len).min(rest.len());
            if let Ok(f) = sh.sealer.seal_frame(&rest[..whole]) {
                out.extend_from_slice(&f);
            }
            rest = &rest[whole..];
        }
        out
    }

    fn hostile_tx(&mut self, i: usize, end: End, bytes: Vec<u8>) -> Option<Vec<u8>> {
        let h = self.nodes[i].hostile.clone().expect("hostile");
        let Some((msg, plain)) = self.hostile_read(i, end, &bytes) else {
            // Unreadable: passed on as it is.
            return Some(bytes);
        };
        let out = match msg {
            Message::Pong(_) if h.pong_delay.is_some() => {
                // Held, and sealed when it is finally sent (the stream stays in order for the
                // receiver: frames sent meanwhile take the counters before it).
                let at = self.now + ns(h.pong_delay.unwrap_or_default());
                self.push(at, Ev::Send(end, plain));
                return None;
            }
            Message::Peers(_) if h.pex_lie.is_some() => {
                let addresses = match h.pex_lie {
                    Some(PexLie::Only(v)) => v,
                    _ => self.fake_addresses(MAX_PEX_ADDRESSES),
                };
                Message::Peers(Peers { addresses }).encode().ok()?
            }
            Message::Ping(_) | Message::Pong(_)
                if h.garbage_after.is_some_and(|t| self.elapsed() >= t) =>
            {
                // A frame of an unknown version follows (sealed like the rest, so that the
                // receiver opens it and finds it malformed).
                let mut b = plain;
                let mut junk = [0u8; 12];
                self.rng.fill(&mut junk);
                b.extend_from_slice(&[0, 0, 0, 12, 0xee]);
                b.extend_from_slice(&junk[..11]);
                b
            }
            _ => plain,
        };
        Some(self.hostile_seal(end, &out))
    }

    fn capture(&mut self, i: usize, conn: ConnId, bytes: &[u8]) {
        let n = &mut self.nodes[i];
        if n.captured.len() >= 8 {
            return;
        }
        let ty = bytes.get(5).copied();
        if ty == Some(MessageType::Handshake as u8) {
            n.first_frames.insert(conn, vec![bytes.to_vec()]);
        } else if ty == Some(MessageType::HandshakeConfirm as u8) {
            if let Some(mut v) = n.first_frames.remove(&conn) {
                v.push(bytes.to_vec());
                let confirm = v.pop().expect("pushed");
                let hello = v.pop().expect("hello");
                n.captured.push((hello, confirm));
            }
        }
    }

    fn hostile_tick(&mut self, i: usize) {
        let Some(h) = self.nodes[i].hostile.clone() else {
            return;
        };
        let tick = h.tick.unwrap_or(Duration::from_secs(5));
        self.push(self.now + ns(tick), Ev::Tick(i));
        if self.nodes[i].node.is_none() {
            return;
        }
        let now_i = self.instant();
        let peers = self.nodes[i]
            .node
            .as_ref()
            .map(|n| n.connected_peers())
            .unwrap_or_default();
        if h.pex_flood {
            let addresses = self.fake_addresses(MAX_PEX_ADDRESSES);
            let plain = Message::Peers(Peers { addresses })
                .encode()
                .expect("encodes");
            let inc = self.nodes[i].incarnation;
            let conns: Vec<ConnId> = self.nodes[i]
                .node
                .as_ref()
                .map(|n| n.peers().iter().map(|p| p.conn).collect())
                .unwrap_or_default();
            for c in conns {
                let end = End::Node(i, inc, c);
                let bytes = self.hostile_seal(end, &plain);
                self.send_on(end, bytes);
            }
        }
        if let Some(t) = h.turn_bad_after {
            let payload: &[u8] = if self.elapsed() >= t {
                b"BAD message"
            } else {
                b"OK message"
            };
            if let Some(n) = self.nodes[i].node.as_mut() {
                for p in &peers {
                    let _ = n.send_app(p, payload);
                }
            }
        }
        if h.replay && !self.nodes[i].captured.is_empty() {
            let k = self.rng.below(self.nodes[i].captured.len());
            let (hello, confirm) = self.nodes[i].captured[k].clone();
            let honest: Vec<usize> = (0..self.nodes.len())
                .filter(|&j| self.nodes[j].is_honest() && self.nodes[j].node.is_some())
                .collect();
            if !honest.is_empty() {
                let t = honest[self.rng.below(honest.len())];
                let r = self.raws.len();
                self.raws.push(RawConn {
                    owner: i,
                    hello,
                    confirm,
                    sent_confirm: false,
                });
                self.stats.replays += 1;
                self.next_port = self.next_port.wrapping_add(1).max(40_000);
                let remote = SocketAddr::new(self.nodes[i].addr.ip(), self.next_port);
                let lat = self.latency(i, t);
                self.push(
                    self.now + lat,
                    Ev::Accept {
                        target: t,
                        from: End::Raw(r),
                        remote,
                    },
                );
            }
        }
        let _ = now_i;
    }

    // ------------------------------------------------------------------ invariants

    fn check_node(&mut self, i: usize, evs: &[StepEv]) -> Result<(), String> {
        let inc = self.nodes[i].incarnation;
        let now_i = self.instant();
        let Some(node) = self.nodes[i].node.as_ref() else {
            return Ok(());
        };
        node.check_invariants()
            .map_err(|e| format!("node {i}: {e}"))?;
        let max = self.nodes[i].config.network.peers.max_connections;
        let peers = node.peers();
        if peers.len() > max || node.counts().total() > max {
            return Err(format!("node {i}: {} connections > max {max}", peers.len()));
        }
        let bans = node.bans(now_i);
        for p in &peers {
            if p.reputation > 100 {
                return Err(format!("node {i}: reputation {} > 100", p.reputation));
            }
            if p.status != PeerState::Connected {
                continue;
            }
            let Some(id) = p.id else {
                return Err(format!("node {i}: {} connected without an id", p.conn));
            };
            let ip = p.address.ip().to_canonical();
            for b in &bans {
                let hit = match b.target {
                    BanTarget::Node(x) => x == id,
                    BanTarget::Ip(x) => x.to_canonical() == ip,
                    BanTarget::Subnet(c) => c.contains(ip),
                };
                if hit {
                    return Err(format!("node {i}: banned {} is connected ({id})", b.target));
                }
            }
            if let Some(l) = self.links.get(&End::Node(i, inc, p.conn)) {
                match l.peer {
                    End::Node(j, _, _) if self.nodes[j].id == id => {}
                    End::Node(j, _, _) => {
                        return Err(format!(
                            "node {i}: {} claims {id} but the other end is node {j} ({})",
                            p.conn, self.nodes[j].id
                        ))
                    }
                    End::Raw(_) => {
                        return Err(format!("node {i}: a replayed handshake connected as {id}"))
                    }
                }
            }
            let s = node.reputation(&id, now_i);
            let parts = [
                s.total,
                s.uptime,
                s.latency,
                s.validity,
                s.consensus,
                s.relay,
            ];
            if parts.iter().any(|v| *v > 100) {
                return Err(format!("node {i}: reputation of {id} out of range: {s:?}"));
            }
        }
        let n = &mut self.nodes[i];
        for ev in evs {
            match *ev {
                StepEv::Connected(c) => {
                    if let Some(s) = n.states.get(&c) {
                        if !matches!(s, PeerState::Connecting | PeerState::Handshaking) {
                            return Err(format!("node {i}: {c} connected from state {s}"));
                        }
                    }
                    n.ever_connected.insert(c);
                }
                StepEv::Disconnected(c) => {
                    if !n.ever_connected.remove(&c) {
                        return Err(format!("node {i}: {c} disconnected but never connected"));
                    }
                }
                StepEv::Failed(c) => {
                    if n.ever_connected.contains(&c) {
                        return Err(format!("node {i}: {c} failed after being connected"));
                    }
                }
            }
        }
        let mut states = BTreeMap::new();
        for p in &peers {
            if let Some(&old) = n.states.get(&p.conn) {
                if !reachable(old, p.status) {
                    return Err(format!(
                        "node {i}: {} moved {old} -> {} (not in the diagram)",
                        p.conn, p.status
                    ));
                }
            }
            if p.status == PeerState::Connected {
                n.ever_connected.insert(p.conn);
            }
            states.insert(p.conn, p.status);
        }
        n.states = states;
        Ok(())
    }

    /// Checks every running node.
    pub fn check_all(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            self.check_node(i, &[])?;
        }
        Ok(())
    }

    /// The running honest nodes a node is connected to.
    pub fn honest_peers(&self, i: usize) -> Vec<usize> {
        let Some(n) = self.nodes[i].node.as_ref() else {
            return Vec::new();
        };
        n.connected_peers()
            .iter()
            .filter_map(|id| self.index_of(id))
            .filter(|&j| self.nodes[j].is_honest() && self.nodes[j].node.is_some())
            .collect()
    }

    /// Liveness: every running honest node has at least its `min_connections` honest peers, and
    /// the honest nodes form one connected graph.
    pub fn check_liveness(&self) -> Result<(), String> {
        self.liveness(true)
    }

    /// The honest nodes form one connected graph (while attackers may still hold slots).
    pub fn check_honest_connected(&self) -> Result<(), String> {
        self.liveness(false)
    }

    fn liveness(&self, min_each: bool) -> Result<(), String> {
        let honest: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_honest() && self.nodes[i].node.is_some())
            .collect();
        let mut short = Vec::new();
        for &i in &honest {
            let min = self.nodes[i].config.network.peers.min_connections;
            let have = self.honest_peers(i).len();
            if have < min {
                short.push(format!("node {i} has {have} < {min}"));
            }
        }
        if !short.is_empty() && min_each {
            return Err(format!(
                "liveness: {} honest node(s) below min_connections honest peers: {}",
                short.len(),
                short
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let Some(&first) = honest.first() else {
            return Ok(());
        };
        let mut seen = BTreeSet::from([first]);
        let mut todo = vec![first];
        while let Some(i) = todo.pop() {
            for j in self.honest_peers(i) {
                if seen.insert(j) {
                    todo.push(j);
                }
            }
        }
        if seen.len() != honest.len() {
            return Err(format!(
                "liveness: the honest graph is split: {} of {} honest nodes reachable from node {first}",
                seen.len(),
                honest.len()
            ));
        }
        Ok(())
    }
}

/// Adds `n` honest nodes at [`public_addr`] (identity `i` of the key pool for node `i`); the
/// first `seeds` are the bootstrap nodes of everyone. Node `k` starts at `k * join_over / n`.
/// `cfg` may change each node's config. Returns their indices.
pub fn add_honest(
    sim: &mut Sim,
    n: usize,
    seeds: usize,
    join_over: Duration,
    cfg: impl Fn(usize, &mut Config),
) -> Vec<usize> {
    let first = sim.nodes.len();
    let boot: Vec<SocketAddr> = (first..first + seeds.min(n)).map(public_addr).collect();
    (first..first + n)
        .map(|i| {
            let mut c = sim_config(public_addr(i), &boot);
            cfg(i, &mut c);
            let at = join_over.mul_f64((i - first) as f64 / n.max(1) as f64);
            sim.add_node(c, i as u64, None, at)
        })
        .collect()
}

// ---------------------------------------------------------------------- seeds and replay

/// The seeds a scenario runs: `QUDAG_SIM_SEED=<n>` runs only `n`; otherwise the `fixed` seeds
/// plus `QUDAG_SIM_SEEDS` (default `random`) random ones.
pub fn seeds(fixed: &[u64], random: usize) -> Vec<u64> {
    if let Some(s) = std::env::var("QUDAG_SIM_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return vec![s];
    }
    let n = std::env::var("QUDAG_SIM_SEEDS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(random);
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ ((std::process::id() as u64) << 32);
    let mut out = fixed.to_vec();
    out.extend((0..n as u64).map(|k| splitmix(base ^ splitmix(k)) >> 1));
    out
}

/// Runs `scenario` for each seed of [`seeds`]; a failure (an error or a panic) prints
/// `seed=<n>` and the command that replays it, then the test fails listing every bad seed.
/// `test` is the test target (the file name without `.rs`).
pub fn run_seeds(
    test: &str,
    fixed: &[u64],
    random: usize,
    scenario: impl Fn(u64) -> Result<(), String> + std::panic::RefUnwindSafe,
) {
    let mut failed = Vec::new();
    for seed in seeds(fixed, random) {
        let r = std::panic::catch_unwind(|| scenario(seed));
        let why = match r {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(p) => p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()),
        };
        eprintln!(
            "seed={seed} FAILED: {why}\nreplay: QUDAG_SIM_SEED={seed} cargo test -p qudag-peer-tests --test {test} -- --nocapture"
        );
        failed.push(seed);
    }
    assert!(failed.is_empty(), "{test}: failing seeds {failed:?}");
}
