//! In-memory networks of real `qudag-peer` nodes on virtual time.
//!
//! [`Net`] wires the outputs of several [`Node`]s to each other's inputs: `Dial` reaches the
//! node listening on that address, `Transmit` bytes arrive after the link latency in order,
//! `Close` reaches the other end as `Closed`. There are no sockets and no sleeping: time jumps
//! to the next delivery or timer. Everything is ordered (BTreeMap, sequence numbers), so the
//! same nodes, keys and seeds give the same run, byte for byte.
//!
//! Tests can also stand in for a hostile peer with raw endpoints ([`Net::raw_connect`],
//! [`Net::raw_listen`]): they write arbitrary bytes and read what the node sent.
#![warn(missing_docs)]

pub mod conformance;
pub mod dnsmasq;
pub mod fuzz_bodies;
pub mod hostile;
pub mod keys;
pub mod sim;

use qudag_peer::{Config, ConnId, Identity, Node, UnixMillis};
use qudag_peer::{Event, Input, IoFailure, Output};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Index of a node in a [`Net`].
pub type NodeIdx = usize;

/// A raw endpoint controlled by the test (a hostile or scripted peer).
pub type RawId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Node(NodeIdx, ConnId),
    Raw(RawId),
}

#[derive(Debug)]
enum Delivery {
    Connected(NodeIdx, ConnId),
    Failed(NodeIdx, ConnId, IoFailure),
    Data(End, Vec<u8>),
    Closed(End),
    Accept {
        target: NodeIdx,
        from: End,
        remote: SocketAddr,
    },
    Dns(NodeIdx, Vec<u8>),
}

/// A raw endpoint's state.
#[derive(Debug, Default)]
pub struct RawEnd {
    /// Bytes the node sent to this endpoint.
    pub inbox: Vec<u8>,
    /// Whether the node closed the connection.
    pub closed: bool,
    peer: Option<End>,
}

/// One simulated node.
pub struct SimNode {
    /// The core.
    pub node: Node,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Every event it emitted, in order.
    pub events: Vec<Event>,
}

/// An in-memory network.
pub struct Net {
    /// Current virtual time.
    pub now: Instant,
    /// Virtual time at the start.
    pub start: Instant,
    /// Wall-clock time at the start.
    pub unix_start: UnixMillis,
    /// One-way latency of every link.
    pub latency: Duration,
    /// The nodes.
    pub nodes: Vec<SimNode>,
    /// Raw endpoints.
    pub raws: Vec<RawEnd>,
    links: BTreeMap<End, End>,
    listeners: BTreeMap<SocketAddr, NodeIdx>,
    raw_listeners: BTreeMap<SocketAddr, Vec<RawId>>,
    /// Addresses where a dial never completes (a black hole).
    pub black_holes: BTreeSet<SocketAddr>,
    queue: BTreeMap<(Instant, u64), Delivery>,
    seq: u64,
    next_port: u16,
    /// A line per delivered output, for determinism checks.
    pub trace: Vec<String>,
    /// Nodes that are neither driven nor delivered to (a machine that froze or vanished).
    pub frozen: BTreeSet<NodeIdx>,
    /// The DNS zone every node's queries are answered from, by (lower-case name, type).
    pub zone: BTreeMap<(String, dns::Rtype), dns::Answer>,
    /// Every DNS question asked: (node, name, type).
    pub dns_log: Vec<(NodeIdx, String, dns::Rtype)>,
}

/// The DNS server of a [`Net`]: answers built with hickory-proto, as real resolvers send them.
pub mod dns {
    use hickory_proto::op::{Message, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::{A, AAAA, TXT};
    use hickory_proto::rr::{RData, Record, RecordType};

    /// The record types the harness serves.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Rtype {
        /// TXT.
        Txt,
        /// A.
        A,
        /// AAAA.
        Aaaa,
    }

    /// What the zone answers for a name and type.
    #[derive(Clone, Debug)]
    pub enum Answer {
        /// TXT strings, or IP addresses as text for A/AAAA, with a TTL in seconds.
        Records(Vec<String>, u32),
        /// NXDOMAIN.
        NxDomain,
        /// SERVFAIL.
        ServFail,
        /// No answer at all (the query times out).
        Silent,
    }

    /// The question of a query datagram.
    pub fn question(query: &[u8]) -> Option<(String, Rtype)> {
        let m = Message::from_vec(query).ok()?;
        let q = m.queries.first()?;
        let t = match q.query_type() {
            RecordType::TXT => Rtype::Txt,
            RecordType::A => Rtype::A,
            RecordType::AAAA => Rtype::Aaaa,
            _ => return None,
        };
        Some((
            q.name()
                .to_ascii()
                .trim_end_matches('.')
                .to_ascii_lowercase(),
            t,
        ))
    }

    /// The response datagram to `query`, or `None` for `Answer::Silent`.
    pub fn respond(query: &[u8], answer: &Answer) -> Option<Vec<u8>> {
        let q = Message::from_vec(query).ok()?;
        let mut m = Message::response(q.metadata.id, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.metadata.recursion_available = true;
        m.add_queries(q.queries.clone());
        let qname = q.queries.first()?.name().clone();
        match answer {
            Answer::Silent => return None,
            Answer::NxDomain => m.metadata.response_code = ResponseCode::NXDomain,
            Answer::ServFail => m.metadata.response_code = ResponseCode::ServFail,
            Answer::Records(items, ttl) => {
                for item in items {
                    let rdata = match q.queries[0].query_type() {
                        // A TXT record is a list of character-strings of at most 255 bytes.
                        RecordType::TXT => RData::TXT(TXT::new(
                            item.as_bytes()
                                .chunks(255)
                                .map(|c| String::from_utf8_lossy(c).into_owned())
                                .collect(),
                        )),
                        RecordType::A => RData::A(A(item.parse().ok()?)),
                        RecordType::AAAA => RData::AAAA(AAAA(item.parse().ok()?)),
                        _ => return None,
                    };
                    m.add_answer(Record::from_rdata(qname.clone(), *ttl, rdata));
                }
            }
        }
        m.to_vec().ok()
    }
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

impl Net {
    /// An empty network with 5 ms links, starting at a fixed wall-clock time.
    pub fn new() -> Net {
        let start = Instant::now();
        Net {
            now: start,
            start,
            unix_start: UnixMillis(1_760_000_000_000),
            latency: Duration::from_millis(5),
            nodes: Vec::new(),
            raws: Vec::new(),
            links: BTreeMap::new(),
            listeners: BTreeMap::new(),
            raw_listeners: BTreeMap::new(),
            black_holes: BTreeSet::new(),
            queue: BTreeMap::new(),
            seq: 0,
            next_port: 40_000,
            trace: Vec::new(),
            frozen: BTreeSet::new(),
            zone: BTreeMap::new(),
            dns_log: Vec::new(),
        }
    }

    /// The address `127.0.0.<i+1>:8000` for node `i` (distinct netgroups on loopback).
    pub fn addr_for(i: usize) -> SocketAddr {
        let i = i + 1;
        SocketAddr::from(([127, (i >> 16) as u8, (i >> 8) as u8, i as u8], 8000))
    }

    /// Adds a node listening on `config.network.listen`, with `identity` and RNG `seed`.
    pub fn add_node_with(&mut self, config: Config, identity: Identity, seed: u64) -> NodeIdx {
        let addr = config.network.listen;
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        let node = Node::new(config, identity, s, self.now, self.unix_start);
        self.nodes.push(SimNode {
            node,
            addr,
            events: Vec::new(),
        });
        let idx = self.nodes.len() - 1;
        self.listeners.insert(addr, idx);
        idx
    }

    /// Adds a node with [`Config::local`] at [`Net::addr_for`] its index, key `i` of the pool.
    pub fn add_node(&mut self) -> NodeIdx {
        self.add_node_cfg(|_| {})
    }

    /// Adds a node with a local config changed by `f`.
    pub fn add_node_cfg(&mut self, f: impl FnOnce(&mut Config)) -> NodeIdx {
        let i = self.nodes.len();
        let mut c = Config::local(Net::addr_for(i));
        f(&mut c);
        self.add_node_with(c, keys::identity(i as u64), i as u64 + 1)
    }

    /// Stops routing dials for `addr` to its node (it stays in the net, unreachable).
    pub fn unlisten(&mut self, addr: SocketAddr) {
        self.listeners.remove(&addr);
    }

    fn push(&mut self, at: Instant, d: Delivery) {
        self.seq += 1;
        self.queue.insert((at, self.seq), d);
    }

    fn ephemeral(&mut self, ip: SocketAddr) -> SocketAddr {
        self.next_port = self.next_port.wrapping_add(1).max(40_000);
        SocketAddr::new(ip.ip(), self.next_port)
    }

    /// A raw endpoint that connects to node `target` from `from`; returns its id.
    pub fn raw_connect(&mut self, target: NodeIdx, from: SocketAddr) -> RawId {
        let id = self.raws.len();
        self.raws.push(RawEnd::default());
        let now = self.now;
        self.push(
            now,
            Delivery::Accept {
                target,
                from: End::Raw(id),
                remote: from,
            },
        );
        self.settle();
        id
    }

    /// Registers `addr` as a raw listener: the next dial to it creates a raw endpoint. Returns
    /// the id that endpoint will have.
    pub fn raw_listen(&mut self, addr: SocketAddr) -> RawId {
        let id = self.raws.len();
        self.raws.push(RawEnd::default());
        self.raw_listeners.entry(addr).or_default().push(id);
        id
    }

    /// Sends `bytes` from a raw endpoint to its node (after the link latency).
    pub fn raw_send(&mut self, raw: RawId, bytes: &[u8]) {
        if let Some(peer) = self.raws[raw].peer {
            let at = self.now + self.latency;
            self.push(at, Delivery::Data(peer, bytes.to_vec()));
        }
    }

    /// Closes a raw endpoint's connection.
    pub fn raw_close(&mut self, raw: RawId) {
        if let Some(peer) = self.raws[raw].peer.take() {
            self.links.remove(&End::Raw(raw));
            self.links.remove(&peer);
            let at = self.now + self.latency;
            self.push(at, Delivery::Closed(peer));
        }
    }

    /// Takes the bytes a raw endpoint has received.
    pub fn raw_take(&mut self, raw: RawId) -> Vec<u8> {
        std::mem::take(&mut self.raws[raw].inbox)
    }

    /// Performs every pending output of every node, without advancing time.
    pub fn settle(&mut self) {
        loop {
            let mut any = false;
            for i in 0..self.nodes.len() {
                if self.frozen.contains(&i) {
                    continue;
                }
                loop {
                    match self.nodes[i].node.poll_output() {
                        Output::Timeout { .. } => break,
                        o => {
                            any = true;
                            self.perform(i, o);
                        }
                    }
                }
            }
            // Deliveries due now.
            let due: Vec<(Instant, u64)> = self
                .queue
                .range(..=(self.now, u64::MAX))
                .map(|(k, _)| *k)
                .collect();
            for k in due {
                any = true;
                if let Some(d) = self.queue.remove(&k) {
                    self.deliver(d);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn perform(&mut self, i: NodeIdx, o: Output) {
        let now = self.now;
        let lat = self.latency;
        match o {
            Output::Transmit { conn, bytes } => {
                self.trace
                    .push(format!("{i} tx {conn} {}", hex_digest(&bytes)));
                if let Some(&peer) = self.links.get(&End::Node(i, conn)) {
                    self.push(now + lat, Delivery::Data(peer, bytes));
                }
            }
            Output::Dial { conn, addr, .. } => {
                self.trace.push(format!("{i} dial {conn} {addr}"));
                let from = self.ephemeral(self.nodes[i].addr);
                if self.black_holes.contains(&addr) {
                    return;
                }
                if let Some(raw) = self.raw_listeners.get_mut(&addr).and_then(|v| {
                    if v.is_empty() {
                        None
                    } else {
                        Some(v.remove(0))
                    }
                }) {
                    self.raws[raw].peer = Some(End::Node(i, conn));
                    self.links.insert(End::Node(i, conn), End::Raw(raw));
                    self.links.insert(End::Raw(raw), End::Node(i, conn));
                    self.push(now + lat * 2, Delivery::Connected(i, conn));
                } else if let Some(&target) = self.listeners.get(&addr) {
                    self.push(
                        now + lat,
                        Delivery::Accept {
                            target,
                            from: End::Node(i, conn),
                            remote: from,
                        },
                    );
                } else {
                    self.push(now + lat, Delivery::Failed(i, conn, IoFailure::Refused));
                }
            }
            Output::Close { conn } => {
                self.trace.push(format!("{i} close {conn}"));
                if let Some(peer) = self.links.remove(&End::Node(i, conn)) {
                    self.links.remove(&peer);
                    self.push(now + lat, Delivery::Closed(peer));
                }
            }
            Output::Event(e) => {
                self.trace.push(format!("{i} event {e:?}"));
                self.nodes[i].events.push(e);
            }
            Output::DnsQuery { bytes, .. } => {
                self.trace.push(format!("{i} dns {}", hex_digest(&bytes)));
                if let Some((name, t)) = dns::question(&bytes) {
                    self.dns_log.push((i, name.clone(), t));
                    let answer = self
                        .zone
                        .get(&(name, t))
                        .cloned()
                        .unwrap_or(dns::Answer::NxDomain);
                    if let Some(reply) = dns::respond(&bytes, &answer) {
                        self.push(now + lat, Delivery::Dns(i, reply));
                    }
                }
            }
            other => {
                self.trace.push(format!("{i} other {other:?}"));
            }
        }
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        let target = match &d {
            Delivery::Connected(i, _) | Delivery::Failed(i, _, _) => Some(*i),
            Delivery::Data(End::Node(i, _), _) | Delivery::Closed(End::Node(i, _)) => Some(*i),
            Delivery::Accept { target, .. } => Some(*target),
            Delivery::Dns(i, _) => Some(*i),
            _ => None,
        };
        if target.is_some_and(|t| self.frozen.contains(&t)) {
            return;
        }
        match d {
            Delivery::Connected(i, conn) => self.nodes[i]
                .node
                .handle_input(Input::Connected { conn, now }),
            Delivery::Failed(i, conn, cause) => self.nodes[i]
                .node
                .handle_input(Input::ConnectFailed { conn, cause, now }),
            Delivery::Data(End::Node(i, conn), bytes) => {
                self.nodes[i].node.handle_input(Input::Received {
                    conn,
                    data: &bytes,
                    now,
                })
            }
            Delivery::Data(End::Raw(r), bytes) => self.raws[r].inbox.extend_from_slice(&bytes),
            Delivery::Dns(i, bytes) => self.nodes[i]
                .node
                .handle_input(Input::DnsResponse { data: &bytes, now }),
            Delivery::Closed(End::Node(i, conn)) => {
                self.nodes[i].node.handle_input(Input::Closed {
                    conn,
                    cause: IoFailure::Eof,
                    now,
                })
            }
            Delivery::Closed(End::Raw(r)) => {
                self.raws[r].closed = true;
                self.raws[r].peer = None;
            }
            Delivery::Accept {
                target,
                from,
                remote,
            } => {
                // The dialer may have given up meanwhile.
                if let End::Node(i, conn) = from {
                    if self.nodes[i].node.peer(conn).is_none() {
                        return;
                    }
                }
                let conn = self.nodes[target].node.accept(remote, now);
                let here = End::Node(target, conn);
                self.links.insert(here, from);
                self.links.insert(from, here);
                match from {
                    End::Node(i, c) => {
                        let lat = self.latency;
                        self.push(now + lat, Delivery::Connected(i, c));
                    }
                    End::Raw(r) => self.raws[r].peer = Some(here),
                }
            }
        }
    }

    /// Runs until virtual time `until`, delivering everything due and firing timers.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.settle();
            let next_delivery = self.queue.keys().next().map(|k| k.0);
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.frozen.contains(i))
                .map(|(_, n)| n.node.poll_timeout().0)
                .min();
            let next = match (next_delivery, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(until),
            };
            if next > until {
                self.now = until;
                self.fire_timers();
                self.settle();
                return;
            }
            self.now = next.max(self.now);
            self.fire_timers();
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if self.frozen.contains(&i) {
                continue;
            }
            if n.node.poll_timeout().0 <= now {
                n.node.handle_input(Input::Timeout { now });
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Node `from` dials node `to`'s listen address now (normal priority). Panics if the node
    /// refuses the command at once: tests that expect a refusal call `add_peer` themselves.
    pub fn dial(&mut self, from: NodeIdx, to: NodeIdx) -> qudag_peer::RequestId {
        let (addr, now) = (self.nodes[to].addr.to_string(), self.now);
        self.nodes[from]
            .node
            .add_peer(&addr, qudag_peer::Priority::Normal, now)
            .unwrap_or_else(|e| panic!("node {from} cannot dial node {to}: {e}"))
    }

    /// Every node of `from` dials node `to` now.
    pub fn dial_all(&mut self, from: &[NodeIdx], to: NodeIdx) {
        for &f in from {
            self.dial(f, to);
        }
    }

    /// The outcomes of node `i`'s `add_peer` requests so far, in order.
    pub fn add_results(
        &self,
        i: NodeIdx,
    ) -> Vec<Result<qudag_peer::NodeId, qudag_peer::PeerError>> {
        self.nodes[i]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::AddPeerFinished { result, .. } => Some(result.clone()),
                _ => None,
            })
            .collect()
    }

    /// Checks every node's invariants.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (i, n) in self.nodes.iter().enumerate() {
            n.node
                .check_invariants()
                .map_err(|e| format!("node {i}: {e}"))?;
        }
        Ok(())
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{}b:{:016x}", bytes.len(), h.finish())
}

/// Scripted peers: a raw endpoint that speaks the real protocol with its own identity, for
/// tests that need a peer to misbehave after (or during) a genuine handshake.
pub mod script {
    use super::{Net, RawId};
    use qudag_peer::channel::{Opener, RekeyLimits, Sealer, SessionKeys};
    use qudag_peer::handshake::{self, LocalHello, PeerHello};
    use qudag_peer::rng::Rng;
    use qudag_peer::wire::{FrameDecoder, Message, LENGTH_PREFIX_LEN};
    use qudag_peer::Identity;
    use std::time::Duration;

    /// Decodes every plain frame in `bytes` (which must be whole frames): the handshake and
    /// anything a node sends before or instead of it. Frames after the handshake are sealed:
    /// read them with [`Session::open`].
    pub fn frames(bytes: &[u8]) -> Vec<Message> {
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let Ok(n) = d.push(rest) else { break };
            rest = &rest[n..];
            while let Ok(Some(m)) = d.next_message() {
                out.push(m);
            }
        }
        out
    }

    /// Splits `bytes` after its first whole frame (the rest is empty if there is none).
    pub fn split_first_frame(bytes: &[u8]) -> (&[u8], &[u8]) {
        let Some(prefix) = bytes.get(..LENGTH_PREFIX_LEN) else {
            return (bytes, &[]);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        bytes.split_at((LENGTH_PREFIX_LEN + len).min(bytes.len()))
    }

    /// A scripted peer's end of the sealed channel, built on the core's public
    /// [`Sealer`]/[`Opener`]: what it sends is sealed, what it receives is opened.
    #[derive(Debug)]
    pub struct Session {
        sealer: Sealer,
        opener: Opener,
        decoder: FrameDecoder,
        /// The first error met while opening, if any (later bytes are then ignored).
        pub error: Option<qudag_peer::channel::ChannelError>,
    }

    impl Session {
        /// A session over `keys` with the default rekey limits.
        pub fn new(keys: &SessionKeys) -> Session {
            Session::with_limits(keys, RekeyLimits::default())
        }

        /// A session over `keys` that rekeys at `limits` (the node must use the same).
        pub fn with_limits(keys: &SessionKeys, limits: RekeyLimits) -> Session {
            let (sealer, opener) = keys.split(limits);
            Session {
                sealer,
                opener,
                decoder: FrameDecoder::new(),
                error: None,
            }
        }

        /// `msg` as one sealed frame, ready to send.
        pub fn send(&mut self, msg: &Message) -> Vec<u8> {
            self.sealer.seal_message(msg).expect("seals")
        }

        /// Seals a raw plain frame (for malformed-message tests).
        pub fn send_raw(&mut self, plain_frame: &[u8]) -> Vec<u8> {
            self.sealer.seal_frame(plain_frame).expect("seals")
        }

        /// Opens every whole sealed frame in `bytes` (any split: a partial frame waits for
        /// the next call). Stops at the first frame that fails (see [`Session::error`]).
        pub fn open(&mut self, bytes: &[u8]) -> Vec<Message> {
            let mut out = Vec::new();
            let mut rest = bytes;
            while !rest.is_empty() && self.error.is_none() {
                let n = match self.decoder.push(rest) {
                    Ok(n) => n,
                    Err(e) => {
                        self.error = Some(e.into());
                        break;
                    }
                };
                rest = &rest[n..];
                loop {
                    let opener = &mut self.opener;
                    match self.decoder.next_with(|p| opener.open(p)) {
                        Ok(Some(m)) => out.push(m),
                        Ok(None) => break,
                        Err(e) => {
                            self.error = Some(e);
                            break;
                        }
                    }
                }
            }
            out
        }

        /// Seals `msg` and sends it on `raw`.
        pub fn send_to(&mut self, net: &mut Net, raw: RawId, msg: &Message) {
            let bytes = self.send(msg);
            net.raw_send(raw, &bytes);
        }

        /// Opens everything the node sent on `raw` so far.
        pub fn take(&mut self, net: &mut Net, raw: RawId) -> Vec<Message> {
            let bytes = net.raw_take(raw);
            self.open(&bytes)
        }
    }

    fn local<'a>(id: &'a Identity, caps: &'a [String], net: &Net) -> LocalHello<'a> {
        let elapsed = net.now.saturating_duration_since(net.start);
        crate::hostile::local_hello(id, caps, net.unix_start.plus(elapsed).as_secs())
    }

    /// Completes a handshake as the responder on `raw` (which a node dialed). Returns the
    /// node's proven hello, the session for the sealed frames that follow, and any frames that
    /// arrived (sealed) after the confirmation, opened.
    pub fn accept_as(
        net: &mut Net,
        raw: RawId,
        id: &Identity,
        caps: &[String],
    ) -> (PeerHello, Session, Vec<Message>) {
        net.run_for(Duration::from_millis(20));
        let got = frames(&net.raw_take(raw));
        let Some(Message::Handshake(h)) = got.first() else {
            panic!("expected a Handshake, got {got:?}")
        };
        let (st, reply, claimed) =
            handshake::on_hello(h, &local(id, caps, net), &mut Rng::from_seed([9; 32]))
                .expect("valid hello");
        net.raw_send(raw, &reply.encode().expect("encodes"));
        net.run_for(Duration::from_millis(20));
        let bytes = net.raw_take(raw);
        let (first, rest) = split_first_frame(&bytes);
        let got = frames(first);
        let Some(Message::HandshakeConfirm(c)) = got.first() else {
            panic!("expected a confirmation, got {got:?}")
        };
        let (_, keys) = handshake::on_confirm(&st, c).expect("the node's confirmation verifies");
        let mut session = Session::new(&keys);
        let after = session.open(rest);
        (claimed, session, after)
    }

    /// Completes a handshake as the initiator on `raw` (connected with `Net::raw_connect`).
    /// Returns the node's proven hello, the session, and the (opened) frames that followed.
    pub fn connect_as(
        net: &mut Net,
        raw: RawId,
        id: &Identity,
        caps: &[String],
    ) -> (PeerHello, Session, Vec<Message>) {
        let (st, hello) =
            handshake::initiate(&local(id, caps, net), None, &mut Rng::from_seed([10; 32]));
        net.raw_send(raw, &hello.encode().expect("encodes"));
        net.run_for(Duration::from_millis(20));
        let bytes = net.raw_take(raw);
        let (first, rest) = split_first_frame(&bytes);
        let got = frames(first);
        let Some(Message::HandshakeResponse(r)) = got.first() else {
            panic!("expected a response, got {got:?}")
        };
        let (confirm, peer, keys) =
            handshake::on_response(&st, r, &local(id, caps, net)).expect("valid response");
        assert!(
            rest.is_empty(),
            "the node sends nothing before the confirmation"
        );
        net.raw_send(raw, &confirm.encode().expect("encodes"));
        let mut session = Session::new(&keys);
        net.run_for(Duration::from_millis(20));
        let got = session.take(net, raw);
        (peer, session, got)
    }
}
