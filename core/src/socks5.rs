//! The SOCKS5 client negotiation (RFC 1928, with RFC 1929 username/password authentication)
//! as bytes and a state machine: no I/O, no clock, never panics.
//!
//! The [`Node`](crate::Node) uses it for `.onion` addresses (and every outbound dial with
//! `network.proxy_all`): it dials the proxy, then
//!
//! 1. [`Socks5Client::start`] gives the greeting to write (methods: no authentication, plus
//!    username/password when [`Credentials`] are configured);
//! 2. every byte the proxy sends goes to [`Socks5Client::receive`], which answers with a
//!    [`Step`]: write more ([`Step::Send`]: the username/password sub-negotiation, the
//!    `CONNECT` request), wait for more ([`Step::NeedMore`]), or the tunnel is open
//!    ([`Step::Connected`]); bytes after the final reply belong to the peer and are left
//!    unconsumed;
//! 3. any failure is a [`Socks5Error`], whose text says what the proxy meant (every reply code
//!    of RFC 1928 section 6 has its own words).
//!
//! Host names and onion addresses go to the proxy unresolved, as address type `0x03` (domain
//! name): the proxy resolves them (Tor must, for `.onion`). IP addresses go as `0x01`/`0x04`.
//!
//! Bounds: the client buffers at most one proxy message ([`MAX_REPLY_LEN`] bytes) and never
//! reads past the end of the message it expects.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The protocol version byte of SOCKS5.
pub(crate) const VERSION: u8 = 0x05;
/// Method: no authentication required.
pub(crate) const METHOD_NO_AUTH: u8 = 0x00;
/// Method: username/password (RFC 1929).
pub(crate) const METHOD_USER_PASS: u8 = 0x02;
/// Method selection answer: none of the offered methods is acceptable.
pub(crate) const METHOD_NONE_ACCEPTABLE: u8 = 0xFF;
/// The version byte of the username/password sub-negotiation.
pub(crate) const AUTH_VERSION: u8 = 0x01;
/// Command: `CONNECT`.
pub(crate) const CMD_CONNECT: u8 = 0x01;
/// Address type: IPv4.
pub(crate) const ATYP_IPV4: u8 = 0x01;
/// Address type: domain name (one length byte, then the name).
pub(crate) const ATYP_DOMAIN: u8 = 0x03;
/// Address type: IPv6.
pub(crate) const ATYP_IPV6: u8 = 0x04;
/// The longest host name, username or password SOCKS5 can carry (one length byte).
pub(crate) const MAX_FIELD_LEN: usize = 255;
/// The longest message a proxy sends the client: a `CONNECT` reply with a 255-byte name.
pub(crate) const MAX_REPLY_LEN: usize = 4 + 1 + MAX_FIELD_LEN + 2;

/// Where the proxy should connect.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Target {
    /// An IP address and port (address type IPv4 or IPv6).
    Ip(SocketAddr),
    /// A host name (e.g. `<56 chars>.onion`) and port, sent unresolved (address type `0x03`).
    Domain {
        /// The name, 1–255 bytes.
        name: String,
        /// The port.
        port: u16,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ip(sock) => write!(f, "{sock}"),
            Target::Domain { name, port } => write!(f, "{name}:{port}"),
        }
    }
}

/// A username and password for RFC 1929 authentication, each 1–255 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    /// Shows the username only: the password stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A failure code from the proxy's `CONNECT` reply (RFC 1928 section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum ReplyCode {
    /// `0x01` general SOCKS server failure.
    GeneralFailure,
    /// `0x02` connection not allowed by ruleset.
    NotAllowed,
    /// `0x03` network unreachable.
    NetworkUnreachable,
    /// `0x04` host unreachable (also: the proxy could not resolve the name).
    HostUnreachable,
    /// `0x05` connection refused.
    ConnectionRefused,
    /// `0x06` TTL expired.
    TtlExpired,
    /// `0x07` command not supported.
    CommandNotSupported,
    /// `0x08` address type not supported.
    AddressTypeNotSupported,
    /// `0x09`–`0xFF`: unassigned.
    Unassigned(u8),
}

impl ReplyCode {
    /// The failure a reply byte stands for; `None` for `0x00` (succeeded).
    pub fn from_byte(b: u8) -> Option<ReplyCode> {
        Some(match b {
            0x00 => return None,
            0x01 => ReplyCode::GeneralFailure,
            0x02 => ReplyCode::NotAllowed,
            0x03 => ReplyCode::NetworkUnreachable,
            0x04 => ReplyCode::HostUnreachable,
            0x05 => ReplyCode::ConnectionRefused,
            0x06 => ReplyCode::TtlExpired,
            0x07 => ReplyCode::CommandNotSupported,
            0x08 => ReplyCode::AddressTypeNotSupported,
            other => ReplyCode::Unassigned(other),
        })
    }

    /// The reply byte.
    pub fn code(self) -> u8 {
        match self {
            ReplyCode::GeneralFailure => 0x01,
            ReplyCode::NotAllowed => 0x02,
            ReplyCode::NetworkUnreachable => 0x03,
            ReplyCode::HostUnreachable => 0x04,
            ReplyCode::ConnectionRefused => 0x05,
            ReplyCode::TtlExpired => 0x06,
            ReplyCode::CommandNotSupported => 0x07,
            ReplyCode::AddressTypeNotSupported => 0x08,
            ReplyCode::Unassigned(b) => b,
        }
    }

    /// What the code means, in words.
    pub fn meaning(self) -> &'static str {
        match self {
            ReplyCode::GeneralFailure => "general SOCKS server failure",
            ReplyCode::NotAllowed => "connection not allowed by the proxy's rules",
            ReplyCode::NetworkUnreachable => "network unreachable",
            ReplyCode::HostUnreachable => "host unreachable (or its name did not resolve)",
            ReplyCode::ConnectionRefused => "connection refused by the destination",
            ReplyCode::TtlExpired => "TTL expired",
            ReplyCode::CommandNotSupported => "command not supported",
            ReplyCode::AddressTypeNotSupported => "address type not supported",
            ReplyCode::Unassigned(_) => "unassigned reply code",
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (reply {:#04x})", self.meaning(), self.code())
    }
}

/// Why a SOCKS5 negotiation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[non_exhaustive]
pub enum Socks5Error {
    /// The first byte of a proxy message was not `0x05`.
    #[error("the proxy is not a SOCKS5 server (it answered with version byte {0:#04x})")]
    NotSocks5(u8),
    /// The proxy answered the greeting with `0xFF`.
    #[error("{}", if *.offered_auth {
        "the proxy accepts neither no authentication nor username/password"
    } else {
        "the proxy requires authentication: set network.proxy_username and network.proxy_password"
    })]
    NoAcceptableMethod {
        /// Whether username/password was offered.
        offered_auth: bool,
    },
    /// The proxy chose a method we did not offer.
    #[error("the proxy chose authentication method {0:#04x}, which was not offered")]
    UnexpectedMethod(u8),
    /// The username/password answer had a version other than `0x01`.
    #[error("bad username/password answer version {0:#04x} (expected 0x01)")]
    BadAuthVersion(u8),
    /// The proxy rejected the username and password.
    #[error("the proxy rejected the username and password (status {0:#04x})")]
    AuthFailed(u8),
    /// The proxy could not open the connection.
    #[error("the proxy could not connect: {0}")]
    Reply(ReplyCode),
    /// The `CONNECT` reply had an address type other than IPv4, domain name or IPv6.
    #[error("the proxy's reply has unknown address type {0:#04x}")]
    BadAddressType(u8),
    /// The target host name is empty or longer than 255 bytes.
    #[error("the host name is {0} bytes long; SOCKS5 carries 1 to 255")]
    BadDomainLength(usize),
    /// The username or password is empty or longer than 255 bytes.
    #[error("the proxy username and password must each be 1 to 255 bytes")]
    BadCredentials,
    /// Bytes arrived when none were expected (before the greeting, after the end, after a
    /// failure), or `start` was called twice.
    #[error("the proxy sent data out of turn")]
    OutOfTurn,
}

/// What to do after feeding proxy bytes to [`Socks5Client::receive`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The message is incomplete: wait for more bytes.
    NeedMore,
    /// Write these bytes to the proxy, then keep feeding its answers.
    Send(Vec<u8>),
    /// The tunnel is open: from now on the connection carries the peer's bytes.
    Connected {
        /// The address the proxy bound for the connection, as it reported it.
        bound: Target,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Method,
    Auth,
    Reply,
    Done,
    Failed,
}

/// One SOCKS5 `CONNECT` negotiation, client side.
#[derive(Clone, Debug)]
pub(crate) struct Socks5Client {
    target: Target,
    credentials: Option<Credentials>,
    state: State,
    /// The proxy message being received (at most [`MAX_REPLY_LEN`] bytes).
    buf: Vec<u8>,
}

impl Socks5Client {
    /// A negotiation to open a tunnel to `target`, authenticating with `credentials` if the
    /// proxy asks for it. Lengths are checked by [`Socks5Client::start`].
    pub(crate) fn new(target: Target, credentials: Option<Credentials>) -> Socks5Client {
        Socks5Client {
            target,
            credentials,
            state: State::Idle,
            buf: Vec::new(),
        }
    }

    /// Whether [`Socks5Client::start`] was called.
    pub(crate) fn is_started(&self) -> bool {
        self.state != State::Idle
    }

    /// Whether the tunnel is open.
    pub(crate) fn is_connected(&self) -> bool {
        self.state == State::Done
    }

    /// Checks the target name and credentials and returns the greeting to write.
    pub(crate) fn start(&mut self) -> Result<Vec<u8>, Socks5Error> {
        if self.state != State::Idle {
            return Err(Socks5Error::OutOfTurn);
        }
        let checked = self.check();
        if let Err(e) = checked {
            self.state = State::Failed;
            return Err(e);
        }
        self.state = State::Method;
        Ok(if self.credentials.is_some() {
            vec![VERSION, 2, METHOD_NO_AUTH, METHOD_USER_PASS]
        } else {
            vec![VERSION, 1, METHOD_NO_AUTH]
        })
    }

    fn check(&self) -> Result<(), Socks5Error> {
        if let Target::Domain { name, .. } = &self.target {
            if name.is_empty() || name.len() > MAX_FIELD_LEN {
                return Err(Socks5Error::BadDomainLength(name.len()));
            }
        }
        if let Some(c) = &self.credentials {
            let ok = |s: &str| (1..=MAX_FIELD_LEN).contains(&s.len());
            if !ok(&c.username) || !ok(&c.password) {
                return Err(Socks5Error::BadCredentials);
            }
        }
        Ok(())
    }

    /// Feeds bytes from the proxy (any split). Returns how many were consumed and what to do.
    /// Bytes past the message being completed are not consumed: after
    /// [`Step::Connected`] they belong to the peer; after [`Step::Send`] feed them again.
    /// After an error the negotiation is over (further calls return
    /// [`Socks5Error::OutOfTurn`]).
    pub(crate) fn receive(&mut self, data: &[u8]) -> Result<(usize, Step), Socks5Error> {
        let r = self.receive_inner(data);
        if r.is_err() {
            self.state = State::Failed;
            self.buf = Vec::new();
        }
        r
    }

    fn receive_inner(&mut self, data: &[u8]) -> Result<(usize, Step), Socks5Error> {
        if !matches!(self.state, State::Method | State::Auth | State::Reply) {
            return Err(Socks5Error::OutOfTurn);
        }
        let mut used = 0;
        loop {
            let need = self.needed()?;
            if self.buf.len() >= need {
                let step = self.complete()?;
                self.buf.clear();
                return Ok((used, step));
            }
            let take = (need - self.buf.len()).min(data.len() - used);
            if take == 0 {
                return Ok((used, Step::NeedMore));
            }
            self.buf.extend_from_slice(&data[used..used + take]);
            debug_assert!(self.buf.len() <= MAX_REPLY_LEN, "one proxy message at most");
            used += take;
        }
    }

    /// How long the message being received is, as far as the buffered bytes tell; checks each
    /// header byte as soon as it is there.
    fn needed(&self) -> Result<usize, Socks5Error> {
        let b = &self.buf;
        match self.state {
            State::Method => {
                if let Some(&v) = b.first() {
                    if v != VERSION {
                        return Err(Socks5Error::NotSocks5(v));
                    }
                }
                Ok(2)
            }
            State::Auth => {
                if let Some(&v) = b.first() {
                    if v != AUTH_VERSION {
                        return Err(Socks5Error::BadAuthVersion(v));
                    }
                }
                Ok(2)
            }
            State::Reply => {
                if let Some(&v) = b.first() {
                    if v != VERSION {
                        return Err(Socks5Error::NotSocks5(v));
                    }
                }
                if let Some(code) = b.get(1).and_then(|&r| ReplyCode::from_byte(r)) {
                    // A failure: the rest of the reply does not matter (the proxy closes).
                    return Err(Socks5Error::Reply(code));
                }
                // The reserved byte (b[2]) is not checked: RFC 1928 gives it no meaning.
                match b.get(3) {
                    None => Ok(4),
                    Some(&ATYP_IPV4) => Ok(4 + 4 + 2),
                    Some(&ATYP_IPV6) => Ok(4 + 16 + 2),
                    Some(&ATYP_DOMAIN) => match b.get(4) {
                        None => Ok(5),
                        Some(&len) => Ok(4 + 1 + usize::from(len) + 2),
                    },
                    Some(&other) => Err(Socks5Error::BadAddressType(other)),
                }
            }
            State::Idle | State::Done | State::Failed => Err(Socks5Error::OutOfTurn),
        }
    }

    /// Acts on a complete message in `buf`.
    fn complete(&mut self) -> Result<Step, Socks5Error> {
        let b = &self.buf;
        match self.state {
            State::Method => match b.get(1).copied().unwrap_or(METHOD_NONE_ACCEPTABLE) {
                METHOD_NO_AUTH => {
                    self.state = State::Reply;
                    Ok(Step::Send(self.connect_request()))
                }
                METHOD_USER_PASS => match &self.credentials {
                    Some(c) => {
                        let mut out = Vec::with_capacity(3 + c.username.len() + c.password.len());
                        out.push(AUTH_VERSION);
                        push_field(&mut out, c.username.as_bytes());
                        push_field(&mut out, c.password.as_bytes());
                        self.state = State::Auth;
                        Ok(Step::Send(out))
                    }
                    None => Err(Socks5Error::NoAcceptableMethod {
                        offered_auth: false,
                    }),
                },
                METHOD_NONE_ACCEPTABLE => Err(Socks5Error::NoAcceptableMethod {
                    offered_auth: self.credentials.is_some(),
                }),
                other => Err(Socks5Error::UnexpectedMethod(other)),
            },
            State::Auth => match b.get(1).copied().unwrap_or(0xFF) {
                0x00 => {
                    self.state = State::Reply;
                    Ok(Step::Send(self.connect_request()))
                }
                status => Err(Socks5Error::AuthFailed(status)),
            },
            State::Reply => {
                let bound = parse_bound(b)?;
                self.state = State::Done;
                Ok(Step::Connected { bound })
            }
            State::Idle | State::Done | State::Failed => Err(Socks5Error::OutOfTurn),
        }
    }

    /// The `CONNECT` request for the target.
    fn connect_request(&self) -> Vec<u8> {
        let mut out = vec![VERSION, CMD_CONNECT, 0x00];
        let port = match &self.target {
            Target::Ip(sock) => {
                match sock.ip() {
                    IpAddr::V4(ip) => {
                        out.push(ATYP_IPV4);
                        out.extend_from_slice(&ip.octets());
                    }
                    IpAddr::V6(ip) => {
                        out.push(ATYP_IPV6);
                        out.extend_from_slice(&ip.octets());
                    }
                }
                sock.port()
            }
            Target::Domain { name, port } => {
                out.push(ATYP_DOMAIN);
                push_field(&mut out, name.as_bytes());
                *port
            }
        };
        out.extend_from_slice(&port.to_be_bytes());
        out
    }
}

/// One length byte, then the bytes (lengths were checked by `start`; longer input is cut).
fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(MAX_FIELD_LEN)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// The bound address of a complete, successful reply.
fn parse_bound(b: &[u8]) -> Result<Target, Socks5Error> {
    let port_at = |i: usize| -> u16 {
        match (b.get(i), b.get(i + 1)) {
            (Some(&hi), Some(&lo)) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    };
    match b.get(3).copied() {
        Some(ATYP_IPV4) => {
            let mut o = [0u8; 4];
            o.copy_from_slice(b.get(4..8).ok_or(Socks5Error::OutOfTurn)?);
            Ok(Target::Ip(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(o)),
                port_at(8),
            )))
        }
        Some(ATYP_IPV6) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(b.get(4..20).ok_or(Socks5Error::OutOfTurn)?);
            Ok(Target::Ip(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(o)),
                port_at(20),
            )))
        }
        Some(ATYP_DOMAIN) => {
            let len = usize::from(b.get(4).copied().unwrap_or(0));
            let name = b.get(5..5 + len).ok_or(Socks5Error::OutOfTurn)?;
            Ok(Target::Domain {
                name: String::from_utf8_lossy(name).into_owned(),
                port: port_at(5 + len),
            })
        }
        Some(other) => Err(Socks5Error::BadAddressType(other)),
        None => Err(Socks5Error::OutOfTurn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONION: &str = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";

    fn onion() -> Target {
        Target::Domain {
            name: ONION.into(),
            port: 8000,
        }
    }

    fn creds() -> Credentials {
        Credentials {
            username: "alice".into(),
            password: "s3cret".into(),
        }
    }

    const OK_V4: [u8; 10] = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];

    /// Feeds all of `data` and returns the steps.
    fn feed(c: &mut Socks5Client, mut data: &[u8]) -> Result<Vec<Step>, Socks5Error> {
        let mut steps = Vec::new();
        while !data.is_empty() {
            let (n, step) = c.receive(data)?;
            data = &data[n..];
            let connected = matches!(step, Step::Connected { .. });
            steps.push(step);
            if connected {
                break;
            }
        }
        Ok(steps)
    }

    #[test]
    fn no_auth_onion_connect() {
        let mut c = Socks5Client::new(onion(), None);
        assert!(!c.is_started());
        assert_eq!(c.start().unwrap(), vec![5, 1, 0]);
        let (n, step) = c.receive(&[5, 0]).unwrap();
        let mut want = vec![5, 1, 0, 3, ONION.len() as u8];
        want.extend_from_slice(ONION.as_bytes());
        want.extend_from_slice(&[0x1f, 0x40]);
        assert_eq!((n, step), (2, Step::Send(want)));
        let (n, step) = c.receive(&OK_V4).unwrap();
        assert_eq!(n, 10);
        assert_eq!(
            step,
            Step::Connected {
                bound: Target::Ip("127.0.0.1:8080".parse().unwrap())
            }
        );
        assert!(c.is_connected());
        assert_eq!(c.receive(&[1]), Err(Socks5Error::OutOfTurn));
    }

    #[test]
    fn ip_targets_use_ip_address_types() {
        let mut c = Socks5Client::new(Target::Ip("192.0.2.7:8000".parse().unwrap()), None);
        c.start().unwrap();
        let (_, step) = c.receive(&[5, 0]).unwrap();
        assert_eq!(step, Step::Send(vec![5, 1, 0, 1, 192, 0, 2, 7, 0x1f, 0x40]));
        let mut c = Socks5Client::new(Target::Ip("[2001:db8::1]:8000".parse().unwrap()), None);
        c.start().unwrap();
        let (_, step) = c.receive(&[5, 0]).unwrap();
        let mut want = vec![5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8];
        want.extend_from_slice(&[0; 11]);
        want.extend_from_slice(&[1, 0x1f, 0x40]);
        assert_eq!(step, Step::Send(want));
    }

    #[test]
    fn username_password() {
        let mut c = Socks5Client::new(onion(), Some(creds()));
        assert_eq!(c.start().unwrap(), vec![5, 2, 0, 2]);
        let (_, step) = c.receive(&[5, 2]).unwrap();
        let mut want = vec![1, 5];
        want.extend_from_slice(b"alice");
        want.push(6);
        want.extend_from_slice(b"s3cret");
        assert_eq!(step, Step::Send(want));
        let (_, step) = c.receive(&[1, 0]).unwrap();
        assert!(matches!(step, Step::Send(ref b) if b[..4] == [5, 1, 0, 3]));
        let steps = feed(&mut c, &OK_V4).unwrap();
        assert!(matches!(steps[..], [Step::Connected { .. }]));

        // Rejected credentials.
        let mut c = Socks5Client::new(onion(), Some(creds()));
        c.start().unwrap();
        c.receive(&[5, 2]).unwrap();
        let e = c.receive(&[1, 1]).unwrap_err();
        assert_eq!(e, Socks5Error::AuthFailed(1));
        assert!(e.to_string().contains("rejected the username and password"));
        assert_eq!(c.receive(&[5]), Err(Socks5Error::OutOfTurn));

        // With credentials the proxy may still choose no authentication.
        let mut c = Socks5Client::new(onion(), Some(creds()));
        c.start().unwrap();
        let (_, step) = c.receive(&[5, 0]).unwrap();
        assert!(matches!(step, Step::Send(ref b) if b[..2] == [5, 1]));
    }

    #[test]
    fn method_selection_failures() {
        let mut c = Socks5Client::new(onion(), None);
        c.start().unwrap();
        let e = c.receive(&[5, 0xff]).unwrap_err();
        assert_eq!(
            e,
            Socks5Error::NoAcceptableMethod {
                offered_auth: false
            }
        );
        assert!(e.to_string().contains("set network.proxy_username"), "{e}");

        let mut c = Socks5Client::new(onion(), None);
        c.start().unwrap();
        // Username/password chosen although not offered: we have no credentials.
        let e = c.receive(&[5, 2]).unwrap_err();
        assert!(e.to_string().contains("requires authentication"), "{e}");

        let mut c = Socks5Client::new(onion(), Some(creds()));
        c.start().unwrap();
        let e = c.receive(&[5, 0xff]).unwrap_err();
        assert_eq!(e, Socks5Error::NoAcceptableMethod { offered_auth: true });

        let mut c = Socks5Client::new(onion(), None);
        c.start().unwrap();
        assert_eq!(c.receive(&[5, 1]), Err(Socks5Error::UnexpectedMethod(1)));

        // A SOCKS4 or HTTP server.
        let mut c = Socks5Client::new(onion(), None);
        c.start().unwrap();
        let e = c.receive(b"HTTP/1.1 400 Bad Request\r\n").unwrap_err();
        assert_eq!(e, Socks5Error::NotSocks5(b'H'));
        assert!(e.to_string().contains("not a SOCKS5 server"));

        let mut c = Socks5Client::new(onion(), Some(creds()));
        c.start().unwrap();
        c.receive(&[5, 2]).unwrap();
        assert_eq!(c.receive(&[5, 0]), Err(Socks5Error::BadAuthVersion(5)));
    }

    #[test]
    fn every_reply_code_has_its_words() {
        let cases = [
            (1, ReplyCode::GeneralFailure, "general SOCKS server failure"),
            (2, ReplyCode::NotAllowed, "not allowed"),
            (3, ReplyCode::NetworkUnreachable, "network unreachable"),
            (4, ReplyCode::HostUnreachable, "host unreachable"),
            (5, ReplyCode::ConnectionRefused, "connection refused"),
            (6, ReplyCode::TtlExpired, "TTL expired"),
            (7, ReplyCode::CommandNotSupported, "command not supported"),
            (
                8,
                ReplyCode::AddressTypeNotSupported,
                "address type not supported",
            ),
            (0x42, ReplyCode::Unassigned(0x42), "unassigned"),
        ];
        for (byte, code, words) in cases {
            assert_eq!(ReplyCode::from_byte(byte), Some(code));
            assert_eq!(code.code(), byte);
            let mut c = Socks5Client::new(onion(), None);
            c.start().unwrap();
            c.receive(&[5, 0]).unwrap();
            let e = c.receive(&[5, byte, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap_err();
            assert_eq!(e, Socks5Error::Reply(code));
            let text = e.to_string();
            assert!(text.contains(words), "{text}");
            assert!(text.contains(&format!("{byte:#04x}")), "{text}");
        }
        assert_eq!(ReplyCode::from_byte(0), None);
    }

    #[test]
    fn byte_by_byte_and_bound_domain_and_leftover() {
        let mut c = Socks5Client::new(onion(), None);
        c.start().unwrap();
        assert_eq!(c.receive(&[5]).unwrap(), (1, Step::NeedMore));
        assert!(matches!(c.receive(&[0]).unwrap(), (1, Step::Send(_))));
        let mut reply = vec![5, 0, 0, 3, 9];
        reply.extend_from_slice(b"proxy.lan");
        reply.extend_from_slice(&[0, 80]);
        for &b in &reply[..reply.len() - 1] {
            assert_eq!(c.receive(&[b]).unwrap(), (1, Step::NeedMore));
        }
        // The last byte of the reply and the peer's first bytes arrive together.
        let (n, step) = c.receive(&[80, 0xAA, 0xBB]).unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            step,
            Step::Connected {
                bound: Target::Domain {
                    name: "proxy.lan".into(),
                    port: 80
                }
            }
        );
        // IPv6 bound address.
        let mut c = Socks5Client::new(onion(), None);
        c.start().unwrap();
        c.receive(&[5, 0]).unwrap();
        let mut reply = vec![5, 0, 0, 4];
        reply.extend_from_slice(&[0; 15]);
        reply.extend_from_slice(&[1, 0, 9]);
        let (n, step) = c.receive(&reply).unwrap();
        assert_eq!(n, 22);
        assert_eq!(
            step,
            Step::Connected {
                bound: Target::Ip("[::1]:9".parse().unwrap())
            }
        );
    }

    #[test]
    fn bad_reply_address_type_and_out_of_turn() {
        let mut c = Socks5Client::new(onion(), None);
        c.start().unwrap();
        c.receive(&[5, 0]).unwrap();
        assert_eq!(
            c.receive(&[5, 0, 0, 7, 1, 2]),
            Err(Socks5Error::BadAddressType(7))
        );
        let mut c = Socks5Client::new(onion(), None);
        assert_eq!(c.receive(&[5, 0]), Err(Socks5Error::OutOfTurn));
        let mut c = Socks5Client::new(onion(), None);
        c.start().unwrap();
        assert_eq!(c.start(), Err(Socks5Error::OutOfTurn));
    }

    #[test]
    fn lengths_checked_at_start() {
        let long = Target::Domain {
            name: "a".repeat(256),
            port: 1,
        };
        assert_eq!(
            Socks5Client::new(long, None).start(),
            Err(Socks5Error::BadDomainLength(256))
        );
        let empty = Target::Domain {
            name: String::new(),
            port: 1,
        };
        assert_eq!(
            Socks5Client::new(empty, None).start(),
            Err(Socks5Error::BadDomainLength(0))
        );
        for (u, p) in [("", "x"), ("x", ""), (&*"u".repeat(256), "x")] {
            let c = Credentials {
                username: u.into(),
                password: p.into(),
            };
            assert_eq!(
                Socks5Client::new(onion(), Some(c)).start(),
                Err(Socks5Error::BadCredentials)
            );
        }
        let max = Credentials {
            username: "u".repeat(255),
            password: "p".repeat(255),
        };
        assert!(Socks5Client::new(onion(), Some(max)).start().is_ok());
        assert!(!format!("{:?}", creds()).contains("s3cret"));
    }

    proptest::proptest! {
        /// Whatever the proxy sends, in whatever pieces: no panic, the buffer stays bounded,
        /// consumption never exceeds the input, and the client ends connected, failed or waiting.
        #[test]
        fn random_proxy_replies_never_panic(
            with_creds in proptest::bool::ANY,
            prefix in proptest::sample::select(vec![
                vec![], vec![5u8, 0], vec![5, 2], vec![5, 2, 1, 0],
            ]),
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            cuts in proptest::collection::vec(1usize..40, 0..30),
        ) {
            let mut c = Socks5Client::new(onion(), with_creds.then(creds));
            c.start().unwrap();
            let mut all = prefix;
            all.extend_from_slice(&bytes);
            let mut data = &all[..];
            let mut cuts = cuts.into_iter();
            while !data.is_empty() {
                let piece = cuts.next().unwrap_or(data.len()).min(data.len());
                let mut chunk = &data[..piece];
                data = &data[piece..];
                let mut stop = false;
                while !chunk.is_empty() {
                    match c.receive(chunk) {
                        Ok((n, step)) => {
                            proptest::prop_assert!(n <= chunk.len());
                            proptest::prop_assert!(c.buf.len() <= MAX_REPLY_LEN);
                            chunk = &chunk[n..];
                            if matches!(step, Step::Connected { .. }) {
                                stop = true;
                                break;
                            }
                            if n == 0 && step == Step::NeedMore {
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = e.to_string();
                            stop = true;
                            break;
                        }
                    }
                }
                if stop {
                    break;
                }
            }
        }
    }
}
