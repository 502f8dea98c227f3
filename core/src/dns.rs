//! A pure (sans-IO) DNS stub client for DNS-seed discovery (spec section 1.1).
//!
//! [`DnsClient`] builds query datagrams and checks response datagrams; the runtime adapter
//! sends and receives them over UDP to the configured resolver. Nothing here reads a clock or
//! OS randomness: time is passed in and transaction ids come from the seeded [`Rng`].
//!
//! # What is checked in a response
//!
//! 1. It is at most [`MAX_DNS_RESPONSE_LEN`] bytes and parses as a DNS message.
//! 2. It is a response (QR bit) to a standard query (opcode `QUERY`).
//! 3. Its transaction id matches a pending query.
//! 4. Its question section is exactly one question echoing the query's name (compared
//!    case-insensitively), type and class `IN`.
//!
//! A datagram failing any of these is an error and **the pending query stays pending**, so a
//! spoofed or stray answer cannot cancel the real one. Only then is the query settled: the TC
//! (truncated) bit, NXDOMAIN, SERVFAIL and other response codes become [`DnsOutcome`]s.
//!
//! # Answers and CNAME chains
//!
//! Records of the queried type and class `IN` are accepted when their owner name is the
//! queried name or the target of a CNAME chain that starts at the queried name inside the same
//! answer section (at most [`MAX_CNAME_CHAIN`] links). Records with any other owner are
//! ignored. The TTL reported is the smallest TTL of the accepted records (and of the CNAMEs
//! followed), clamped to [`DNS_MIN_TTL`]..=[`DNS_MAX_TTL`]; an empty answer reports
//! [`DNS_MIN_TTL`].
//!
//! # Retries
//!
//! A query unanswered after [`DNS_QUERY_TIMEOUT`] is re-sent by [`DnsClient::handle_timeout`]
//! with a **new** random transaction id (so a late answer to the old id is an error), up to
//! [`DNS_MAX_ATTEMPTS`] sends in all; then it is reported as failed.

use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use crate::rng::Rng;

/// How long to wait for an answer before re-sending a query.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const DNS_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// How many times a query is sent in all (the first send plus two retries).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const DNS_MAX_ATTEMPTS: u32 = 3;

/// The most queries in flight at once; [`DnsClient::start`] refuses one more.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_PENDING_DNS_QUERIES: usize = 64;

/// The largest datagram `DnsClient::handle_response` will look at (the largest UDP payload).
pub const MAX_DNS_RESPONSE_LEN: usize = 65_535;

/// The most address tokens taken from one answer (see [`txt_to_address_strings`] and
/// [`txt_records_to_address_strings`]); the rest are dropped.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_TXT_ADDRESSES_PER_ANSWER: usize = 256;

/// The most CNAME links followed from the queried name inside one answer section.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_CNAME_CHAIN: usize = 8;

/// The shortest TTL reported: answers are not re-queried more often than once a minute, even
/// if the zone says TTL 0.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const DNS_MIN_TTL: Duration = Duration::from_secs(60);

/// The longest TTL reported: seeds are re-queried at least once a day.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const DNS_MAX_TTL: Duration = Duration::from_secs(86_400);

/// The EDNS(0) UDP payload size advertised in queries (the DNS Flag Day 2020 value), so that
/// TXT answers listing many peers fit without truncation.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const DNS_EDNS_PAYLOAD: u16 = 1232;

/// What record type a query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub enum QueryKind {
    /// TXT records: the DNS-seed format of `docs/DISCOVERY.md`.
    Txt,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

impl QueryKind {
    fn record_type(self) -> RecordType {
        match self {
            QueryKind::Txt => RecordType::TXT,
            QueryKind::A => RecordType::A,
            QueryKind::Aaaa => RecordType::AAAA,
        }
    }
}

/// Why a query could not be started or a datagram was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub enum DnsError {
    /// The name is not a valid DNS name (empty, the root, non-ASCII, a label over 63 bytes,
    /// the whole over 255 bytes, or otherwise unparsable).
    #[error("invalid DNS name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// [`MAX_PENDING_DNS_QUERIES`] queries are already in flight.
    #[error("too many DNS queries pending (at most {MAX_PENDING_DNS_QUERIES})")]
    TooManyPending,
    /// The query could not be encoded.
    #[error("could not encode DNS query: {0}")]
    Encode(String),
    /// The datagram is longer than [`MAX_DNS_RESPONSE_LEN`].
    #[error("DNS response of {len} bytes is longer than {MAX_DNS_RESPONSE_LEN}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The datagram does not parse as a DNS message.
    #[error("malformed DNS message: {0}")]
    Malformed(String),
    /// The message is a query, or not a standard query's response.
    #[error("DNS message is not a response to a standard query")]
    NotAResponse,
    /// No pending query has this transaction id.
    #[error("DNS response with unknown transaction id {id}")]
    UnknownTransaction {
        /// The transaction id in the datagram.
        id: u16,
    },
    /// The question section does not echo the pending query's name, type and class.
    #[error("DNS response {id} does not echo the question asked")]
    QuestionMismatch {
        /// The transaction id in the datagram.
        id: u16,
    },
}

/// The result of a query, from [`DnsClient::handle_response`]. The query is no longer pending.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub enum DnsOutcome {
    /// The TXT records of `name`: each record's character-strings concatenated, in answer
    /// order. Empty when the name exists but has no TXT records.
    Txt {
        /// The name as given to [`DnsClient::start`].
        name: String,
        /// One string per TXT record (invalid UTF-8 replaced with U+FFFD).
        records: Vec<String>,
        /// How long the answer may be cached (see the module docs).
        ttl: Duration,
    },
    /// The A or AAAA records of `name`, in answer order.
    Addresses {
        /// The name as given to [`DnsClient::start`].
        name: String,
        /// Which query this answers.
        kind: QueryKind,
        /// The addresses; empty when the name exists but has none of this type.
        ips: Vec<IpAddr>,
        /// How long the answer may be cached (see the module docs).
        ttl: Duration,
    },
    /// The name does not exist (NXDOMAIN).
    NxDomain {
        /// The name as given to [`DnsClient::start`].
        name: String,
        /// Which query this answers.
        kind: QueryKind,
    },
    /// The resolver failed (SERVFAIL).
    ServFail {
        /// The name as given to [`DnsClient::start`].
        name: String,
        /// Which query this answers.
        kind: QueryKind,
    },
    /// The answer did not fit in a datagram (TC bit); no records are returned from it.
    Truncated {
        /// The name as given to [`DnsClient::start`].
        name: String,
        /// Which query this answers.
        kind: QueryKind,
    },
    /// Any other response code (REFUSED, FORMERR, NOTIMP, ...).
    Error {
        /// The name as given to [`DnsClient::start`].
        name: String,
        /// Which query this answers.
        kind: QueryKind,
        /// The numeric response code.
        rcode: u16,
    },
}

/// What [`DnsClient::handle_timeout`] asks the runtime to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub enum DnsTimeoutAction {
    /// Send `bytes` as one datagram; the query now has transaction id `new_id`.
    Retry {
        /// The transaction id that timed out (now forgotten).
        old_id: u16,
        /// The new transaction id.
        new_id: u16,
        /// The query datagram.
        bytes: Vec<u8>,
    },
    /// The query got no usable answer after [`DNS_MAX_ATTEMPTS`] sends; it is forgotten.
    Failed {
        /// The transaction id of the last send.
        id: u16,
        /// The name as given to [`DnsClient::start`].
        name: String,
        /// What was asked.
        kind: QueryKind,
    },
}

#[derive(Clone, Debug)]
struct PendingQuery {
    name: String,
    qname: Name,
    kind: QueryKind,
    attempts: u32,
    deadline: Instant,
}

/// The pending queries of one node, keyed by transaction id.
#[derive(Clone, Debug, Default)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct DnsClient {
    pending: BTreeMap<u16, PendingQuery>,
}

/// How many random draws are tried for a free transaction id before a linear scan.
const TXID_DRAWS: usize = 32;

impl DnsClient {
    /// A client with nothing pending.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn new() -> Self {
        DnsClient {
            pending: BTreeMap::new(),
        }
    }

    /// Starts a query; returns (transaction id, wire bytes to send as one UDP datagram) or an
    /// error if the name is invalid or too many queries are pending.
    ///
    /// `name` is an ASCII domain name, with or without the trailing dot; it is always asked as
    /// a fully-qualified name. The query has RD (recursion desired) set and an EDNS(0) record
    /// advertising [`DNS_EDNS_PAYLOAD`] bytes.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn start(
        &mut self,
        name: &str,
        kind: QueryKind,
        now: Instant,
        rng: &mut Rng,
    ) -> Result<(u16, Vec<u8>), DnsError> {
        if self.pending.len() >= MAX_PENDING_DNS_QUERIES {
            return Err(DnsError::TooManyPending);
        }
        let qname = parse_name(name)?;
        let id = self.fresh_id(rng);
        let bytes = encode_query(id, &qname, kind)?;
        self.pending.insert(
            id,
            PendingQuery {
                name: name.to_string(),
                qname,
                kind,
                attempts: 1,
                deadline: now + DNS_QUERY_TIMEOUT,
            },
        );
        Ok((id, bytes))
    }

    /// Handles one datagram. Validates: parses with hickory-proto, is a response, txid matches
    /// a pending query, the question section echoes the query name/type/class
    /// (case-insensitive), then maps rcode NXDOMAIN/SERVFAIL/other and the TC (truncated) bit
    /// to outcomes. Unknown txid / mismatched question → `Err` (and the pending query stays
    /// pending, so a spoofed answer does not cancel the real one).
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn handle_response(&mut self, bytes: &[u8], _now: Instant) -> Result<DnsOutcome, DnsError> {
        if bytes.len() > MAX_DNS_RESPONSE_LEN {
            return Err(DnsError::TooLong { len: bytes.len() });
        }
        let msg = Message::from_vec(bytes).map_err(|e| DnsError::Malformed(e.to_string()))?;
        let meta = &msg.metadata;
        if meta.message_type != MessageType::Response || meta.op_code != OpCode::Query {
            return Err(DnsError::NotAResponse);
        }
        let id = meta.id;
        let Some(query) = self.pending.get(&id) else {
            return Err(DnsError::UnknownTransaction { id });
        };
        let echoes = match msg.queries.as_slice() {
            [q] => {
                q.query_class() == DNSClass::IN
                    && q.query_type() == query.kind.record_type()
                    && q.name().eq_ignore_root(&query.qname)
            }
            _ => false,
        };
        if !echoes {
            return Err(DnsError::QuestionMismatch { id });
        }
        let Some(query) = self.pending.remove(&id) else {
            return Err(DnsError::UnknownTransaction { id });
        };
        let PendingQuery {
            name, qname, kind, ..
        } = query;
        match meta.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => return Ok(DnsOutcome::NxDomain { name, kind }),
            ResponseCode::ServFail => return Ok(DnsOutcome::ServFail { name, kind }),
            other => {
                return Ok(DnsOutcome::Error {
                    name,
                    kind,
                    rcode: u16::from(other),
                })
            }
        }
        if meta.truncation {
            return Ok(DnsOutcome::Truncated { name, kind });
        }

        // The owner names accepted: the queried name and the CNAME chain from it.
        let mut owners: Vec<Name> = vec![qname];
        let mut min_ttl: Option<u32> = None;
        for _ in 0..MAX_CNAME_CHAIN {
            let mut grew = false;
            for rec in &msg.answers {
                if rec.dns_class != DNSClass::IN {
                    continue;
                }
                if let RData::CNAME(target) = &rec.data {
                    let from_known = owners.iter().any(|o| o.eq_ignore_root(&rec.name));
                    let to_known = owners.iter().any(|o| o.eq_ignore_root(&target.0));
                    if from_known && !to_known {
                        owners.push(target.0.clone());
                        min_ttl = Some(min_ttl.map_or(rec.ttl, |t| t.min(rec.ttl)));
                        grew = true;
                        break;
                    }
                }
            }
            if !grew {
                break;
            }
        }

        let want = kind.record_type();
        let mut txts = Vec::new();
        let mut ips = Vec::new();
        for rec in &msg.answers {
            if rec.dns_class != DNSClass::IN
                || rec.record_type() != want
                || !owners.iter().any(|o| o.eq_ignore_root(&rec.name))
            {
                continue;
            }
            let accepted = match &rec.data {
                RData::TXT(txt) => {
                    let joined: Vec<u8> = txt
                        .txt_data
                        .iter()
                        .flat_map(|s| s.iter().copied())
                        .collect();
                    txts.push(String::from_utf8_lossy(&joined).into_owned());
                    true
                }
                RData::A(a) => {
                    ips.push(IpAddr::V4(a.0));
                    true
                }
                RData::AAAA(a) => {
                    ips.push(IpAddr::V6(a.0));
                    true
                }
                _ => false,
            };
            if accepted {
                min_ttl = Some(min_ttl.map_or(rec.ttl, |t| t.min(rec.ttl)));
            }
        }
        let ttl = if txts.is_empty() && ips.is_empty() {
            DNS_MIN_TTL
        } else {
            clamp_ttl(min_ttl.unwrap_or(0))
        };
        Ok(match kind {
            QueryKind::Txt => DnsOutcome::Txt {
                name,
                records: txts,
                ttl,
            },
            QueryKind::A | QueryKind::Aaaa => DnsOutcome::Addresses {
                name,
                kind,
                ips,
                ttl,
            },
        })
    }

    /// Retries timed-out queries (same name, NEW random txid, new bytes) up to
    /// [`DNS_MAX_ATTEMPTS`], then reports failure. Actions come in transaction-id order.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut Rng) -> Vec<DnsTimeoutAction> {
        let due: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, q)| q.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut actions = Vec::with_capacity(due.len());
        for old_id in due {
            let Some(mut query) = self.pending.remove(&old_id) else {
                continue;
            };
            if query.attempts >= DNS_MAX_ATTEMPTS {
                actions.push(DnsTimeoutAction::Failed {
                    id: old_id,
                    name: query.name,
                    kind: query.kind,
                });
                continue;
            }
            let new_id = self.fresh_id(rng);
            match encode_query(new_id, &query.qname, query.kind) {
                Ok(bytes) => {
                    query.attempts += 1;
                    query.deadline = now + DNS_QUERY_TIMEOUT;
                    self.pending.insert(new_id, query);
                    actions.push(DnsTimeoutAction::Retry {
                        old_id,
                        new_id,
                        bytes,
                    });
                }
                // Encoding succeeded on the first send, so this cannot happen; fail the query
                // rather than panic.
                Err(_) => actions.push(DnsTimeoutAction::Failed {
                    id: old_id,
                    name: query.name,
                    kind: query.kind,
                }),
            }
        }
        actions
    }

    /// The earliest deadline of a pending query, if any.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|q| q.deadline).min()
    }

    /// How many queries are in flight.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// A transaction id not in use, drawn from `rng`.
    fn fresh_id(&self, rng: &mut Rng) -> u16 {
        let mut id = 0;
        for _ in 0..TXID_DRAWS {
            id = (rng.next_u64() & 0xffff) as u16;
            if !self.pending.contains_key(&id) {
                return id;
            }
        }
        // Practically unreachable (at most 64 of 65,536 ids are taken): scan from the last draw.
        while self.pending.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        id
    }
}

fn clamp_ttl(secs: u32) -> Duration {
    Duration::from_secs(u64::from(secs)).clamp(DNS_MIN_TTL, DNS_MAX_TTL)
}

fn parse_name(name: &str) -> Result<Name, DnsError> {
    let invalid = |reason: &str| DnsError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(invalid("empty name"));
    }
    if !trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(invalid(
            "only ASCII letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    if trimmed.split('.').any(str::is_empty) {
        return Err(invalid("empty label"));
    }
    let mut qname = Name::from_ascii(trimmed).map_err(|e| invalid(&e.to_string()))?;
    qname.set_fqdn(true);
    Ok(qname)
}

fn encode_query(id: u16, qname: &Name, kind: QueryKind) -> Result<Vec<u8>, DnsError> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname.clone(), kind.record_type()));
    let mut edns = Edns::new();
    edns.set_max_payload(DNS_EDNS_PAYLOAD);
    msg.set_edns(edns);
    msg.to_vec().map_err(|e| DnsError::Encode(e.to_string()))
}

/// Splits one TXT record into address tokens: separated by whitespace and/or commas, empty
/// tokens dropped, at most [`MAX_TXT_ADDRESSES_PER_ANSWER`] kept. Each token is meant for the
/// address parser; this function does not check them.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn txt_to_address_strings(record: &str) -> Vec<String> {
    record
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .take(MAX_TXT_ADDRESSES_PER_ANSWER)
        .map(str::to_string)
        .collect()
}

/// The address tokens of a whole answer's TXT records, in order, at most
/// [`MAX_TXT_ADDRESSES_PER_ANSWER`] in all; duplicates after the first are dropped.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn txt_records_to_address_strings(records: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for record in records {
        for token in txt_to_address_strings(record) {
            if out.len() >= MAX_TXT_ADDRESSES_PER_ANSWER {
                return out;
            }
            if seen.insert(token.clone()) {
                out.push(token);
            }
        }
    }
    out
}

/// Where the system resolver's configuration lives; an adapter reads this file (the core never
/// does) and hands its text to the core (`first_nameserver`).
pub const RESOLV_CONF_PATH: &str = "/etc/resolv.conf";

/// The DNS port, used for nameservers named without one.
pub(crate) const DNS_PORT: u16 = 53;

/// The first usable `nameserver` of a `resolv.conf` text, on port [`DNS_PORT`].
///
/// Comments (from `#` or `;` to the end of the line) and other options are ignored. An IPv6
/// nameserver may carry a numeric zone (`fe80::1%2`); one with a named zone (`fe80::1%eth0`)
/// is skipped, since turning an interface name into an index is I/O. `None` when no line
/// names a usable nameserver (glibc would then try the local host; an adapter may do the same,
/// or let the query time out).
pub(crate) fn first_nameserver(resolv_conf_text: &str) -> Option<core::net::SocketAddr> {
    use core::net::{SocketAddr, SocketAddrV6};
    resolv_conf_text.lines().find_map(|line| {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        let word = words.next()?;
        let (addr, zone) = match word.split_once('%') {
            Some((addr, zone)) => (addr, Some(zone.parse::<u32>().ok()?)),
            None => (word, None),
        };
        match (addr.parse::<IpAddr>().ok()?, zone) {
            (IpAddr::V6(ip), Some(scope)) => {
                Some(SocketAddr::V6(SocketAddrV6::new(ip, DNS_PORT, 0, scope)))
            }
            (IpAddr::V4(_), Some(_)) => None,
            (ip, None) => Some(SocketAddr::new(ip, DNS_PORT)),
        }
    })
}

/// Where an adapter sends an `Output::DnsQuery` datagram and which local address its UDP
/// socket binds: `(bind, server)`. The server is the query's own, or else the first nameserver
/// of the `resolv.conf` text that `read_resolv_conf` returns (only called then). The socket
/// binds an ephemeral port on the unspecified address of the server's family, or on the
/// loopback address for a loopback server. `None`: no server known, so the query is dropped
/// (and times out in the core).
pub fn udp_route(
    server: Option<core::net::SocketAddr>,
    read_resolv_conf: impl FnOnce() -> Option<String>,
) -> Option<(core::net::SocketAddr, core::net::SocketAddr)> {
    use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    let server = match server {
        Some(s) => s,
        None => first_nameserver(&read_resolv_conf()?)?,
    };
    let ip: IpAddr = match server.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(v6) if v6.is_loopback() => Ipv6Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    Some((SocketAddr::new(ip, 0), server))
}

/// Whether an error from a DNS socket's receive is worth ignoring (the next datagram may still
/// come): an ICMP error for an earlier send, or an interrupted call. Anything else ends the
/// adapter's reader.
pub fn transient_udp_error(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused | ConnectionReset | Interrupted | WouldBlock
    )
}

#[cfg(test)]
mod resolv_conf_tests {
    use super::*;

    fn sa(s: &str) -> core::net::SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn first_nameserver_skips_comments_and_options() {
        let text = "# generated\n; nameserver 192.0.2.9\nsearch example.org\noptions ndots:2\n\
                    nameserver   192.0.2.53  # primary\nnameserver 192.0.2.54\n";
        assert_eq!(first_nameserver(text), Some(sa("192.0.2.53:53")));
    }

    #[test]
    fn first_nameserver_ipv6_and_zones() {
        assert_eq!(
            first_nameserver("nameserver 2001:db8::1\n"),
            Some(sa("[2001:db8::1]:53"))
        );
        let scoped = first_nameserver("nameserver fe80::1%3").unwrap();
        assert_eq!(scoped, sa("[fe80::1%3]:53"));
        // A named zone needs an interface lookup: skipped for the next line.
        assert_eq!(
            first_nameserver("nameserver fe80::1%eth0\nnameserver 192.0.2.1"),
            Some(sa("192.0.2.1:53"))
        );
    }

    #[test]
    fn first_nameserver_none_when_nothing_usable() {
        assert_eq!(first_nameserver(""), None);
        assert_eq!(
            first_nameserver("search example.org\n#nameserver 1.2.3.4"),
            None
        );
        assert_eq!(first_nameserver("nameserver\nnameserver not-an-ip"), None);
        assert_eq!(first_nameserver("nameservers 192.0.2.1"), None);
        assert_eq!(first_nameserver("nameserver 192.0.2.1%2"), None);
    }

    #[test]
    fn udp_route_binds_the_servers_family() {
        let never = || -> Option<String> { panic!("resolv.conf read with a server given") };
        assert_eq!(
            udp_route(Some(sa("127.0.0.1:5353")), never),
            Some((sa("127.0.0.1:0"), sa("127.0.0.1:5353")))
        );
        assert_eq!(
            udp_route(Some(sa("192.0.2.53:53")), never),
            Some((sa("0.0.0.0:0"), sa("192.0.2.53:53")))
        );
        assert_eq!(
            udp_route(Some(sa("[::1]:53")), never),
            Some((sa("[::1]:0"), sa("[::1]:53")))
        );
        assert_eq!(
            udp_route(Some(sa("[2001:db8::1]:53")), never),
            Some((sa("[::]:0"), sa("[2001:db8::1]:53")))
        );
    }

    #[test]
    fn udp_route_falls_back_to_resolv_conf() {
        let conf = || Some("nameserver 10.255.255.53\n".to_string());
        assert_eq!(
            udp_route(None, conf),
            Some((sa("0.0.0.0:0"), sa("10.255.255.53:53")))
        );
        assert_eq!(udp_route(None, || None), None);
        assert_eq!(udp_route(None, || Some("search x".into())), None);
    }
}
