//! The bodies of the fuzz targets, compiled on stable.
//!
//! Each `fuzz/fuzz_targets/<name>.rs` is a three-line wrapper around the function of the same
//! name here, and `tests/tests/fuzz-corpus-replay.rs` runs every file of `fuzz/corpus/<name>/`
//! and `fuzz/regressions/<name>/` through it with plain `cargo test`. A body never fails for
//! malformed input; it panics only when the core breaks a promise (a panic inside the core, a
//! broken invariant, a round trip that does not round-trip, an output the protocol forbids).
//!
//! Identities come from `tests/data/fuzz-keys.bin` (committed), the node's RNG seed and its
//! wall clock are fixed, so the same input takes the same path on every machine.

use crate::dns as zone;
use qudag_peer::addrbook::MAX_ADDRBOOK_ENTRIES;
use qudag_peer::bans::Cidr;
use qudag_peer::channel::{self, ChannelError, Opener, RekeyLimits, Sealer, SessionKeys};
use qudag_peer::dns::{self, DnsClient, DnsOutcome, QueryKind};
use qudag_peer::handshake::{self, HandshakeState, LocalHello, INITIATOR_LABEL, RESPONDER_LABEL};
use qudag_peer::rng::Rng;
use qudag_peer::wire::{
    self, Disconnect, FrameDecoder, GetPeers, Handshake, HandshakeBody, HandshakeConfirm,
    HandshakeResponse, Message, MessageType, Peers, Ping,
};
use qudag_peer::BanTarget;
use qudag_peer::PeerAddress;
use qudag_peer::Report;
use qudag_peer::{Config, ConnId, Identity, Node, UnixMillis};
use qudag_peer::{Input, IoFailure, Output};
use qudag_peer::{PeerState, Priority};
use qudag_peer::{PUBLIC_KEY_LEN, SECRET_KEY_LEN};
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target, by name: what the corpus replay and the seed generator iterate over.
pub const TARGETS: &[(&str, Body)] = &[
    ("frame_decoder", frame_decoder),
    ("message", message),
    ("handshake_responder", handshake_responder),
    ("handshake_initiator", handshake_initiator),
    ("pex", pex),
    ("addr", addr),
    ("dns", dns),
    ("config", config),
    ("ban_target", ban_target),
    ("node_ops", node_ops),
];

// ------------------------------------------------------------------------------- fixtures

/// The wall clock every fuzzed node starts at.
pub const UNIX_START: UnixMillis = UnixMillis(1_760_000_000_000);
/// Where the node under test listens (unless a target picks another address).
pub const NODE_ADDR: &str = "127.0.0.1:8000";
/// Where the scripted peer listens (and what the node dials).
pub const PEER_ADDR: &str = "127.0.0.2:8000";
/// Identities in `tests/data/fuzz-keys.bin`: 0 is the node under test, the rest are peers.
pub const KEY_COUNT: usize = 5;

static KEYS: &[u8] = include_bytes!("../data/fuzz-keys.bin");

/// Fixed identity `i` (`0..KEY_COUNT`), from the committed key file.
pub fn identity(i: usize) -> Identity {
    static IDS: OnceLock<Vec<Identity>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        let per = PUBLIC_KEY_LEN + SECRET_KEY_LEN;
        assert_eq!(
            KEYS.len(),
            per * KEY_COUNT,
            "tests/data/fuzz-keys.bin is missing or truncated: regenerate it with \
             `cargo test -p qudag-peer-tests --test fuzz-seeds -- --ignored`"
        );
        KEYS.chunks(per)
            .map(|k| {
                Identity::from_bytes(&k[..PUBLIC_KEY_LEN], &k[PUBLIC_KEY_LEN..])
                    .expect("committed key pair")
            })
            .collect()
    });
    ids[i % KEY_COUNT].clone()
}

/// A node under test with `config`, key 0, a fixed seed and clock.
pub fn new_node(config: Config, start: Instant) -> Node {
    Node::new(config, identity(0), [42; 32], start, UNIX_START)
}

fn local_config() -> Config {
    Config::local(NODE_ADDR.parse().expect("constant"))
}

fn peer_hello<'a>(id: &'a Identity, caps: &'a [String], unix_secs: u64) -> LocalHello<'a> {
    LocalHello {
        identity: id,
        capabilities: caps,
        user_agent: "fuzz-peer/1",
        listen_addr: Some(PEER_ADDR.to_string()),
        unix_secs,
        max_skew: Duration::from_secs(300),
        quic_listen_addr: None,
    }
}

fn pex_caps() -> Vec<String> {
    vec!["pex".to_string()]
}

/// Reads structured values from the fuzz input; returns zeros once it runs out.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }
    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// One byte (0 at the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }
    /// A big-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    /// A big-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    /// A length byte (at most `max`), then that many bytes.
    pub fn chunk(&mut self, max: usize) -> &'a [u8] {
        let n = self.u8() as usize;
        self.bytes(n.min(max))
    }
    /// A length-prefixed string (lossy UTF-8).
    pub fn string(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.chunk(max)).into_owned()
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

// ------------------------------------------------------------------------------- the harness

/// The fuzz harness's view of one connection: what the node sent on it, decoded (and opened,
/// once the node switched the connection to sealed frames).
#[derive(Default)]
struct Wire {
    decoder: FrameDecoder,
    inbox: Vec<Message>,
    closed: bool,
    /// The peer's end of the sealed channel, from the node's session keys: seals what the
    /// harness sends, opens what the node sends.
    channel: Option<(Sealer, Opener)>,
    /// Whether a sealed frame from the node was seen (every later frame must be sealed too).
    sealed: bool,
    /// The scripted peer's handshake, when it speaks on this connection.
    hs: Option<HandshakeState>,
    /// The scripted peer's identity (key index).
    key: usize,
}

/// A node under test plus everything it asked the outside world to do.
pub struct Harness {
    /// The node.
    pub node: Node,
    /// Virtual time.
    pub now: Instant,
    start: Instant,
    wires: BTreeMap<ConnId, Wire>,
    /// Dials the node asked for, in order (connection, address).
    pub dials: Vec<(ConnId, SocketAddr)>,
    /// DNS queries the node sent (transaction id, bytes), most recent last.
    pub dns: Vec<(u16, Vec<u8>)>,
    /// Events seen.
    pub events: usize,
    /// The most connected peers seen at once.
    pub max_connected: usize,
    rng: Rng,
}

impl Harness {
    /// A harness around a fresh node with `config`.
    pub fn new(config: Config) -> Harness {
        let start = Instant::now();
        let mut h = Harness {
            node: new_node(config, start),
            now: start,
            start,
            wires: BTreeMap::new(),
            dials: Vec::new(),
            dns: Vec::new(),
            events: 0,
            max_connected: 0,
            rng: Rng::from_seed([7; 32]),
        };
        h.drain();
        h
    }

    fn unix_secs(&self) -> u64 {
        UNIX_START
            .plus(self.now.saturating_duration_since(self.start))
            .as_secs()
    }

    /// Performs every pending output, checking what the protocol promises about them.
    pub fn drain(&mut self) {
        // Bounded: a node that produced outputs forever would hang the fuzzer instead.
        for _ in 0..100_000 {
            match self.node.poll_output() {
                Output::Timeout { .. } => return,
                Output::Transmit { conn, bytes } => {
                    let keys = self.node.session_keys(conn);
                    // A connection the node already dropped may have got sealed frames under
                    // keys the harness can no longer ask for (e.g. a duplicate refused right
                    // after the switch): those are skipped rather than read as bad frames.
                    let gone = self.node.peer(conn).is_none();
                    let w = self.wires.entry(conn).or_default();
                    assert!(!w.closed, "{conn}: Transmit after Close");
                    if w.channel.is_none() {
                        // The peer's view: it opens what the node seals.
                        w.channel = keys.map(|k| {
                            SessionKeys {
                                send: k.recv,
                                recv: k.send,
                            }
                            .split(RekeyLimits::default())
                        });
                    }
                    let mut rest = &bytes[..];
                    while !rest.is_empty() {
                        let n = w
                            .decoder
                            .push(rest)
                            .unwrap_or_else(|e| panic!("{conn}: the node sent a bad frame: {e}"));
                        rest = &rest[n..];
                        loop {
                            match next_from_node(w) {
                                Ok(Some(m)) => {
                                    if w.inbox.len() < 64 {
                                        w.inbox.push(m);
                                    }
                                }
                                Ok(None) => break,
                                Err(_) if gone && w.channel.is_none() => break,
                                Err(e) => panic!("{conn}: the node sent a bad frame: {e}"),
                            }
                        }
                    }
                }
                Output::Dial { conn, addr, .. } => {
                    self.wires.entry(conn).or_default();
                    if self.dials.len() < 256 {
                        self.dials.push((conn, addr));
                    }
                }
                Output::Close { conn } => {
                    let w = self.wires.entry(conn).or_default();
                    assert!(!w.closed, "{conn}: closed twice");
                    w.closed = true;
                }
                Output::DnsQuery { id, bytes, .. } => {
                    assert!(
                        zone::question(&bytes).is_some(),
                        "the node sent a DNS query that does not parse"
                    );
                    if self.dns.len() >= 64 {
                        self.dns.remove(0);
                    }
                    self.dns.push((id, bytes));
                }
                Output::Event(_) => self.events += 1,
                _ => {}
            }
        }
        panic!("the node produced outputs without end");
    }

    /// Checks the node's invariants and limits; panics if one is broken.
    pub fn check(&mut self) {
        if let Err(e) = self.node.check_invariants() {
            panic!("invariant broken: {e}");
        }
        let cfg = &self.node.config().network.peers;
        let peers = self.node.peers();
        assert!(
            peers.len() <= cfg.max_connections,
            "{} connections, max {}",
            peers.len(),
            cfg.max_connections
        );
        let counts = self.node.counts();
        assert!(counts.connected() <= cfg.max_connections);
        self.max_connected = self.max_connected.max(counts.connected());
        assert!(self.node.address_book().len() <= MAX_ADDRBOOK_ENTRIES);
        // Every connection the pool still holds is one the harness knows about.
        for p in &peers {
            assert!(
                self.wires.get(&p.conn).is_none_or(|w| !w.closed),
                "{} is closed but still in the pool ({:?})",
                p.conn,
                p.status
            );
        }
        // Node ids index at most one live connection each.
        let mut ids = BTreeSet::new();
        for p in peers.iter().filter(|p| p.status == PeerState::Connected) {
            if let Some(id) = p.id {
                assert!(ids.insert(id), "two connections for {id}");
            }
        }
    }

    /// Feeds `input`, drains, checks.
    pub fn input(&mut self, input: Input<'_>) {
        self.node.handle_input(input);
        self.drain();
        self.check();
    }

    /// Bytes from the peer on `conn`.
    pub fn recv(&mut self, conn: ConnId, data: &[u8]) {
        let now = self.now;
        self.input(Input::Received { conn, data, now });
    }

    /// Advances virtual time by `d` and fires the timer if it is due (or `force`).
    pub fn advance(&mut self, d: Duration, force: bool) {
        self.now += d;
        let now = self.now;
        if force || self.node.poll_timeout().0 <= now {
            self.input(Input::Timeout { now });
        }
    }

    /// An inbound connection from `remote`.
    pub fn accept(&mut self, remote: SocketAddr) -> ConnId {
        let c = self.node.accept(remote, self.now);
        self.wires.entry(c).or_default();
        self.drain();
        self.check();
        c
    }

    /// `add_peer`, then the dial it produced (if any) connected.
    pub fn dial(&mut self, address: &str) -> Option<ConnId> {
        let n = self.dials.len();
        let now = self.now;
        let _ = self.node.add_peer(address, Priority::Normal, now);
        self.drain();
        self.check();
        let (conn, _) = *self.dials.get(n)?;
        self.input(Input::Connected { conn, now });
        Some(conn)
    }

    /// The bytes of `msg` from the peer on `conn`: sealed once the channel is up.
    fn peer_frame(&mut self, conn: ConnId, msg: &Message) -> Vec<u8> {
        let plain = frame(msg);
        self.peer_seal(conn, &plain)
    }

    /// Seals a stream of plain frames for `conn` once its channel is up (a tail that is not a
    /// whole frame within the sealed limit is appended as it is); otherwise returns it as is.
    fn peer_seal(&mut self, conn: ConnId, data: &[u8]) -> Vec<u8> {
        let Some((sealer, _)) = self.wires.get_mut(&conn).and_then(|w| w.channel.as_mut()) else {
            return data.to_vec();
        };
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut rest = data;
        while rest.len() >= wire::LENGTH_PREFIX_LEN {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let whole = wire::LENGTH_PREFIX_LEN + len;
            if !(2..=channel::MAX_SEALED_PLAINTEXT).contains(&len) || rest.len() < whole {
                break;
            }
            match sealer.seal_frame(&rest[..whole]) {
                Ok(f) => out.extend_from_slice(&f),
                Err(_) => break,
            }
            rest = &rest[whole..];
        }
        out.extend_from_slice(rest);
        out
    }

    /// Takes what the node sent on `conn`.
    fn take(&mut self, conn: ConnId) -> Vec<Message> {
        self.wires
            .get_mut(&conn)
            .map(|w| std::mem::take(&mut w.inbox))
            .unwrap_or_default()
    }

    /// The scripted peer (key `key`) takes the next honest handshake step on `conn`: opens as
    /// initiator on an inbound connection, answers the node's `Handshake`, or confirms the
    /// node's `HandshakeResponse`. Returns whether it sent something.
    pub fn peer_step(&mut self, conn: ConnId, key: usize) -> bool {
        let caps = pex_caps();
        let unix = self.unix_secs();
        let Some(w) = self.wires.get_mut(&conn) else {
            return false;
        };
        if w.closed {
            return false;
        }
        let pending = std::mem::take(&mut w.inbox);
        let hs = w.hs.take();
        let key = if hs.is_some() { w.key } else { key % KEY_COUNT };
        w.key = key;
        let id = identity(key);
        let local = peer_hello(&id, &caps, unix);
        let mut out = None;
        let mut next = hs.clone();
        for m in &pending {
            match (m, &hs) {
                (Message::Handshake(h), None) => {
                    if let Ok((st, reply, _)) = handshake::on_hello(h, &local, &mut self.rng) {
                        next = Some(st);
                        out = Some(reply);
                    }
                    break;
                }
                (
                    Message::HandshakeResponse(r),
                    Some(st @ HandshakeState::AwaitResponse { .. }),
                ) => {
                    if let Ok((confirm, _, _)) = handshake::on_response(st, r, &local) {
                        out = Some(confirm);
                        next = Some(HandshakeState::Done);
                    }
                    break;
                }
                _ => {}
            }
        }
        let inbound = self.dials.iter().all(|(c, _)| *c != conn);
        if out.is_none() && hs.is_none() && inbound {
            let (st, hello) = handshake::initiate(&local, None, &mut self.rng);
            next = Some(st);
            out = Some(hello);
        }
        if let Some(w) = self.wires.get_mut(&conn) {
            w.hs = next;
        }
        match out.and_then(|m| m.encode().ok()) {
            Some(bytes) => {
                self.recv(conn, &bytes);
                true
            }
            None => false,
        }
    }
}

/// The next message the node sent on `w`: plain until the node's first sealed frame (tried
/// with the peer's opener once the node has session keys), sealed from then on.
fn next_from_node(w: &mut Wire) -> Result<Option<Message>, ChannelError> {
    let Some((_, opener)) = w.channel.as_mut() else {
        return w.decoder.next_message().map_err(ChannelError::Wire);
    };
    if w.sealed {
        return w.decoder.next_with(|p| opener.open(p));
    }
    // A trial open on a copy: a plain frame does not authenticate, a sealed one does.
    let mut trial = opener.clone();
    let sealed = &mut w.sealed;
    let out = w.decoder.next_with(|p| match trial.open(p) {
        Ok(m) => {
            *sealed = true;
            Ok(m)
        }
        Err(_) => Message::decode_payload(p).map_err(ChannelError::Wire),
    });
    if w.sealed {
        *opener = trial;
    }
    out
}

/// Bytes of a well-formed message.
fn frame(m: &Message) -> Vec<u8> {
    m.encode()
        .expect("the harness builds messages within limits")
}

// ------------------------------------------------------------------------------- scripts

/// Handshake bytes that bring a fresh node (config, seed, clock as in [`Harness::new`]) to
/// `Connected` with the scripted peer, precomputed once per process: the core is deterministic.
struct Script {
    /// Responder script: the peer's `Handshake`, then its `HandshakeConfirm`.
    hello: Vec<u8>,
    confirm: Vec<u8>,
}

fn remote() -> SocketAddr {
    "127.0.0.2:40000".parse().expect("constant")
}

fn responder_script() -> &'static Script {
    static S: OnceLock<Script> = OnceLock::new();
    S.get_or_init(|| {
        let mut h = Harness::new(local_config());
        let conn = h.accept(remote());
        let caps = pex_caps();
        let id = identity(1);
        let local = peer_hello(&id, &caps, h.unix_secs());
        let (st, hello) = handshake::initiate(&local, None, &mut Rng::from_seed([1; 32]));
        let hello = frame(&hello);
        h.recv(conn, &hello);
        let resp = h
            .take(conn)
            .into_iter()
            .find_map(|m| match m {
                Message::HandshakeResponse(r) => Some(r),
                _ => None,
            })
            .expect("the node answers a valid Handshake");
        let (confirm, _, _) = handshake::on_response(&st, &resp, &local).expect("valid response");
        Script {
            hello,
            confirm: frame(&confirm),
        }
    })
}

/// Listen addresses the PEX and node targets choose from (scope rules depend on them).
const LISTENS: [&str; 4] = [
    "127.0.0.1:8000",
    "10.1.2.3:8000",
    "93.184.216.34:8000",
    "[2a00:1450::1]:8000",
];

fn initiator_config(listen: usize, allow_private: bool) -> Config {
    let mut c = Config::local(LISTENS[listen % LISTENS.len()].parse().expect("constant"));
    c.network.allow_private_addresses = allow_private;
    c
}

/// Initiator script: the peer's `HandshakeResponse` to the node's deterministic `Handshake`.
fn initiator_script(listen: usize, allow_private: bool) -> Vec<u8> {
    type Cache = std::sync::Mutex<BTreeMap<(usize, bool), Vec<u8>>>;
    static S: OnceLock<Cache> = OnceLock::new();
    let m = S.get_or_init(Default::default);
    let key = (listen % LISTENS.len(), allow_private);
    if let Some(v) = m.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return v.clone();
    }
    let mut h = Harness::new(initiator_config(listen, allow_private));
    let conn = h.dial(PEER_ADDR).expect("the node dials");
    let caps = pex_caps();
    let id = identity(1);
    let local = peer_hello(&id, &caps, h.unix_secs());
    let hello = h
        .take(conn)
        .into_iter()
        .find_map(|m| match m {
            Message::Handshake(x) => Some(x),
            _ => None,
        })
        .expect("the node opens with a Handshake");
    let (_, reply, _) =
        handshake::on_hello(&hello, &local, &mut Rng::from_seed([2; 32])).expect("valid hello");
    let bytes = frame(&reply);
    m.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, bytes.clone());
    bytes
}

/// The precomputed responder script: the peer's `Handshake` frame and its `HandshakeConfirm`
/// frame, which connect a fresh node that accepted a connection (for seed corpora).
pub fn responder_frames() -> (Vec<u8>, Vec<u8>) {
    let s = responder_script();
    (s.hello.clone(), s.confirm.clone())
}

/// The precomputed initiator script: the peer's `HandshakeResponse` frame that connects a
/// fresh node (listen address `LISTENS[listen]`) that dialed [`PEER_ADDR`] (for seed corpora).
pub fn initiator_frame(listen: usize, allow_private: bool) -> Vec<u8> {
    initiator_script(listen, allow_private)
}

/// A node connected (as responder) to the scripted peer.
fn connected_responder() -> (Harness, ConnId) {
    let s = responder_script();
    let mut h = Harness::new(local_config());
    let conn = h.accept(remote());
    h.recv(conn, &s.hello);
    h.recv(conn, &s.confirm);
    assert_eq!(
        h.node.peer(conn).map(|p| p.status),
        Some(PeerState::Connected),
        "the precomputed responder script no longer connects: is the core deterministic?"
    );
    h.take(conn);
    (h, conn)
}

/// A node connected (as initiator) to the scripted peer, which advertises `pex`.
fn connected_initiator(listen: usize, allow_private: bool) -> (Harness, ConnId) {
    let resp = initiator_script(listen, allow_private);
    let mut h = Harness::new(initiator_config(listen, allow_private));
    let conn = h.dial(PEER_ADDR).expect("the node dials");
    h.take(conn);
    h.recv(conn, &resp);
    assert_eq!(
        h.node.peer(conn).map(|p| p.status),
        Some(PeerState::Connected),
        "the precomputed initiator script no longer connects: is the core deterministic?"
    );
    (h, conn)
}

/// Feeds `data` to `conn` in up to three pieces split where the first two bytes say, then lets
/// the handshake and keep-alive timers run out.
fn feed_split(h: &mut Harness, conn: ConnId, sel: u16, data: &[u8]) {
    // On a connection already sealed, the input's plain frames are sealed for the node.
    let data = &h.peer_seal(conn, data)[..];
    let a = (sel as usize & 0xff).min(data.len());
    let b = (a + (sel as usize >> 8) * 4).min(data.len());
    for part in [&data[..a], &data[a..b], &data[b..]] {
        if !part.is_empty() {
            h.recv(conn, part);
        }
    }
    h.advance(Duration::from_secs(6), false);
    h.advance(Duration::from_secs(100), false);
}

// ------------------------------------------------------------------------------- targets

/// Random chunks through one [`FrameDecoder`]: the messages and the first error are the same as
/// feeding the stream whole, the buffer stays bounded, and every message re-encodes to itself.
pub fn frame_decoder(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = decode_stream(stream, &mut |_| usize::MAX);
    let mut x = u32::from(seed) | 0x100;
    let chunked = decode_stream(stream, &mut |_| {
        // xorshift: chunk sizes 1..=64, occasionally larger.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if x % 8 == 0 {
            (x % 4096) as usize + 1
        } else {
            (x % 64) as usize + 1
        }
    });
    assert_eq!(
        whole, chunked,
        "splitting the stream changed what it decodes to"
    );
    for m in whole.0 {
        let bytes = m.encode().expect("a decoded message is within limits");
        assert_eq!(Message::decode_payload(&bytes[4..]).as_ref(), Ok(&m));
    }
}

type Decoded = (Vec<Message>, Option<wire::WireError>);

fn decode_stream(stream: &[u8], next_len: &mut dyn FnMut(usize) -> usize) -> Decoded {
    let mut d = FrameDecoder::new();
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = next_len(rest.len()).min(rest.len());
        let (mut chunk, tail) = rest.split_at(n);
        rest = tail;
        while !chunk.is_empty() {
            match d.push(chunk) {
                Ok(k) => chunk = &chunk[k..],
                Err(e) => return (out, Some(e)),
            }
            loop {
                match d.next_message() {
                    Ok(Some(m)) => out.push(m),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
            assert!(
                d.buffered() <= wire::LENGTH_PREFIX_LEN + wire::MAX_FRAME_LEN,
                "decoder buffers {} bytes",
                d.buffered()
            );
        }
    }
    (out, None)
}

/// [`Message::decode_payload`] and [`HandshakeBody::from_cbor`]: whatever decodes re-encodes
/// within limits and decodes to the same value.
pub fn message(data: &[u8]) {
    // The sealed-frame opener: the input as a sealed payload (it must fail without panicking,
    // as a forgery), and sealed then opened (it must come back unchanged, decoding as the plain
    // payload does).
    let keys = SessionKeys {
        send: [1; 32],
        recv: [1; 32],
    };
    let (mut sealer, mut opener) = keys.split(RekeyLimits::default());
    assert!(
        opener.clone().open(data).is_err(),
        "a forged sealed frame opened"
    );
    let mut plain = (data.len() as u32).to_be_bytes().to_vec();
    plain.extend_from_slice(data);
    let sealed = sealer.seal_frame(&plain);
    if let (true, Ok(sealed)) = (data.len() >= 2, sealed) {
        let opened = opener
            .open_raw(&sealed[wire::LENGTH_PREFIX_LEN..])
            .expect("what was sealed opens");
        assert_eq!(opened, data);
    }
    if let Ok(m) = Message::decode_payload(data) {
        let bytes = m.encode().expect("a decoded message is within limits");
        assert_eq!(Message::decode_payload(&bytes[4..]), Ok(m));
    }
    for t in [MessageType::Handshake, MessageType::HandshakeResponse] {
        if let Ok(b) = HandshakeBody::from_cbor(t, data) {
            assert_eq!(HandshakeBody::from_cbor(t, &b.to_cbor()), Ok(b));
        }
    }
}

/// A node that accepted a connection, fed the peer's bytes at a stage chosen by the first
/// byte: 0 raw bytes from the start; 1 a valid `Handshake`, then raw bytes (where the
/// confirmation belongs); 2 a whole valid handshake, then raw bytes; 3 a `Handshake` built from
/// fuzzed fields with a real key and a correctly signed confirmation, then raw bytes.
pub fn handshake_responder(data: &[u8]) {
    handshake_responder_run(data);
}

/// [`handshake_responder`], returning the harness (for tests of the seeds).
pub fn handshake_responder_run(data: &[u8]) -> Harness {
    let mut c = Cursor::new(data);
    let stage = c.u8() % 4;
    let sel = c.u16();
    let (mut h, conn) = match stage {
        0 | 1 | 3 => {
            let mut h = Harness::new(local_config());
            let conn = h.accept(remote());
            if stage == 1 {
                h.recv(conn, &responder_script().hello);
            }
            if stage == 3 {
                structured_hello(&mut h, conn, &mut c);
            }
            (h, conn)
        }
        _ => connected_responder(),
    };
    feed_split(&mut h, conn, sel, c.rest());
    h
}

/// Fuzzed handshake fields, wrapped by a real key: the node's version, clock, capability and
/// address policy behind the signature checks.
fn body_from(c: &mut Cursor<'_>, unix_secs: u64, rng: &mut Rng) -> (HandshakeBody, usize, u8) {
    let flags = c.u8();
    let key = c.u8() as usize % KEY_COUNT;
    let version = match c.u8() {
        v @ 0..=3 => u32::from(v),
        _ => c.u32(),
    };
    let min_version = match c.u8() {
        v @ 0..=3 => u32::from(v),
        _ => c.u32(),
    };
    let skew = i64::from(c.u16() as i16) * i64::from(c.u8() % 4 + 1);
    let ncaps = c.u8() as usize % 5;
    let capabilities = (0..ncaps).map(|_| c.string(40)).collect();
    let user_agent = c.string(255);
    let listen_addr = (flags & 1 != 0).then(|| c.string(255));
    let quic_listen_addr = (flags & 8 != 0).then(|| c.string(255));
    let mut nonce = [0u8; wire::NONCE_LEN];
    rng.fill(&mut nonce);
    // Bit 3: another cipher suite (refused). The KEM field is filled in by the caller.
    let suite = if flags & 8 != 0 {
        "fuzz-suite".to_string()
    } else {
        channel::SUITE.to_string()
    };
    let body = HandshakeBody {
        version,
        min_version,
        public_key: ByteBuf::from(identity(key).public_key().to_vec()),
        capabilities,
        timestamp: (unix_secs as i64 + skew).max(0) as u64,
        nonce: ByteBuf::from(nonce.to_vec()),
        user_agent,
        listen_addr,
        suite,
        kem: ByteBuf::new(),
        quic_listen_addr,
    };
    (body, key, flags)
}

fn structured_hello(h: &mut Harness, conn: ConnId, c: &mut Cursor<'_>) {
    let mut rng = Rng::from_seed([3; 32]);
    let (mut body, key, flags) = body_from(c, h.unix_secs(), &mut rng);
    body.kem = ByteBuf::from(channel::kem_keygen(&mut rng).1);
    let my_body = body.to_cbor();
    let hello = Message::Handshake(Handshake {
        body: ByteBuf::from(my_body.clone()),
    });
    let Ok(bytes) = hello.encode() else { return };
    h.recv(conn, &bytes);
    let resp = h.take(conn).into_iter().find_map(|m| match m {
        Message::HandshakeResponse(r) => Some(r),
        _ => None,
    });
    let Some(resp) = resp else { return };
    if flags & 2 != 0 {
        return; // leave the confirmation to the raw bytes
    }
    let th = handshake::transcript_hash(&my_body, &resp.body);
    let mut msg = INITIATOR_LABEL.to_vec();
    msg.extend_from_slice(&th);
    let mut signature = identity(key).sign(&msg);
    if flags & 4 != 0 {
        signature[flags as usize % 64] ^= 1; // a forged confirmation
    }
    h.recv(
        conn,
        &frame(&Message::HandshakeConfirm(HandshakeConfirm {
            signature: ByteBuf::from(signature),
        })),
    );
}

/// A node that dialed the peer, fed the peer's bytes at a stage chosen by the first byte: 0 raw
/// bytes after the node's `Handshake`; 1 a `HandshakeResponse` built from fuzzed fields with a
/// real key and signature (over a plain or `quantum://`-pinned dial), then raw bytes; 2 a valid
/// response, then raw bytes in `Connected`.
pub fn handshake_initiator(data: &[u8]) {
    handshake_initiator_run(data);
}

/// [`handshake_initiator`], returning the harness if the node dialed (for tests of the seeds).
pub fn handshake_initiator_run(data: &[u8]) -> Option<Harness> {
    let mut c = Cursor::new(data);
    let stage = c.u8() % 3;
    let sel = c.u16();
    let (mut h, conn) = match stage {
        0 => {
            let mut h = Harness::new(local_config());
            let conn = h.dial(PEER_ADDR)?;
            (h, conn)
        }
        1 => {
            let mut h = Harness::new(local_config());
            let pin = c.u8();
            let target = if pin & 1 != 0 {
                let id = identity(pin as usize / 2 % KEY_COUNT).node_id();
                format!("quantum://{id}@{PEER_ADDR}")
            } else {
                PEER_ADDR.to_string()
            };
            let conn = h.dial(&target)?;
            structured_response(&mut h, conn, &mut c);
            (h, conn)
        }
        _ => connected_initiator(0, false),
    };
    feed_split(&mut h, conn, sel, c.rest());
    Some(h)
}

fn structured_response(h: &mut Harness, conn: ConnId, c: &mut Cursor<'_>) {
    let their = h.take(conn).into_iter().find_map(|m| match m {
        Message::Handshake(x) => Some(x),
        _ => None,
    });
    let Some(their) = their else { return };
    let mut rng = Rng::from_seed([4; 32]);
    let (mut body, key, flags) = body_from(c, h.unix_secs(), &mut rng);
    let their_key = HandshakeBody::from_cbor(MessageType::Handshake, &their.body)
        .map(|b| b.kem.into_vec())
        .unwrap_or_default();
    let ct = channel::kem_encapsulate(&their_key, &mut rng)
        .map(|(ct, _)| ct)
        .unwrap_or_else(|| vec![0; channel::KEM_CIPHERTEXT_LEN]);
    body.kem = ByteBuf::from(ct);
    let my_body = body.to_cbor();
    let th = handshake::transcript_hash(&their.body, &my_body);
    let mut msg = RESPONDER_LABEL.to_vec();
    msg.extend_from_slice(&th);
    let mut signature = identity(key).sign(&msg);
    if flags & 4 != 0 {
        signature[flags as usize % 64] ^= 1;
    }
    let resp = Message::HandshakeResponse(HandshakeResponse {
        body: ByteBuf::from(my_body),
        signature: ByteBuf::from(signature),
    });
    if let Ok(bytes) = resp.encode() {
        h.recv(conn, &bytes);
    }
}

/// Peer exchange into a connected node that asked for addresses. First byte: the node's
/// listen address (scope rules) and `allow_private_addresses`; second: 0–127 the rest is
/// newline-separated address strings for a `Peers` answer, 128–255 raw bytes. The node then
/// answers a `GetPeers` (every address it shares must parse), runs maintenance and dials
/// what it learned; every dial fails.
pub fn pex(data: &[u8]) {
    let mut c = Cursor::new(data);
    let v = c.u8();
    let mode = c.u8();
    let (mut h, conn) = connected_initiator(v as usize & 3, v & 4 != 0);
    let asked = h
        .take(conn)
        .iter()
        .any(|m| matches!(m, Message::GetPeers(_)));
    assert!(asked, "the node asks a pex peer for addresses");
    let rest = c.rest();
    if mode < 128 {
        let addresses: Vec<String> = String::from_utf8_lossy(rest)
            .split('\n')
            .take(wire::MAX_PEX_ADDRESSES)
            .map(|s| s.chars().take(wire::MAX_LISTEN_ADDR_LEN / 4).collect())
            .collect();
        let m = Message::Peers(Peers { addresses });
        let bytes = h.peer_frame(conn, &m);
        h.recv(conn, &bytes);
        if mode & 1 != 0 {
            let bytes = h.peer_frame(conn, &m);
            h.recv(conn, &bytes); // an unsolicited second answer
        }
    } else {
        // Plain frames in the input are sealed (the node reads them); anything else arrives
        // as it is and fails to open.
        let bytes = h.peer_seal(conn, rest);
        h.recv(conn, &bytes);
    }
    let bytes = h.peer_frame(conn, &Message::GetPeers(GetPeers { max: 1000 }));
    h.recv(conn, &bytes);
    for m in h.take(conn) {
        if let Message::Peers(p) = m {
            for a in &p.addresses {
                assert!(
                    PeerAddress::parse(a).is_ok(),
                    "the node shared an address that does not parse: {a:?}"
                );
            }
        }
    }
    for _ in 0..3 {
        h.advance(Duration::from_secs(5), false);
        let dials = std::mem::take(&mut h.dials);
        for (d, _) in dials {
            let now = h.now;
            h.input(Input::ConnectFailed {
                conn: d,
                cause: IoFailure::Refused,
                now,
            });
        }
    }
}

/// The address parser: whatever parses prints canonically and parses back to itself.
pub fn addr(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Ok(a) = PeerAddress::parse(&s) {
        let text = a.to_string();
        assert_eq!(
            PeerAddress::parse(&text).as_ref(),
            Ok(&a),
            "{s:?} → {text:?}"
        );
        let _ = (a.netgroup(), a.class(), a.socket_addr(), a.is_onion());
        let plain = a.without_id();
        assert_eq!(PeerAddress::parse(&plain.to_string()), Ok(plain));
    }
}

/// DNS answers. First byte: bit 0 through the [`DnsClient`] alone or through a `Node` with a
/// DNS seed and a hostname to dial; bit 1 patch the transaction id to the pending query's;
/// bit 2 raw datagram or a well-formed answer built from fuzzed records; bits 3–4 which query
/// (TXT, A, AAAA) is answered.
pub fn dns(data: &[u8]) {
    let mut c = Cursor::new(data);
    let mode = c.u8();
    let which = (mode >> 3) as usize % 3;
    let datagram = |c: &mut Cursor<'_>, query: &[u8]| -> Vec<u8> {
        if mode & 4 == 0 {
            let mut d = c.rest().to_vec();
            if mode & 2 != 0 && d.len() >= 2 && query.len() >= 2 {
                d[..2].copy_from_slice(&query[..2]);
            }
            d
        } else {
            let answer = match c.u8() % 4 {
                0 => zone::Answer::NxDomain,
                1 => zone::Answer::ServFail,
                _ => {
                    let ttl = c.u32();
                    let n = c.u8() as usize % 8;
                    zone::Answer::Records((0..n).map(|_| c.string(255)).collect(), ttl)
                }
            };
            zone::respond(query, &answer).unwrap_or_default()
        }
    };
    if mode & 1 == 0 {
        let start = Instant::now();
        let (mut client, queries, mut rng) = dns_client(start);
        let d = datagram(&mut c, &queries[which]);
        match client.handle_response(&d, start) {
            Ok(DnsOutcome::Txt { records, .. }) => {
                for a in dns::txt_records_to_address_strings(&records) {
                    let _ = PeerAddress::parse(&a);
                }
                assert_eq!(client.pending(), 2);
            }
            Ok(DnsOutcome::Addresses { ttl, .. }) => {
                assert!((dns::DNS_MIN_TTL..=dns::DNS_MAX_TTL).contains(&ttl));
                assert_eq!(client.pending(), 2);
            }
            Ok(_) => assert_eq!(client.pending(), 2),
            Err(_) => assert_eq!(client.pending(), 3, "a rejected answer cancelled a query"),
        }
        for s in 1..=4 {
            let _ = client.handle_timeout(start + dns::DNS_QUERY_TIMEOUT * s, &mut rng);
        }
        assert_eq!(client.pending(), 0);
    } else {
        let mut h = dns_node();
        let Some((_, q)) = h.dns.get(which % h.dns.len().max(1)).cloned() else {
            return;
        };
        let d = datagram(&mut c, &q);
        let now = h.now;
        h.input(Input::DnsResponse { data: &d, now });
        h.input(Input::DnsResponse { data: &d, now }); // a duplicate
        for _ in 0..3 {
            h.advance(Duration::from_secs(5), false);
        }
    }
}

/// The DNS client of the `dns` target with its three queries (TXT, A, AAAA) pending.
pub fn dns_client(start: Instant) -> (DnsClient, Vec<Vec<u8>>, Rng) {
    let mut client = DnsClient::new();
    let mut rng = Rng::from_seed([5; 32]);
    let mut queries = Vec::new();
    for (name, kind) in [
        ("seed.example.org", QueryKind::Txt),
        ("Host.Example.org.", QueryKind::A),
        ("host.example.org", QueryKind::Aaaa),
    ] {
        let (_, q) = client
            .start(name, kind, start, &mut rng)
            .expect("valid name");
        queries.push(q);
    }
    (client, queries, rng)
}

/// The node of the `dns` target: a DNS seed, a hostname to dial, its queries sent.
pub fn dns_node() -> Harness {
    let mut cfg = local_config();
    cfg.network.peers.dns_seeds = vec!["seed.example.org".into()];
    cfg.network.allow_private_addresses = true;
    let mut h = Harness::new(cfg);
    let _ = h
        .node
        .add_peer("host.example.org:8000", Priority::Normal, h.now);
    h.drain();
    for _ in 0..4 {
        if h.dns.len() >= 3 {
            break;
        }
        h.advance(Duration::from_secs(6), true);
    }
    h
}

/// The config parser: what parses validates, and a node runs with it.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = Config::from_toml_str(text) {
        assert_eq!(cfg.validate(), Ok(()), "a parsed config does not validate");
        let mut h = Harness::new(cfg);
        h.advance(Duration::ZERO, true);
        h.advance(Duration::from_secs(30), true);
    }
}

/// The ban target and subnet parsers: what parses prints and parses back to itself, a subnet
/// contains its own address, and a node bans and unbans it.
pub fn ban_target(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Ok(c) = s.parse::<Cidr>() {
        assert!(c.contains(c.addr()), "{c} does not contain its own address");
        assert_eq!(c.to_string().parse::<Cidr>(), Ok(c));
    }
    if let Ok(t) = s.parse::<BanTarget>() {
        assert_eq!(t.to_string().parse::<BanTarget>(), Ok(t), "{s:?}");
        assert_eq!(t.canonical(), t, "parsed targets are canonical");
        let mut h = Harness::new(local_config());
        let now = h.now;
        let ban = h
            .node
            .ban(&s, Some(Duration::from_secs(60)), "fuzz", now)
            .expect("a parsed target can be banned");
        assert_eq!(ban.target, t);
        h.drain();
        h.check();
        let conn = h.node.accept(remote(), now);
        h.drain();
        h.check();
        let covered = match t {
            BanTarget::Ip(ip) => ip == remote().ip(),
            BanTarget::Subnet(c) => c.contains(remote().ip()),
            _ => false,
        };
        assert_eq!(
            h.node.peer(conn).is_none(),
            covered,
            "a ban on {t} and a connection from {}",
            remote()
        );
        h.node
            .unban(&s, now)
            .expect("what was banned can be unbanned");
        h.drain();
        h.check();
    }
}

/// Peer keys and addresses the operations pick from.
const TARGET_ADDRS: [&str; 6] = [
    PEER_ADDR,
    "127.0.0.3:8000",
    "10.0.0.7:9000",
    "[::1]:8001",
    "host.example.org:8000",
    "203.0.113.5:8000",
];

/// A whole `Node` driven by a sequence of operations decoded from the input; the invariants
/// are checked after every one. See `docs/FUZZING.md` for the encoding.
pub fn node_ops(data: &[u8]) {
    node_ops_run(data);
}

/// [`node_ops`], returning the harness (for tests of the seeds).
pub fn node_ops_run(data: &[u8]) -> Harness {
    let mut c = Cursor::new(data);
    let v = c.u8();
    let mut cfg = initiator_config(v as usize & 3, v & 4 != 0);
    let peers = &mut cfg.network.peers;
    peers.max_connections = 1 + (v as usize >> 3) % 6;
    peers.min_connections = c.u8() as usize % (peers.max_connections + 1);
    peers.discovery_interval = Duration::from_secs(10);
    if v & 0x80 != 0 {
        peers.dns_seeds = vec!["seed.example.org".into()];
    }
    let mut h = Harness::new(cfg);
    let mut conns: Vec<ConnId> = Vec::new();
    let pick = |conns: &Vec<ConnId>, b: u8| -> ConnId {
        if conns.is_empty() || b == 255 {
            ConnId(u64::from(b))
        } else {
            conns[b as usize % conns.len()]
        }
    };
    for _ in 0..96 {
        if c.is_empty() {
            break;
        }
        let op = c.u8();
        let now = h.now;
        match op % 20 {
            0 => {
                let b = c.u8();
                let ip = match b % 4 {
                    0 => format!("127.0.0.{}", b / 4),
                    1 => format!("10.{}.0.1", b / 4),
                    2 => format!("[2001:db8::{}]", b),
                    _ => format!("198.51.{}.9", b),
                };
                let remote = format!("{ip}:{}", 1000 + u16::from(c.u8()));
                if let Ok(r) = remote.parse() {
                    conns.push(h.accept(r));
                }
            }
            1 => {
                let b = c.u8();
                let text = if b < 200 {
                    let a = TARGET_ADDRS[b as usize % TARGET_ADDRS.len()];
                    if b & 0x40 != 0 {
                        let id = identity(b as usize / 8).node_id();
                        format!("quantum://{id}@{a}")
                    } else {
                        a.to_string()
                    }
                } else {
                    c.string(64)
                };
                let p = match c.u8() % 3 {
                    0 => Priority::Low,
                    1 => Priority::Normal,
                    _ => Priority::High,
                };
                let _ = h.node.add_peer(&text, p, now);
                h.drain();
                h.check();
            }
            2 => {
                if let Some(&(conn, _)) = h.dials.get(c.u8() as usize % h.dials.len().max(1)) {
                    conns.push(conn);
                    h.input(Input::Connected { conn, now });
                }
            }
            3 => {
                if let Some(&(conn, _)) = h.dials.get(c.u8() as usize % h.dials.len().max(1)) {
                    let cause = match c.u8() % 3 {
                        0 => IoFailure::Refused,
                        1 => IoFailure::TimedOut,
                        _ => IoFailure::Other("fuzz".into()),
                    };
                    h.input(Input::ConnectFailed { conn, cause, now });
                }
            }
            4 | 5 => {
                let conn = pick(&conns, c.u8());
                let bytes = c.chunk(255);
                h.recv(conn, bytes);
            }
            6..=8 => {
                let conn = pick(&conns, c.u8());
                let key = c.u8() as usize;
                h.peer_step(conn, key);
            }
            9 => {
                let conn = pick(&conns, c.u8());
                h.input(Input::Closed {
                    conn,
                    cause: IoFailure::Reset,
                    now,
                });
            }
            10 | 11 => {
                let ms = match c.u8() {
                    b @ 0..=127 => u64::from(b) * 10,
                    b => u64::from(b - 127) * 1000,
                };
                h.advance(Duration::from_millis(ms), op & 1 != 0);
            }
            12 => {
                let b = c.u8();
                let target = match b % 4 {
                    0 => identity(b as usize / 4).node_id().to_string(),
                    1 => identity(b as usize / 4).node_id().to_string()[..8].to_string(),
                    2 => TARGET_ADDRS[b as usize / 4 % TARGET_ADDRS.len()].to_string(),
                    _ => c.string(70),
                };
                let _ = h.node.remove_peer(&target, b & 0x80 != 0, now);
                h.drain();
                h.check();
            }
            13 | 14 => {
                let b = c.u8();
                let target = match b % 4 {
                    0 => identity(b as usize / 4).node_id().to_string(),
                    1 => "127.0.0.0/8".to_string(),
                    2 => TARGET_ADDRS[b as usize / 4 % TARGET_ADDRS.len()].to_string(),
                    _ => c.string(70),
                };
                if op % 20 == 13 {
                    let d = c.u8();
                    let dur = (d != 0).then(|| Duration::from_secs(u64::from(d)));
                    let _ = h.node.ban(&target, dur, "fuzz", now);
                } else {
                    let _ = h.node.unban(&target, now);
                }
                h.drain();
                h.check();
            }
            15 => {
                if op == 15 {
                    h.node.shutdown(now);
                    h.drain();
                    h.check();
                }
            }
            16 => {
                // A DNS answer to the latest query: raw (txid patched) or well-formed.
                let b = c.u8();
                let Some((_, q)) = h.dns.last().cloned() else {
                    continue;
                };
                let d = if b & 1 == 0 {
                    let mut d = c.chunk(255).to_vec();
                    if d.len() >= 2 {
                        d[..2].copy_from_slice(&q[..2]);
                    }
                    d
                } else {
                    let items = (0..b as usize / 2 % 4).map(|_| c.string(80)).collect();
                    zone::respond(&q, &zone::Answer::Records(items, 300)).unwrap_or_default()
                };
                h.input(Input::DnsResponse { data: &d, now });
            }
            17 => {
                let key = c.u8() as usize;
                let peer = identity(key).node_id();
                let r = match key % 5 {
                    0 => Report::InvalidMessage,
                    1 => Report::ValidMessage,
                    2 => Report::ConsensusViolation,
                    3 => Report::RelayFailure,
                    _ => Report::RelaySuccess,
                };
                let _ = h.node.report(&peer, r, now);
                h.drain();
                h.check();
            }
            18 => {
                // A well-formed message from the peer on a connection.
                let conn = pick(&conns, c.u8());
                let m = match c.u8() % 8 {
                    0 => Message::Ping(Ping {
                        nonce: u64::from(c.u32()),
                    }),
                    1 => Message::Pong(Ping {
                        nonce: u64::from(c.u32()),
                    }),
                    2 => Message::GetPeers(GetPeers { max: c.u32() }),
                    3 => Message::Peers(Peers {
                        addresses: (0..c.u8() % 8).map(|_| c.string(64)).collect(),
                    }),
                    4 => Message::Disconnect(Disconnect {
                        reason: c.u16(),
                        text: c.string(64),
                    }),
                    5 => Message::DisconnectAck,
                    6 => Message::App(wire::App {
                        payload: ByteBuf::from(c.chunk(64).to_vec()),
                    }),
                    _ => Message::HandshakeConfirm(HandshakeConfirm {
                        signature: ByteBuf::from(vec![0u8; qudag_peer::identity::SIGNATURE_LEN]),
                    }),
                };
                // Sealed when the connection is (a plain frame there is refused).
                let bytes = h.peer_frame(conn, &m);
                h.recv(conn, &bytes);
            }
            _ => {
                let key = c.u8() as usize;
                let peer = identity(key).node_id();
                let _ = h.node.send_app(&peer, c.chunk(64));
                h.drain();
                h.check();
            }
        }
    }
    // Let every timer run out: connections end, the pool drains to what is connected.
    h.advance(Duration::from_secs(10), true);
    h.advance(Duration::from_secs(120), true);
    h
}
