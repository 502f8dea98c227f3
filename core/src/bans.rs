//! Bans: which node ids, IP addresses and subnets we refuse, and until when.
//!
//! # What it decides
//!
//! A [`BanList`] answers "is this node id banned?" ([`BanList::check_node`]) and "is this
//! address banned?" ([`BanList::check_ip`]: an exact IP ban or any subnet ban containing it).
//! Bans come from the operator ([`BanOrigin::Operator`]) or from reputation
//! ([`BanOrigin::Automatic`]), are permanent or expire, and are persisted as plain [`Ban`]
//! records.
//!
//! # Invariants
//!
//! * A ban is active while `now < expires`; at `now == expires` it is expired. Checks never
//!   report an expired ban, even before [`BanList::expire`] removed it.
//! * Addresses are canonical: an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is its IPv4
//!   address, for bans and for checks, so a v4 ban also catches the mapped form. A subnet is
//!   stored with its host bits cleared (`10.1.2.3/8` is `10.0.0.0/8`).
//! * One ban per target: banning a banned target merges the two (the later expiry, operator
//!   origin if either was, the new reason); it never shortens a ban. To shorten, unban first.
//! * Iteration is in target order (node ids, then IPs, then subnets), so lists are
//!   deterministic.
//!
//! # Limits
//!
//! * [`MAX_BANS`] bans. When full, a new ban evicts an expired ban, else the oldest
//!   automatic ban; if every ban is an active operator ban, [`BanError::ListFull`].
//! * [`MAX_BAN_REASON_LEN`] bytes of reason, truncated on a character boundary.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::id::{NodeId, NodeIdError};
use crate::time::UnixMillis;

/// The most bans a [`BanList`] holds.
pub(crate) const MAX_BANS: usize = 10_000;
/// The longest ban reason kept, in bytes; longer reasons are cut on a character boundary.
pub const MAX_BAN_REASON_LEN: usize = 256;
/// Unrecognised ban targets are quoted in errors up to this many characters.
pub(crate) const MAX_QUOTED_TARGET_LEN: usize = 80;

/// An IP subnet: an address with its host bits cleared and a prefix length.
///
/// Parsed from `address/prefix` (`10.0.0.0/8`, `2001:db8::/32`). Host bits are cleared rather
/// than rejected (`10.1.2.3/8` is `10.0.0.0/8`). An IPv4-mapped IPv6 subnet with a prefix of
/// at least 96 is the IPv4 subnet it maps (`::ffff:10.0.0.0/104` is `10.0.0.0/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string or a pair is not a [`Cidr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    #[error("{0:?} is not an IP address")]
    BadAddress(String),
    /// The part after `/` is not a number.
    #[error("{0:?} is not a prefix length (a number of bits)")]
    BadPrefix(String),
    /// The prefix is longer than the address.
    #[error("prefix /{prefix} is longer than the address ({max} bits)")]
    PrefixTooLong {
        /// The prefix given.
        prefix: u8,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// No `/` in the string.
    #[error("a subnet is written address/prefix, e.g. 10.0.0.0/8")]
    MissingPrefix,
}

impl Cidr {
    /// The subnet of `addr` with `prefix` bits; host bits are cleared, an IPv4-mapped IPv6
    /// address with `prefix >= 96` becomes IPv4.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) => match (v6.to_ipv4_mapped(), prefix) {
                (Some(v4), p) if (96..=128).contains(&p) => (IpAddr::V4(v4), p - 96),
                _ => (addr, prefix),
            },
            IpAddr::V4(_) => (addr, prefix),
        };
        let max = max_prefix(addr);
        if prefix > max {
            return Err(CidrError::PrefixTooLong { prefix, max });
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(prefix))),
        };
        Ok(Cidr { addr, prefix })
    }

    /// The network address (host bits clear).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` (canonicalised: IPv4-mapped IPv6 is IPv4) is inside this subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask_v4(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask_v6(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').ok_or(CidrError::MissingPrefix)?;
        let ip = IpAddr::from_str(addr).map_err(|_| CidrError::BadAddress(quote(addr)))?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::BadPrefix(quote(prefix)));
        }
        // Digits only; anything that does not fit in a u8 is too long for any address.
        let prefix = prefix.parse::<u8>().unwrap_or(u8::MAX);
        Cidr::new(ip, prefix)
    }
}

/// `s` cut to [`MAX_QUOTED_TARGET_LEN`] characters, for error messages.
fn quote(s: &str) -> String {
    s.chars().take(MAX_QUOTED_TARGET_LEN).collect()
}

/// What a ban applies to.
///
/// Parsed from (and displayed and serialised as) a string: 64 hex characters are a node id,
/// `1.2.3.4` or `::1` an IP (a port, as in `1.2.3.4:8000` or `[::1]:8000`, is ignored), and
/// `address/prefix` a subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BanTarget {
    /// One node, whatever its address.
    Node(NodeId),
    /// One address.
    Ip(IpAddr),
    /// Every address in a subnet.
    Subnet(Cidr),
}

/// Why a string is not a [`BanTarget`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BanTargetError {
    /// Hex digits only, but not a valid node id.
    #[error("not a node id: {0}")]
    Node(#[from] NodeIdError),
    /// Has a `/`, but not a valid subnet.
    #[error("not a subnet: {0}")]
    Subnet(#[from] CidrError),
    /// Nothing recognisable.
    #[error(
        "{0:?} is not a node id (64 hex characters), an IP address (a port is allowed) \
         or a subnet (address/prefix, e.g. 10.0.0.0/8)"
    )]
    Unrecognised(String),
}

impl BanTarget {
    /// The same target with an IPv4-mapped IPv6 address as IPv4 ([`Cidr`]s are already
    /// canonical).
    pub fn canonical(self) -> BanTarget {
        match self {
            BanTarget::Ip(ip) => BanTarget::Ip(ip.to_canonical()),
            other => other,
        }
    }
}

impl fmt::Display for BanTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BanTarget::Node(id) => write!(f, "{id}"),
            BanTarget::Ip(ip) => write!(f, "{ip}"),
            BanTarget::Subnet(c) => write!(f, "{c}"),
        }
    }
}

impl FromStr for BanTarget {
    type Err = BanTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains('/') {
            return Ok(BanTarget::Subnet(s.parse()?));
        }
        if let Ok(ip) = IpAddr::from_str(s) {
            return Ok(BanTarget::Ip(ip.to_canonical()));
        }
        if let Ok(sa) = SocketAddr::from_str(s) {
            return Ok(BanTarget::Ip(sa.ip().to_canonical()));
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(BanTarget::Node(s.parse()?));
        }
        Err(BanTargetError::Unrecognised(quote(s)))
    }
}

impl serde::Serialize for BanTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BanTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Who asked for a ban.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BanOrigin {
    /// The operator (CLI or API). Never evicted to make room.
    Operator,
    /// The node itself, from reputation. Evicted oldest first when the list is full.
    Automatic,
}

/// One ban.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ban {
    /// What is banned.
    pub target: BanTarget,
    /// Why, for operators (at most [`MAX_BAN_REASON_LEN`] bytes).
    pub reason: String,
    /// Who asked.
    pub origin: BanOrigin,
    /// When it was made (or last merged with a new ban of the same target).
    pub created: UnixMillis,
    /// When it ends (expired when `now >= expires`); `None` = permanent.
    pub expires: Option<UnixMillis>,
}

impl Ban {
    /// Whether the ban is in force at `now` (`now < expires`, or permanent).
    pub fn is_active(&self, now: UnixMillis) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

/// Why a ban was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BanError {
    /// [`MAX_BANS`] active operator bans: nothing may be evicted.
    #[error("the ban list is full ({MAX_BANS} operator bans); remove one before adding another")]
    ListFull,
    /// A duration of zero would make a ban that is already expired.
    #[error("a ban lasts a positive duration, or is permanent (no duration)")]
    ZeroDuration,
}

/// The bans in force, keyed by target. See the module docs for the rules.
#[derive(Clone, Debug, Default)]
pub(crate) struct BanList {
    bans: BTreeMap<BanTarget, Ban>,
}

impl BanList {
    /// An empty list.
    pub(crate) fn new() -> BanList {
        BanList::default()
    }

    /// Bans `target` from `now` for `duration` (`None` = permanent), with `reason` cut to
    /// [`MAX_BAN_REASON_LEN`] bytes.
    ///
    /// A target already banned (and not expired) is merged: the later expiry wins (permanent
    /// beats any), `Operator` wins over `Automatic`, the reason and `created` are the new
    /// ones. When the list is full, a new target evicts an expired ban (earliest expiry first),
    /// else the oldest automatic ban; the evicted ban is returned. With only active operator
    /// bans, [`BanError::ListFull`].
    pub(crate) fn ban(
        &mut self,
        target: BanTarget,
        reason: &str,
        origin: BanOrigin,
        now: UnixMillis,
        duration: Option<Duration>,
    ) -> Result<Option<Ban>, BanError> {
        if duration.is_some_and(|d| d.is_zero()) {
            return Err(BanError::ZeroDuration);
        }
        let ban = Ban {
            target: target.canonical(),
            reason: truncate(reason, MAX_BAN_REASON_LEN).to_string(),
            origin,
            created: now,
            expires: duration.map(|d| now.plus(d)),
        };
        self.insert(ban, now, MAX_BANS)
    }

    /// Inserts or merges `ban`, evicting if the list holds `limit` bans.
    fn insert(
        &mut self,
        mut ban: Ban,
        now: UnixMillis,
        limit: usize,
    ) -> Result<Option<Ban>, BanError> {
        if let Some(old) = self.bans.get(&ban.target) {
            if old.is_active(now) {
                ban.expires = match (old.expires, ban.expires) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                if old.origin == BanOrigin::Operator {
                    ban.origin = BanOrigin::Operator;
                }
            }
            self.bans.insert(ban.target, ban);
            return Ok(None);
        }
        let mut evicted = None;
        if self.bans.len() >= limit {
            let victim = self.victim(now).ok_or(BanError::ListFull)?;
            evicted = self.bans.remove(&victim);
        }
        self.bans.insert(ban.target, ban);
        Ok(evicted)
    }

    /// The ban to evict: an expired one (earliest expiry), else the oldest automatic one.
    fn victim(&self, now: UnixMillis) -> Option<BanTarget> {
        let expired = self
            .bans
            .values()
            .filter(|b| !b.is_active(now))
            .min_by_key(|b| b.expires)
            .map(|b| b.target);
        expired.or_else(|| {
            self.bans
                .values()
                .filter(|b| b.origin == BanOrigin::Automatic)
                .min_by_key(|b| b.created)
                .map(|b| b.target)
        })
    }

    /// Lifts the ban on exactly `target` (a subnet ban is not lifted by unbanning one of its
    /// addresses); returns it, expired or not.
    pub(crate) fn unban(&mut self, target: &BanTarget) -> Option<Ban> {
        self.bans.remove(&target.canonical())
    }

    /// The active ban on node `id`, if any.
    pub(crate) fn check_node(&self, id: &NodeId, now: UnixMillis) -> Option<&Ban> {
        self.bans
            .get(&BanTarget::Node(*id))
            .filter(|b| b.is_active(now))
    }

    /// The active ban covering `ip`: an exact IP ban first, else the most specific subnet ban
    /// containing it. An IPv4-mapped IPv6 address is checked as IPv4.
    pub(crate) fn check_ip(&self, ip: IpAddr, now: UnixMillis) -> Option<&Ban> {
        let ip = ip.to_canonical();
        let active = |t: BanTarget| self.bans.get(&t).filter(|b| b.is_active(now));
        active(BanTarget::Ip(ip)).or_else(|| {
            (0..=max_prefix(ip))
                .rev()
                .filter_map(|p| Cidr::new(ip, p).ok())
                .find_map(|c| active(BanTarget::Subnet(c)))
        })
    }

    /// Removes and returns every ban expired at `now`, in target order.
    pub(crate) fn expire(&mut self, now: UnixMillis) -> Vec<Ban> {
        let expired: Vec<BanTarget> = self
            .bans
            .values()
            .filter(|b| !b.is_active(now))
            .map(|b| b.target)
            .collect();
        expired.iter().filter_map(|t| self.bans.remove(t)).collect()
    }

    /// The bans active at `now`, in target order.
    pub(crate) fn list(&self, now: UnixMillis) -> impl Iterator<Item = &Ban> + '_ {
        self.bans.values().filter(move |b| b.is_active(now))
    }

    /// The earliest expiry of any held ban (possibly already past: call
    /// [`expire`](Self::expire)); `None` if every ban is permanent or there are none.
    #[cfg_attr(not(test), allow(dead_code))] // used by unit tests only
    pub(crate) fn next_expiry(&self) -> Option<UnixMillis> {
        self.bans.values().filter_map(|b| b.expires).min()
    }

    /// How many bans are held (including expired ones not yet removed).
    #[cfg_attr(not(test), allow(dead_code))] // used by unit tests only
    pub(crate) fn len(&self) -> usize {
        self.bans.len()
    }

    /// Every held ban as a durable record, in target order.
    pub(crate) fn records(&self) -> Vec<Ban> {
        self.bans.values().cloned().collect()
    }

    /// Loads bans saved earlier; returns how many were taken. Bans expired at `now` are
    /// dropped, targets are canonicalised, reasons cut, duplicates merged, and the
    /// [`MAX_BANS`] bound holds (evicting as [`ban`](Self::ban) does; bans that find no room
    /// are dropped).
    pub(crate) fn restore(&mut self, bans: impl IntoIterator<Item = Ban>, now: UnixMillis) -> usize {
        self.restore_bounded(bans, now, MAX_BANS)
    }

    fn restore_bounded(
        &mut self,
        bans: impl IntoIterator<Item = Ban>,
        now: UnixMillis,
        limit: usize,
    ) -> usize {
        let mut taken = 0;
        for mut ban in bans {
            if !ban.is_active(now) {
                continue;
            }
            ban.target = ban.target.canonical();
            ban.reason = truncate(&ban.reason, MAX_BAN_REASON_LEN).to_string();
            if self.insert(ban, now, limit).is_ok() {
                taken += 1;
            }
        }
        taken
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: UnixMillis = UnixMillis(1_700_000_000_000);
    const HOUR: Duration = Duration::from_secs(3600);

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().expect("test subnet")
    }

    fn node(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    #[test]
    fn ban_target_parse_table() {
        let hex = "ab".repeat(32);
        let good: &[(&str, BanTarget, &str)] = &[
            (&hex, BanTarget::Node(NodeId([0xab; 32])), &hex),
            ("1.2.3.4", BanTarget::Ip(ip("1.2.3.4")), "1.2.3.4"),
            ("::1", BanTarget::Ip(ip("::1")), "::1"),
            ("1.2.3.4:8000", BanTarget::Ip(ip("1.2.3.4")), "1.2.3.4"),
            ("[::1]:8000", BanTarget::Ip(ip("::1")), "::1"),
            (" 1.2.3.4 ", BanTarget::Ip(ip("1.2.3.4")), "1.2.3.4"),
            ("::ffff:1.2.3.4", BanTarget::Ip(ip("1.2.3.4")), "1.2.3.4"),
            (
                "10.0.0.0/8",
                BanTarget::Subnet(cidr("10.0.0.0/8")),
                "10.0.0.0/8",
            ),
            (
                "10.1.2.3/8",
                BanTarget::Subnet(cidr("10.0.0.0/8")),
                "10.0.0.0/8",
            ),
            (
                "2001:db8::1/32",
                BanTarget::Subnet(cidr("2001:db8::/32")),
                "2001:db8::/32",
            ),
            (
                "::ffff:10.0.0.0/104",
                BanTarget::Subnet(cidr("10.0.0.0/8")),
                "10.0.0.0/8",
            ),
            (
                "0.0.0.0/0",
                BanTarget::Subnet(cidr("0.0.0.0/0")),
                "0.0.0.0/0",
            ),
            ("::/0", BanTarget::Subnet(cidr("::/0")), "::/0"),
        ];
        for (s, want, shown) in good {
            let got: BanTarget = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(&got, want, "{s}");
            assert_eq!(got.to_string(), *shown, "{s}");
            assert_eq!(
                shown.parse::<BanTarget>().as_ref(),
                Ok(want),
                "{s} round trip"
            );
        }
        let bad: &[(&str, BanTargetError)] = &[
            ("", BanTargetError::Unrecognised(String::new())),
            ("abc", BanTargetError::Node(NodeIdError::Length(3))),
            (
                "host.example:8000",
                BanTargetError::Unrecognised("host.example:8000".into()),
            ),
            (
                "1.2.3.4:99999",
                BanTargetError::Unrecognised("1.2.3.4:99999".into()),
            ),
            (
                "1.2.3.256",
                BanTargetError::Unrecognised("1.2.3.256".into()),
            ),
            (
                "10.0.0.0/33",
                CidrError::PrefixTooLong {
                    prefix: 33,
                    max: 32,
                }
                .into(),
            ),
            (
                "::/129",
                CidrError::PrefixTooLong {
                    prefix: 129,
                    max: 128,
                }
                .into(),
            ),
            (
                "::/300",
                CidrError::PrefixTooLong {
                    prefix: 255,
                    max: 128,
                }
                .into(),
            ),
            ("10.0.0.0/", CidrError::BadPrefix(String::new()).into()),
            ("10.0.0.0/+8", CidrError::BadPrefix("+8".into()).into()),
            ("10.0.0/8", CidrError::BadAddress("10.0.0".into()).into()),
            ("[::1]/8", CidrError::BadAddress("[::1]".into()).into()),
        ];
        for (s, want) in bad {
            assert_eq!(s.parse::<BanTarget>().as_ref(), Err(want), "{s}");
        }
        assert_eq!("10.0.0.0".parse::<Cidr>(), Err(CidrError::MissingPrefix));
        let long = "x".repeat(500);
        match long.parse::<BanTarget>() {
            Err(BanTargetError::Unrecognised(q)) => assert_eq!(q.len(), MAX_QUOTED_TARGET_LEN),
            other => panic!("{other:?}"),
        }
        // Every error has a message.
        assert!(BanTargetError::Unrecognised("x".into())
            .to_string()
            .contains("10.0.0.0/8"));
    }

    #[test]
    fn cidr_matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("10.0.0.0/8", "10.255.255.255", true),
            ("10.0.0.0/8", "11.0.0.0", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "::1", false),
            ("1.2.3.4/32", "1.2.3.4", true),
            ("1.2.3.4/32", "1.2.3.5", false),
            ("192.168.1.0/31", "192.168.1.1", true),
            ("192.168.1.0/31", "192.168.1.2", false),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "2001:db8::1", true),
            ("::/0", "1.2.3.4", false),
            ("::1/128", "::1", true),
            ("::1/128", "::2", false),
            ("2001:db8::/127", "2001:db8::1", true),
        ];
        for (net, addr, want) in cases {
            assert_eq!(cidr(net).contains(ip(addr)), *want, "{net} ∋ {addr}");
        }
        let c = Cidr::new(ip("10.9.8.7"), 16).expect("valid");
        assert_eq!((c.addr(), c.prefix()), (ip("10.9.0.0"), 16));
        assert_eq!(
            Cidr::new(ip("1.2.3.4"), 32).map(|c| c.addr()),
            Ok(ip("1.2.3.4"))
        );
        assert_eq!(
            Cidr::new(ip("1.2.3.4"), 33),
            Err(CidrError::PrefixTooLong {
                prefix: 33,
                max: 32
            })
        );
        assert!(Cidr::new(ip("::"), 128).is_ok());
        // A mapped prefix below 96 stays IPv6.
        assert_eq!(cidr("::ffff:0.0.0.0/95").to_string(), "::fffe:0:0/95");
    }

    #[test]
    fn bans_by_node_ip_and_subnet() {
        let mut l = BanList::new();
        l.ban(
            BanTarget::Node(node(1)),
            "spam",
            BanOrigin::Operator,
            T0,
            None,
        )
        .expect("room");
        l.ban(
            BanTarget::Ip(ip("1.2.3.4")),
            "flood",
            BanOrigin::Automatic,
            T0,
            Some(HOUR),
        )
        .expect("room");
        l.ban(
            BanTarget::Subnet(cidr("10.0.0.0/8")),
            "net",
            BanOrigin::Operator,
            T0,
            None,
        )
        .expect("room");
        l.ban(
            BanTarget::Subnet(cidr("10.1.0.0/16")),
            "sub",
            BanOrigin::Operator,
            T0,
            None,
        )
        .expect("room");
        assert_eq!(
            l.check_node(&node(1), T0).map(|b| b.reason.as_str()),
            Some("spam")
        );
        assert!(l.check_node(&node(2), T0).is_none());
        assert_eq!(
            l.check_ip(ip("1.2.3.4"), T0).map(|b| b.reason.as_str()),
            Some("flood")
        );
        assert_eq!(
            l.check_ip(ip("::ffff:1.2.3.4"), T0)
                .map(|b| b.reason.as_str()),
            Some("flood")
        );
        assert!(l.check_ip(ip("1.2.3.5"), T0).is_none());
        assert_eq!(
            l.check_ip(ip("10.1.2.3"), T0).map(|b| b.reason.as_str()),
            Some("sub")
        );
        assert_eq!(
            l.check_ip(ip("10.2.2.3"), T0).map(|b| b.reason.as_str()),
            Some("net")
        );
        // Unbanning an address inside a subnet does not lift the subnet.
        assert!(l.unban(&BanTarget::Ip(ip("10.2.2.3"))).is_none());
        assert!(l.unban(&BanTarget::Ip(ip("::ffff:1.2.3.4"))).is_some());
        assert!(l.check_ip(ip("1.2.3.4"), T0).is_none());
        let listed: Vec<String> = l.list(T0).map(|b| b.target.to_string()).collect();
        assert_eq!(
            listed,
            vec!["01".repeat(32), "10.0.0.0/8".into(), "10.1.0.0/16".into()]
        );
        // A v6 subnet ban.
        l.ban(
            BanTarget::Subnet(cidr("2001:db8::/32")),
            "",
            BanOrigin::Operator,
            T0,
            None,
        )
        .expect("room");
        assert!(l.check_ip(ip("2001:db8::42"), T0).is_some());
        assert!(l.check_ip(ip("2001:db9::42"), T0).is_none());
    }

    #[test]
    fn expiry_at_the_boundary_and_permanent_bans() {
        let mut l = BanList::new();
        let t = BanTarget::Ip(ip("1.2.3.4"));
        l.ban(t, "x", BanOrigin::Automatic, T0, Some(HOUR))
            .expect("room");
        l.ban(
            BanTarget::Node(node(9)),
            "forever",
            BanOrigin::Operator,
            T0,
            None,
        )
        .expect("room");
        let end = T0.plus(HOUR);
        assert_eq!(l.next_expiry(), Some(end));
        assert!(l.check_ip(ip("1.2.3.4"), UnixMillis(end.0 - 1)).is_some());
        assert!(l.check_ip(ip("1.2.3.4"), end).is_none());
        assert!(l.expire(UnixMillis(end.0 - 1)).is_empty());
        let gone = l.expire(end);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].target, t);
        assert_eq!(l.next_expiry(), None);
        let far = UnixMillis(u64::MAX);
        assert!(l.check_node(&node(9), far).is_some());
        assert!(l.expire(far).is_empty());
        assert_eq!(
            l.ban(t, "x", BanOrigin::Automatic, T0, Some(Duration::ZERO)),
            Err(BanError::ZeroDuration)
        );
    }

    #[test]
    fn reban_merges_and_never_shortens() {
        let mut l = BanList::new();
        let t = BanTarget::Node(node(3));
        l.ban(t, "first", BanOrigin::Operator, T0, Some(HOUR * 10))
            .expect("room");
        l.ban(t, "again", BanOrigin::Automatic, T0.plus(HOUR), Some(HOUR))
            .expect("room");
        let b = l
            .check_node(&node(3), T0.plus(HOUR))
            .expect("banned")
            .clone();
        assert_eq!(b.reason, "again");
        assert_eq!(b.origin, BanOrigin::Operator);
        assert_eq!(b.expires, Some(T0.plus(HOUR * 10)));
        assert_eq!(b.created, T0.plus(HOUR));
        l.ban(t, "perm", BanOrigin::Automatic, T0.plus(HOUR), None)
            .expect("room");
        assert_eq!(l.check_node(&node(3), T0).and_then(|b| b.expires), None);
        l.ban(t, "short", BanOrigin::Automatic, T0.plus(HOUR), Some(HOUR))
            .expect("room");
        assert_eq!(l.check_node(&node(3), T0).and_then(|b| b.expires), None);
        // An expired ban is replaced, not merged.
        let mut l = BanList::new();
        l.ban(t, "old", BanOrigin::Operator, T0, Some(HOUR))
            .expect("room");
        l.ban(
            t,
            "new",
            BanOrigin::Automatic,
            T0.plus(HOUR * 2),
            Some(HOUR),
        )
        .expect("room");
        let b = l.check_node(&node(3), T0.plus(HOUR * 2)).expect("banned");
        assert_eq!(
            (b.origin, b.expires),
            (BanOrigin::Automatic, Some(T0.plus(HOUR * 3)))
        );
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn reason_is_cut_on_a_char_boundary() {
        let mut l = BanList::new();
        let reason = "é".repeat(200); // 400 bytes
        l.ban(
            BanTarget::Node(node(1)),
            &reason,
            BanOrigin::Operator,
            T0,
            None,
        )
        .expect("room");
        let kept = &l.check_node(&node(1), T0).expect("banned").reason;
        assert_eq!(kept.len(), MAX_BAN_REASON_LEN);
        assert_eq!(kept.chars().count(), 128);
        let odd = format!("a{}", "é".repeat(200));
        l.ban(
            BanTarget::Node(node(2)),
            &odd,
            BanOrigin::Operator,
            T0,
            None,
        )
        .expect("room");
        assert_eq!(
            l.check_node(&node(2), T0).expect("banned").reason.len(),
            255
        );
        let exact = "b".repeat(MAX_BAN_REASON_LEN);
        l.ban(
            BanTarget::Node(node(3)),
            &exact,
            BanOrigin::Operator,
            T0,
            None,
        )
        .expect("room");
        assert_eq!(l.check_node(&node(3), T0).expect("banned").reason, exact);
    }

    fn v4(n: u32) -> BanTarget {
        BanTarget::Ip(IpAddr::V4(Ipv4Addr::from(n)))
    }

    #[test]
    fn bound_at_max_bans() {
        let mut l = BanList::new();
        for n in 0..MAX_BANS as u32 {
            let at = UnixMillis(T0.0 + u64::from(n));
            assert_eq!(
                l.ban(v4(n), "auto", BanOrigin::Automatic, at, None),
                Ok(None)
            );
        }
        assert_eq!(l.len(), MAX_BANS);
        // One more evicts the oldest automatic ban.
        let evicted = l.ban(v4(u32::MAX), "one more", BanOrigin::Operator, T0, None);
        assert_eq!(evicted.map(|e| e.map(|b| b.target)), Ok(Some(v4(0))));
        assert_eq!(l.len(), MAX_BANS);
        // Re-banning a held target needs no room.
        assert_eq!(
            l.ban(v4(5), "again", BanOrigin::Automatic, T0, None),
            Ok(None)
        );

        // Only operator bans: full.
        let mut l = BanList::new();
        for n in 0..MAX_BANS as u32 {
            l.ban(v4(n), "op", BanOrigin::Operator, T0, None)
                .expect("room");
        }
        assert_eq!(
            l.ban(v4(u32::MAX), "auto", BanOrigin::Automatic, T0, None),
            Err(BanError::ListFull)
        );
        assert_eq!(l.len(), MAX_BANS);
        // An expired operator ban makes room.
        l.unban(&v4(0));
        l.ban(v4(0), "short", BanOrigin::Operator, T0, Some(HOUR))
            .expect("room");
        let later = T0.plus(HOUR);
        let evicted = l.ban(v4(u32::MAX), "auto", BanOrigin::Automatic, later, None);
        assert_eq!(evicted.map(|e| e.map(|b| b.target)), Ok(Some(v4(0))));
    }

    #[test]
    fn records_and_restore() {
        let mut l = BanList::new();
        l.ban(
            BanTarget::Node(node(1)),
            "perm",
            BanOrigin::Operator,
            T0,
            None,
        )
        .expect("room");
        l.ban(v4(1), "hour", BanOrigin::Automatic, T0, Some(HOUR))
            .expect("room");
        l.ban(v4(2), "day", BanOrigin::Automatic, T0, Some(HOUR * 24))
            .expect("room");
        let saved = l.records();
        assert_eq!(saved.len(), 3);
        let json_like: Vec<String> = saved.iter().map(|b| b.target.to_string()).collect();
        assert_eq!(
            json_like,
            vec!["01".repeat(32), "0.0.0.1".into(), "0.0.0.2".into()]
        );
        let mut r = BanList::new();
        assert_eq!(r.restore(saved.clone(), T0.plus(HOUR)), 2);
        assert!(r.check_ip(ip("0.0.0.1"), T0).is_none());
        assert!(r.check_ip(ip("0.0.0.2"), T0.plus(HOUR)).is_some());
        // Mapped targets are canonicalised, long reasons cut.
        let odd = Ban {
            target: BanTarget::Ip(ip("::ffff:9.9.9.9")),
            reason: "z".repeat(1000),
            origin: BanOrigin::Automatic,
            created: T0,
            expires: None,
        };
        assert_eq!(r.restore([odd], T0), 1);
        let b = r.check_ip(ip("9.9.9.9"), T0).expect("restored");
        assert_eq!(b.reason.len(), MAX_BAN_REASON_LEN);
        // The bound holds on restore.
        let mut small = BanList::new();
        let many = (0..10u32).map(|n| Ban {
            target: v4(n),
            reason: String::new(),
            origin: BanOrigin::Operator,
            created: T0,
            expires: None,
        });
        assert_eq!(small.restore_bounded(many, T0, 4), 4);
        assert_eq!(small.len(), 4);
    }

    #[test]
    fn ban_target_serde_is_a_string() {
        let b = Ban {
            target: BanTarget::Subnet(cidr("10.0.0.0/8")),
            reason: "r".into(),
            origin: BanOrigin::Automatic,
            created: T0,
            expires: Some(T0.plus(HOUR)),
        };
        let mut bytes = Vec::new();
        ciborium::into_writer(&b, &mut bytes).expect("serialise");
        let back: Ban = ciborium::from_reader(bytes.as_slice()).expect("deserialise");
        assert_eq!(back, b);
        let s = ciborium::Value::serialized(&b.target).expect("value");
        assert_eq!(s, ciborium::Value::Text("10.0.0.0/8".into()));
        let bad = ciborium::Value::Text("nope".into());
        assert!(bad.deserialized::<BanTarget>().is_err());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Ban(u32, bool, Option<u64>),
        Unban(u32),
        Expire,
        Advance(u64),
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..24, any::<bool>(), proptest::option::of(1u64..10_000))
                .prop_map(|(n, op, d)| Op::Ban(n, op, d)),
            (0u32..24).prop_map(Op::Unban),
            Just(Op::Expire),
            (0u64..5_000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #[test]
        fn ban_list_never_exceeds_its_bound(ops in proptest::collection::vec(arb_op(), 1..300)) {
            const LIMIT: usize = 8;
            let mut l = BanList::new();
            let mut now = T0;
            for op in ops {
                match op {
                    Op::Ban(n, operator, d) => {
                        let origin = if operator { BanOrigin::Operator } else { BanOrigin::Automatic };
                        let ban = Ban {
                            target: v4(n),
                            reason: String::new(),
                            origin,
                            created: now,
                            expires: d.map(|ms| now.plus(Duration::from_millis(ms))),
                        };
                        let before = l.len();
                        match l.insert(ban, now, LIMIT) {
                            Ok(_) => prop_assert!(l.check_ip(IpAddr::V4(Ipv4Addr::from(n)), now).is_some()),
                            Err(e) => {
                                prop_assert_eq!(e, BanError::ListFull);
                                prop_assert_eq!(l.len(), before);
                                prop_assert!(l.list(now).all(|b| b.origin == BanOrigin::Operator));
                            }
                        }
                    }
                    Op::Unban(n) => { l.unban(&v4(n)); }
                    Op::Expire => {
                        l.expire(now);
                        prop_assert!(l.next_expiry().is_none_or(|e| e > now));
                    }
                    Op::Advance(ms) => now = now.plus(Duration::from_millis(ms)),
                }
                prop_assert!(l.len() <= LIMIT);
                prop_assert!(l.list(now).all(|b| b.is_active(now)));
            }
        }
    }
}
