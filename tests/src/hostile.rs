//! A scripted hostile peer over real sockets, for the malicious-peer suite
//! (`tests/tests/malicious-sockets.rs`).
//!
//! Blocking `std::net` with timeouts, so it works against a node of any runtime: the test
//! thread plays the attacker while the node runs on its runtime's threads. Every read is
//! bounded by a deadline.
//!
//! - [`Raw`]: a TCP connection before (or instead of) a handshake. It can come from a chosen
//!   loopback source address ([`Raw::connect_from`], via `socket2`), so one test can speak from
//!   many netgroups (every `127.x.y.z` is a netgroup of its own). It sends bytes as they are
//!   ([`Raw::send_bytes`]) or handshake-phase frames ([`Raw::send_plain`], [`Raw::recv_plain`]).
//! - [`Raw::initiate`] / [`Raw::respond`] complete a genuine handshake with the
//!   `qudag_peer::handshake` functions (the same steps as the in-memory
//!   [`crate::script`]) and return a [`Session`].
//! - [`Session`]: after the handshake, [`Session::send`] a message, [`Session::send_raw`] bytes,
//!   [`Session::recv`] the next message. **All framing and encoding after the handshake goes
//!   through one function pair, [`Session::seal`] (out) and [`Session::open`] (in)**, which
//!   speak the sealed channel of protocol version 2 (ChaCha20-Poly1305 under the session keys
//!   the handshake derived, `qudag_peer::channel`).

use qudag_peer::channel::{ChannelError, Opener, RekeyLimits, Sealer, SessionKeys};
use qudag_peer::handshake::{self, HandshakeState, LocalHello, PeerHello};
use qudag_peer::rng::Rng;
use qudag_peer::wire::{FrameDecoder, Message, WireError};
use qudag_peer::Identity;
use socket2::{Domain, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The user agent scripted peers announce.
pub const USER_AGENT: &str = "scripted/1";

/// How long any single read waits by default.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes read from the socket at a time.
const CHUNK: usize = 16 * 1024;

/// What a bounded read produced.
#[derive(Debug)]
pub enum Recv {
    /// A whole message.
    Message(Message),
    /// The peer closed the connection (EOF or reset).
    Closed,
    /// Nothing complete before the deadline.
    TimedOut,
    /// Bytes that do not decode (the stream is unusable).
    Invalid(WireError),
    /// A sealed frame that does not open (tampered, reordered, replayed, or plain).
    Unsealed(ChannelError),
}

/// The wall clock in seconds since the epoch (what an honest peer puts in its handshake).
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a scripted peer says about itself: `identity` with `caps`, no listen address, the
/// timestamp `unix_secs`, a 300 s skew tolerance. The in-memory [`crate::script`] peers use it
/// too, with the harness's virtual clock.
pub fn local_hello<'a>(
    identity: &'a Identity,
    caps: &'a [String],
    unix_secs: u64,
) -> LocalHello<'a> {
    LocalHello {
        identity,
        capabilities: caps,
        user_agent: USER_AGENT,
        listen_addr: None,
        unix_secs,
        max_skew: Duration::from_secs(300),
        quic_listen_addr: None,
    }
}

/// A fresh RNG for a handshake nonce (seeded from the clock: nonces must differ per connection).
fn nonce_rng() -> Rng {
    let mut seed = [0u8; 32];
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    seed[..16].copy_from_slice(&t.to_le_bytes());
    Rng::from_seed(seed)
}

/// A TCP connection to or from the node, before any handshake.
#[derive(Debug)]
pub struct Raw {
    stream: TcpStream,
    decoder: FrameDecoder,
    /// Bytes read but not yet pushed into the decoder.
    carry: Vec<u8>,
    closed: bool,
}

impl Raw {
    /// Connects to `to` from the loopback address `from` (any port), within 5 s.
    pub fn connect_from(from: IpAddr, to: SocketAddr) -> io::Result<Raw> {
        let socket = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
        socket.bind(&SocketAddr::new(from, 0).into())?;
        socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
        Ok(Raw::from_stream(socket.into()))
    }

    /// Wraps an accepted or connected stream.
    pub fn from_stream(stream: TcpStream) -> Raw {
        let _ = stream.set_nodelay(true);
        Raw {
            stream,
            decoder: FrameDecoder::new(),
            carry: Vec::new(),
            closed: false,
        }
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Writes `bytes` as they are (no framing).
    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes one handshake-phase frame (plain length-prefixed CBOR).
    pub fn send_plain(&mut self, msg: &Message) -> io::Result<()> {
        let bytes = msg.encode().map_err(io::Error::other)?;
        self.send_bytes(&bytes)
    }

    /// The next plain frame, waiting at most `timeout`.
    pub fn recv_plain(&mut self, timeout: Duration) -> Recv {
        self.recv_frame(timeout, None)
    }

    /// The next frame, opened by `opener` if given (else plain), waiting at most `timeout`.
    fn recv_frame(&mut self, timeout: Duration, mut opener: Option<&mut Opener>) -> Recv {
        let deadline = Instant::now() + timeout;
        loop {
            let next = match opener.as_deref_mut() {
                Some(o) => self.decoder.next_with(|p| o.open(p)),
                None => self.decoder.next_message().map_err(ChannelError::Wire),
            };
            match next {
                Ok(Some(m)) => return Recv::Message(m),
                Ok(None) => {}
                Err(ChannelError::Wire(e)) => return Recv::Invalid(e),
                Err(e) => return Recv::Unsealed(e),
            }
            if self.carry.is_empty() {
                let mut buf = [0u8; CHUNK];
                match self.read_some(&mut buf, deadline) {
                    Ok(Some(n)) => self.carry.extend_from_slice(&buf[..n]),
                    Ok(None) => return Recv::TimedOut,
                    Err(()) => return Recv::Closed,
                }
            }
            // The decoder takes at most up to the end of the frame at its head.
            match self.decoder.push(&self.carry) {
                Ok(n) => {
                    self.carry.drain(..n);
                }
                Err(e) => return Recv::Invalid(e),
            }
        }
    }

    /// Reads once, until `deadline`: `Ok(Some(n))` bytes, `Ok(None)` timed out, `Err` closed.
    fn read_some(&mut self, buf: &mut [u8], deadline: Instant) -> Result<Option<usize>, ()> {
        if self.closed {
            return Err(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let _ = self.stream.set_read_timeout(Some(left));
        match self.stream.read(buf) {
            Ok(0) => {
                self.closed = true;
                Err(())
            }
            Ok(n) => Ok(Some(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(_) => {
                self.closed = true;
                Err(())
            }
        }
    }

    /// Every plain frame until the node closes the connection (or `timeout`); whether it did.
    pub fn until_closed(&mut self, timeout: Duration) -> (Vec<Message>, bool) {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            match self.recv_plain(deadline.saturating_duration_since(Instant::now())) {
                Recv::Message(m) => got.push(m),
                Recv::Closed => return (got, true),
                Recv::TimedOut => return (got, false),
                // Whatever follows undecodable bytes is unusable; the test reads the close.
                Recv::Invalid(_) | Recv::Unsealed(_) => {
                    return (got, self.drain_until_closed(deadline))
                }
            }
        }
    }

    fn drain_until_closed(&mut self, deadline: Instant) -> bool {
        self.carry.clear();
        let mut buf = [0u8; CHUNK];
        loop {
            match self.read_some(&mut buf, deadline) {
                Ok(Some(_)) => {}
                Ok(None) => return false,
                Err(()) => return true,
            }
        }
    }

    /// Completes a handshake as the initiator, as `identity` with timestamp `unix_secs`.
    /// `Err` carries every message the node sent instead (a `Disconnect`, usually).
    pub fn initiate(
        mut self,
        identity: &Identity,
        unix_secs: u64,
    ) -> Result<Session, (Vec<Message>, Raw)> {
        let caps = vec!["pex".to_string()];
        let local = local_hello(identity, &caps, unix_secs);
        let (state, hello) = handshake::initiate(&local, None, &mut nonce_rng());
        if self.send_plain(&hello).is_err() {
            return Err((Vec::new(), self));
        }
        let resp = match self.recv_plain(RECV_TIMEOUT) {
            Recv::Message(Message::HandshakeResponse(r)) => r,
            Recv::Message(other) => return Err((vec![other], self)),
            _ => return Err((Vec::new(), self)),
        };
        let Ok((confirm, peer, keys)) = handshake::on_response(&state, &resp, &local) else {
            return Err((Vec::new(), self));
        };
        if self.send_plain(&confirm).is_err() {
            return Err((Vec::new(), self));
        }
        let transcript = Transcript {
            hello,
            response: Message::HandshakeResponse(resp),
            confirm: Some(confirm),
        };
        Ok(Session::new(self, peer, state, keys, transcript))
    }

    /// Completes a handshake as the responder (the node dialed us), as `identity`.
    pub fn respond(mut self, identity: &Identity, unix_secs: u64) -> Result<Session, Raw> {
        let caps = vec!["pex".to_string()];
        let local = local_hello(identity, &caps, unix_secs);
        let hello = match self.recv_plain(RECV_TIMEOUT) {
            Recv::Message(Message::Handshake(h)) => h,
            _ => return Err(self),
        };
        let Ok((state, reply, _claimed)) = handshake::on_hello(&hello, &local, &mut nonce_rng())
        else {
            return Err(self);
        };
        if self.send_plain(&reply).is_err() {
            return Err(self);
        }
        let confirm = match self.recv_plain(RECV_TIMEOUT) {
            Recv::Message(Message::HandshakeConfirm(c)) => c,
            _ => return Err(self),
        };
        let Ok((peer, keys)) = handshake::on_confirm(&state, &confirm) else {
            return Err(self);
        };
        let transcript = Transcript {
            hello: Message::Handshake(hello),
            response: reply,
            confirm: Some(Message::HandshakeConfirm(confirm)),
        };
        Ok(Session::new(self, peer, state, keys, transcript))
    }
}

/// The handshake messages of a session, as exchanged (for replay attacks).
#[derive(Clone, Debug)]
pub struct Transcript {
    /// The initiator's `Handshake`.
    pub hello: Message,
    /// The responder's `HandshakeResponse`.
    pub response: Message,
    /// The initiator's `HandshakeConfirm`.
    pub confirm: Option<Message>,
}

/// A connection after a genuine handshake.
#[derive(Debug)]
pub struct Session {
    raw: Raw,
    /// What the node proved about itself.
    pub peer: PeerHello,
    /// The finished handshake state.
    pub state: HandshakeState,
    /// The handshake messages exchanged.
    pub transcript: Transcript,
    /// Seals what this peer sends.
    sealer: Sealer,
    /// Opens what the node sends.
    opener: Opener,
}

impl Session {
    fn new(
        raw: Raw,
        peer: PeerHello,
        state: HandshakeState,
        keys: SessionKeys,
        transcript: Transcript,
    ) -> Session {
        let (sealer, opener) = keys.split(RekeyLimits::default());
        Session {
            raw,
            peer,
            state,
            transcript,
            sealer,
            opener,
        }
    }

    /// Seals one outgoing message: THE single place where bytes after the handshake are
    /// produced.
    fn seal(&mut self, msg: &Message) -> io::Result<Vec<u8>> {
        self.sealer.seal_message(msg).map_err(io::Error::other)
    }

    /// Opens the next incoming message: THE single place where bytes after the handshake are
    /// read.
    fn open(&mut self, timeout: Duration) -> Recv {
        self.raw.recv_frame(timeout, Some(&mut self.opener))
    }

    /// Encodes `msg` as a plain (unsealed) frame and writes it: what a peer that ignores the
    /// channel would send after the handshake.
    pub fn send_unsealed(&mut self, msg: &Message) -> io::Result<()> {
        self.raw.send_plain(msg)
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &Message) -> io::Result<()> {
        let bytes = self.seal(msg)?;
        self.raw.send_bytes(&bytes)
    }

    /// Writes `bytes` on the socket as they are, bypassing [`Session::seal`] (garbage, hostile
    /// length prefixes).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.raw.send_bytes(bytes)
    }

    /// The next message, waiting at most `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Recv {
        self.open(timeout)
    }

    /// Messages until the node closes the connection (or `timeout`), answering nothing;
    /// whether it closed.
    pub fn until_closed(&mut self, timeout: Duration) -> (Vec<Message>, bool) {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            match self.open(deadline.saturating_duration_since(Instant::now())) {
                Recv::Message(m) => got.push(m),
                Recv::Closed => return (got, true),
                Recv::TimedOut => return (got, false),
                Recv::Invalid(_) | Recv::Unsealed(_) => {
                    return (got, self.raw.drain_until_closed(deadline))
                }
            }
        }
    }

    /// Messages until one matches `pick` (returned) or `timeout`; the others are dropped
    /// except that pings are answered, as an honest peer would.
    pub fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&Message) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.open(deadline.saturating_duration_since(Instant::now())) {
                Recv::Message(m) => {
                    if let Some(t) = pick(&m) {
                        return Some(t);
                    }
                    if let Message::Ping(p) = m {
                        let _ = self.send(&Message::Pong(p));
                    }
                }
                _ => return None,
            }
        }
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.raw.local_addr()
    }
}

/// A listener for the node to dial, on a chosen loopback address.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
}

impl Listener {
    /// Binds `ip`, any port.
    pub fn bind(ip: IpAddr) -> io::Result<Listener> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))?;
        listener.set_nonblocking(true)?;
        Ok(Listener { listener })
    }

    /// Where to dial.
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound")
    }

    /// The next connection, within `timeout` (polled every 10 ms).
    pub fn accept(&self, timeout: Duration) -> io::Result<Raw> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)?;
                    return Ok(Raw::from_stream(s));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        }
    }
}
