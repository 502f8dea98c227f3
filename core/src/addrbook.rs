//! The address book: every address the node knows, where it came from, and how dialing it went.
//!
//! What it decides:
//! - **Admission.** An address enters with its [`Source`]. Addresses from peers (PEX) and DNS
//!   seeds are counted per *source group* — the netgroup of the PEX peer (not its node id, which
//!   costs an attacker nothing to multiply) or the seed name — and one source group may hold at
//!   most [`MAX_SOURCE_SHARE_PERCENT`] % of the book's capacity. This is the eclipse defence: a
//!   hostile peer (or a Sybil swarm in one netgroup) flooding fake addresses fills at most its
//!   share, never the book.
//! - **Eviction.** When full, a new address replaces the least valuable of
//!   [`EVICTION_SAMPLE`] entries sampled with the seeded RNG: never-successful before proven,
//!   more failed attempts before fewer, older before newer. Operator, config and bootstrap
//!   entries are not evicted by peer-sourced ones.
//! - **Selection.** Dial candidates are drawn at random (seeded), preferring proven addresses
//!   (2 draws in 3 when both kinds exist), skipping addresses in exponential back-off after
//!   failures, and spreading across netgroups: at most one outbound connection per netgroup,
//!   loopback addresses exempt (each is its own netgroup anyway).
//!
//! Limits: [`MAX_ADDRBOOK_ENTRIES`] entries (configurable down for tests), per-source share as
//! above. Storage is a `Vec` plus a `HashMap` index used only for lookups (never iterated), so
//! the order of everything observable depends only on the inputs and the seed.

use crate::addr::{NetGroup, PeerAddress};
use crate::id::NodeId;
use crate::rng::Rng;
use crate::time::UnixMillis;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// Most addresses the book holds.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_ADDRBOOK_ENTRIES: usize = 20_000;
/// Most of the book one PEX source group or DNS seed may fill, in percent of the capacity.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_SOURCE_SHARE_PERCENT: usize = 10;
/// Entries sampled to choose an eviction victim.
pub(crate) const EVICTION_SAMPLE: usize = 16;
/// Back-off after the first failure; doubles with each further consecutive failure.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// The longest back-off.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(24 * 3600);
/// An address neither mentioned by a source nor successfully dialed for this long is forgotten
/// (config, bootstrap and operator entries excepted).
pub(crate) const ADDR_MAX_AGE: Duration = Duration::from_secs(30 * 86_400);

/// Consecutive failures after which a never-successful peer-sourced address is forgotten.
pub(crate) const MAX_FAILURES_UNPROVEN: u32 = 5;

/// Where an address was learned.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case", tag = "kind", content = "from")]
#[non_exhaustive]
pub enum Source {
    /// The configuration file's `bootstrap_nodes`.
    Config,
    /// The hard-coded bootstrap list.
    Bootstrap,
    /// A DNS seed's TXT record (the seed's name).
    DnsSeed(String),
    /// A `Peers` answer from a peer: its node id and the netgroup it connected from.
    Pex {
        /// The peer that sent it.
        peer: NodeId,
        /// Its netgroup, which the share limit counts by.
        group: String,
    },
    /// An operator's `peer add`.
    Operator,
    /// A verified peer's advertised listen address.
    Handshake,
}

impl Source {
    /// The key the share limit counts by, or `None` for trusted sources (unlimited).
    fn share_key(&self) -> Option<String> {
        match self {
            Source::DnsSeed(name) => Some(format!("dns:{name}")),
            Source::Pex { group, .. } => Some(format!("pex:{group}")),
            _ => None,
        }
    }

    /// Config, bootstrap and operator entries are not evicted to make room for others.
    fn is_protected(&self) -> bool {
        matches!(self, Source::Config | Source::Bootstrap | Source::Operator)
    }
}

/// One known address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Entry {
    /// The address (with a pinned id if it came with one).
    pub addr: PeerAddress,
    /// Where it was first learned.
    pub source: Source,
    /// When it was first learned.
    pub first_seen: UnixMillis,
    /// When a source last mentioned it.
    pub last_seen: UnixMillis,
    /// When it was last dialed.
    pub last_attempt: Option<UnixMillis>,
    /// Consecutive failed dials since the last success.
    pub failures: u32,
    /// When a dial to it last completed a handshake.
    pub last_success: Option<UnixMillis>,
    /// The node id proven there, if any.
    pub node_id: Option<NodeId>,
}

impl Entry {
    /// When the next dial may happen.
    pub fn retry_at(&self) -> UnixMillis {
        match (self.last_attempt, self.failures) {
            (Some(at), f) if f > 0 => {
                let shift = (f - 1).min(20);
                let backoff = BACKOFF_BASE.saturating_mul(1 << shift).min(BACKOFF_MAX);
                at.plus(backoff)
            }
            _ => UnixMillis(0),
        }
    }

    fn proven(&self) -> bool {
        self.last_success.is_some()
    }

    /// Lower is evicted first.
    fn keep_rank(&self) -> (bool, bool, std::cmp::Reverse<u32>, UnixMillis) {
        (
            self.source.is_protected(),
            self.proven(),
            std::cmp::Reverse(self.failures),
            self.last_seen,
        )
    }
}

/// What [`AddrBook::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddOutcome {
    /// A new entry.
    Added,
    /// Already known: `last_seen` refreshed.
    Refreshed,
    /// The source group has used its share of the book.
    SourceShareFull,
    /// The book is full of entries that rank above the newcomer.
    BookFull,
}

/// The address book.
#[derive(Debug)]
pub struct AddrBook {
    capacity: usize,
    entries: Vec<Entry>,
    index: HashMap<PeerAddress, usize>,
    per_source: BTreeMap<String, usize>,
}

impl AddrBook {
    /// An empty book holding at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> AddrBook {
        AddrBook {
            capacity: capacity.max(1),
            entries: Vec::new(),
            index: HashMap::new(),
            per_source: BTreeMap::new(),
        }
    }

    /// The most entries one source group may hold.
    pub fn source_cap(&self) -> usize {
        (self.capacity * MAX_SOURCE_SHARE_PERCENT / 100).max(1)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries the source group of `source` holds.
    pub fn source_count(&self, source: &Source) -> usize {
        source
            .share_key()
            .and_then(|k| self.per_source.get(&k).copied())
            .unwrap_or(0)
    }

    fn key(addr: &PeerAddress) -> PeerAddress {
        addr.without_id()
    }

    /// The entry for an address (the pinned id is ignored for lookup).
    pub fn get(&self, addr: &PeerAddress) -> Option<&Entry> {
        self.index.get(&Self::key(addr)).map(|&i| &self.entries[i])
    }

    fn get_mut(&mut self, addr: &PeerAddress) -> Option<&mut Entry> {
        let i = *self.index.get(&Self::key(addr))?;
        Some(&mut self.entries[i])
    }

    /// Every entry, in book order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Learns `addr` from `source`.
    pub fn add(
        &mut self,
        addr: PeerAddress,
        source: Source,
        now: UnixMillis,
        rng: &mut Rng,
    ) -> AddOutcome {
        if let Some(e) = self.get_mut(&addr) {
            e.last_seen = e.last_seen.max(now);
            if e.addr.expected_id.is_none() && addr.expected_id.is_some() {
                e.addr.expected_id = addr.expected_id;
            }
            // A trusted source vouching for an address lifts it out of a peer's share.
            if source.is_protected() && !e.source.is_protected() {
                let old = std::mem::replace(&mut e.source, source);
                self.uncount(&old);
            }
            return AddOutcome::Refreshed;
        }
        if let Some(k) = source.share_key() {
            if self.per_source.get(&k).copied().unwrap_or(0) >= self.source_cap() {
                return AddOutcome::SourceShareFull;
            }
        }
        let entry = Entry {
            addr: addr.clone(),
            source,
            first_seen: now,
            last_seen: now,
            last_attempt: None,
            failures: 0,
            last_success: None,
            node_id: addr.expected_id,
        };
        if self.entries.len() >= self.capacity && !self.evict_for(&entry, rng) {
            return AddOutcome::BookFull;
        }
        self.insert(entry);
        AddOutcome::Added
    }

    fn insert(&mut self, e: Entry) {
        if let Some(k) = e.source.share_key() {
            *self.per_source.entry(k).or_insert(0) += 1;
        }
        self.index.insert(Self::key(&e.addr), self.entries.len());
        self.entries.push(e);
    }

    fn uncount(&mut self, source: &Source) {
        if let Some(k) = source.share_key() {
            if let Some(n) = self.per_source.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.per_source.remove(&k);
                }
            }
        }
    }

    /// Removes an address; returns its entry.
    pub fn remove(&mut self, addr: &PeerAddress) -> Option<Entry> {
        let i = self.index.remove(&Self::key(addr))?;
        let e = self.entries.swap_remove(i);
        if i < self.entries.len() {
            let moved = Self::key(&self.entries[i].addr);
            self.index.insert(moved, i);
        }
        self.uncount(&e.source);
        Some(e)
    }

    /// Evicts the weakest of a random sample if it ranks below `newcomer`.
    fn evict_for(&mut self, newcomer: &Entry, rng: &mut Rng) -> bool {
        let n = self.entries.len();
        let mut victim: Option<usize> = None;
        for _ in 0..EVICTION_SAMPLE.min(n) {
            let i = rng.below(n);
            if victim.is_none_or(|v| self.entries[i].keep_rank() < self.entries[v].keep_rank()) {
                victim = Some(i);
            }
        }
        let Some(v) = victim else { return false };
        if self.entries[v].keep_rank() >= newcomer.keep_rank() && !newcomer.source.is_protected() {
            return false;
        }
        if self.entries[v].source.is_protected() && !newcomer.source.is_protected() {
            return false;
        }
        let addr = self.entries[v].addr.clone();
        self.remove(&addr);
        true
    }

    /// Records a dial attempt.
    pub fn mark_attempt(&mut self, addr: &PeerAddress, now: UnixMillis) {
        if let Some(e) = self.get_mut(addr) {
            e.last_attempt = Some(now);
        }
    }

    /// Records a completed handshake with `node_id` at `addr`.
    pub fn mark_success(&mut self, addr: &PeerAddress, node_id: NodeId, now: UnixMillis) {
        if let Some(e) = self.get_mut(addr) {
            e.failures = 0;
            e.last_success = Some(now);
            e.last_seen = e.last_seen.max(now);
            e.node_id = Some(node_id);
        }
    }

    /// Records a failed dial. A peer-sourced address that never worked is forgotten after
    /// [`MAX_FAILURES_UNPROVEN`] failures.
    pub fn mark_failure(&mut self, addr: &PeerAddress, now: UnixMillis) {
        let forget = match self.get_mut(addr) {
            Some(e) => {
                e.failures = e.failures.saturating_add(1);
                e.last_attempt = Some(now);
                !e.proven() && e.source.share_key().is_some() && e.failures >= MAX_FAILURES_UNPROVEN
            }
            None => false,
        };
        if forget {
            self.remove(addr);
        }
    }

    /// Up to `n` addresses to dial now: not in back-off, not `skip`ped, in a netgroup not in
    /// `used_groups` (loopback exempt), preferring proven addresses.
    pub fn select(
        &self,
        n: usize,
        now: UnixMillis,
        rng: &mut Rng,
        used_groups: &BTreeSet<NetGroup>,
        skip: impl Fn(&Entry) -> bool,
    ) -> Vec<PeerAddress> {
        self.select_inner(n, now, rng, used_groups, skip, |_| true, false)
    }

    /// Like [`AddrBook::select`], drawing from entries that satisfy `prefer` before the others
    /// (within the proven and the untried alike). The node prefers untried addresses whose
    /// source is still connected: the leftovers of peers that lied and left sink to the bottom.
    pub fn select_preferring(
        &self,
        n: usize,
        now: UnixMillis,
        rng: &mut Rng,
        used_groups: &BTreeSet<NetGroup>,
        skip: impl Fn(&Entry) -> bool,
        prefer: impl Fn(&Entry) -> bool,
    ) -> Vec<PeerAddress> {
        self.select_inner(n, now, rng, used_groups, skip, prefer, false)
    }

    /// Like [`AddrBook::select`], but only proven addresses and configured bootstrap nodes,
    /// ignoring their back-off: the last resort of a node below
    /// `min_connections` with nothing else to dial (after a network fault every address it knows
    /// may be backing off for minutes; at start the bootstrap node may not be up yet).
    pub fn select_proven_ignoring_backoff(
        &self,
        n: usize,
        now: UnixMillis,
        rng: &mut Rng,
        used_groups: &BTreeSet<NetGroup>,
        skip: impl Fn(&Entry) -> bool,
    ) -> Vec<PeerAddress> {
        self.select_inner(n, now, rng, used_groups, skip, |_| true, true)
    }

    #[allow(clippy::too_many_arguments)] // private; the public wrappers keep call sites short
    fn select_inner(
        &self,
        n: usize,
        now: UnixMillis,
        rng: &mut Rng,
        used_groups: &BTreeSet<NetGroup>,
        skip: impl Fn(&Entry) -> bool,
        prefer: impl Fn(&Entry) -> bool,
        last_resort: bool,
    ) -> Vec<PeerAddress> {
        let mut proven: Vec<usize> = Vec::new();
        let mut fresh: Vec<usize> = Vec::new();
        let (mut proven_later, mut fresh_later): (Vec<usize>, Vec<usize>) =
            (Vec::new(), Vec::new());
        for (i, e) in self.entries.iter().enumerate() {
            let waiting = e.retry_at() > now;
            if skip(e)
                || (last_resort
                    && !(e.proven() || matches!(e.source, Source::Config | Source::Bootstrap)))
                || (!last_resort && waiting)
            {
                continue;
            }
            match (e.proven(), prefer(e)) {
                (true, true) => proven.push(i),
                (true, false) => proven_later.push(i),
                (false, true) => fresh.push(i),
                (false, false) => fresh_later.push(i),
            }
        }
        let mut out = self.draw(n, rng, used_groups, proven, fresh);
        if out.len() < n {
            let mut used: BTreeSet<NetGroup> = used_groups.clone();
            used.extend(out.iter().map(|a| a.netgroup()));
            out.extend(self.draw(n - out.len(), rng, &used, proven_later, fresh_later));
        }
        out
    }

    fn draw(
        &self,
        n: usize,
        rng: &mut Rng,
        used_groups: &BTreeSet<NetGroup>,
        mut proven: Vec<usize>,
        mut fresh: Vec<usize>,
    ) -> Vec<PeerAddress> {
        let mut groups = used_groups.clone();
        let mut out = Vec::new();
        while out.len() < n && !(proven.is_empty() && fresh.is_empty()) {
            let from_proven = !proven.is_empty() && (fresh.is_empty() || rng.below(3) < 2);
            let bucket = if from_proven { &mut proven } else { &mut fresh };
            let i = bucket.swap_remove(rng.below(bucket.len()));
            let e = &self.entries[i];
            let g = e.addr.netgroup();
            if !g.is_loopback() && groups.contains(&g) {
                continue;
            }
            groups.insert(g);
            out.push(e.addr.clone());
        }
        out
    }

    /// Up to `n` addresses to share with a peer: a random sample of entries that are not
    /// failing, filtered by `keep`.
    ///
    /// Entries are drawn in random order (a Fisher–Yates shuffle done only as far as needed)
    /// and `keep` runs on each drawn entry until `n` are kept, so it runs about `n` times, not
    /// once per entry: the node's filter looks up bans and reputation, and running it over a
    /// full 20,000-entry book made every `GetPeers` answer cost milliseconds (found by the
    /// real-socket benchmark: handshakes per second fell with every connected peer).
    pub fn sample(
        &self,
        n: usize,
        rng: &mut Rng,
        keep: impl Fn(&Entry) -> bool,
    ) -> Vec<PeerAddress> {
        let mut idx: Vec<usize> = (0..self.entries.len()).collect();
        let mut out = Vec::with_capacity(n.min(idx.len()));
        for k in 0..idx.len() {
            if out.len() >= n {
                break;
            }
            let j = k + rng.below(idx.len() - k);
            idx.swap(k, j);
            let e = &self.entries[idx[k]];
            if e.failures == 0 && keep(e) {
                out.push(e.addr.clone());
            }
        }
        out
    }

    /// Forgets stale entries: not protected, and neither seen nor successfully dialed within
    /// [`ADDR_MAX_AGE`] of `now`. Returns how many were removed.
    pub fn age(&mut self, now: UnixMillis) -> usize {
        let stale: Vec<PeerAddress> = self
            .entries
            .iter()
            .filter(|e| {
                let fresh = |t: UnixMillis| now.since(t) < ADDR_MAX_AGE;
                !e.source.is_protected()
                    && !fresh(e.last_seen)
                    && !e.last_success.is_some_and(fresh)
            })
            .map(|e| e.addr.clone())
            .collect();
        for a in &stale {
            self.remove(a);
        }
        stale.len()
    }

    /// Plain records for the peer database.
    pub fn records(&self) -> Vec<Entry> {
        self.entries.clone()
    }

    /// Loads records (e.g. at start), keeping the book's bounds: records beyond the capacity or
    /// a source's share are dropped.
    pub fn restore(&mut self, records: Vec<Entry>) {
        for e in records {
            if self.entries.len() >= self.capacity || self.index.contains_key(&Self::key(&e.addr)) {
                continue;
            }
            if let Some(k) = e.source.share_key() {
                if self.per_source.get(&k).copied().unwrap_or(0) >= self.source_cap() {
                    continue;
                }
            }
            self.insert(e);
        }
    }

    /// Checks the bounds and the index; returns the first broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.entries.len() > self.capacity {
            return Err(format!(
                "address book holds {} > {}",
                self.entries.len(),
                self.capacity
            ));
        }
        if self.index.len() != self.entries.len() {
            return Err("address book index out of sync".into());
        }
        for (k, &n) in &self.per_source {
            if n > self.source_cap() {
                return Err(format!("source {k} holds {n} > {}", self.source_cap()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> PeerAddress {
        PeerAddress::parse(s).unwrap()
    }

    fn pex(group: &str) -> Source {
        Source::Pex {
            peer: NodeId([1; 32]),
            group: group.into(),
        }
    }

    #[test]
    fn one_source_cannot_fill_the_book() {
        let mut b = AddrBook::new(1000);
        let mut rng = Rng::from_seed([0; 32]);
        let mut added = 0;
        for i in 0..5000u32 {
            let addr = a(&format!(
                "{}.{}.{}.1:8000",
                1 + i / 65536 % 200,
                i / 256 % 256,
                i % 256
            ));
            if b.add(addr, pex("6.6.0.0/16"), UnixMillis(1), &mut rng) == AddOutcome::Added {
                added += 1;
            }
        }
        assert_eq!(added, b.source_cap());
        assert_eq!(b.source_cap(), 100);
        assert_eq!(b.source_count(&pex("6.6.0.0/16")), 100);
        // Other sources still get in.
        assert_eq!(
            b.add(
                a("9.9.9.9:8000"),
                pex("7.7.0.0/16"),
                UnixMillis(1),
                &mut rng
            ),
            AddOutcome::Added
        );
        b.check_invariants().unwrap();
    }

    #[test]
    fn full_book_evicts_the_weakest_and_keeps_protected() {
        let mut b = AddrBook::new(10);
        let mut rng = Rng::from_seed([1; 32]);
        for i in 0..10 {
            b.add(
                a(&format!("10.0.{i}.1:8000")),
                Source::Operator,
                UnixMillis(1),
                &mut rng,
            );
        }
        assert_eq!(
            b.add(a("11.0.0.1:8000"), pex("g"), UnixMillis(2), &mut rng),
            AddOutcome::BookFull
        );
        assert_eq!(b.len(), 10);
        let mut b = AddrBook::new(10);
        for i in 0..10 {
            b.add(
                a(&format!("10.0.{i}.1:8000")),
                pex(&format!("g{i}")),
                UnixMillis(1),
                &mut rng,
            );
            b.mark_failure(&a(&format!("10.0.{i}.1:8000")), UnixMillis(1));
        }
        assert_eq!(
            b.add(
                a("11.0.0.1:8000"),
                Source::Operator,
                UnixMillis(2),
                &mut rng
            ),
            AddOutcome::Added
        );
        assert_eq!(b.len(), 10);
        assert!(b.get(&a("11.0.0.1:8000")).is_some());
        b.check_invariants().unwrap();
    }

    #[test]
    fn backoff_doubles_and_selection_spreads_netgroups() {
        let mut b = AddrBook::new(100);
        let mut rng = Rng::from_seed([2; 32]);
        let x = a("8.8.1.1:8000");
        b.add(x.clone(), Source::Config, UnixMillis(0), &mut rng);
        b.mark_failure(&x, UnixMillis(1000));
        assert_eq!(b.get(&x).unwrap().retry_at(), UnixMillis(31_000));
        b.mark_failure(&x, UnixMillis(31_000));
        assert_eq!(b.get(&x).unwrap().retry_at(), UnixMillis(91_000));
        assert!(b
            .select(5, UnixMillis(90_000), &mut rng, &BTreeSet::new(), |_| false)
            .is_empty());
        assert_eq!(
            b.select(5, UnixMillis(91_000), &mut rng, &BTreeSet::new(), |_| false),
            vec![x.clone()]
        );
        // Same /16: only one selected; loopback: all.
        b.add(a("8.8.2.2:8000"), Source::Config, UnixMillis(0), &mut rng);
        b.add(a("127.0.0.2:8000"), Source::Config, UnixMillis(0), &mut rng);
        b.add(a("127.0.0.3:8000"), Source::Config, UnixMillis(0), &mut rng);
        let s = b.select(10, UnixMillis(200_000), &mut rng, &BTreeSet::new(), |_| {
            false
        });
        assert_eq!(s.len(), 3, "{s:?}");
        let used: BTreeSet<NetGroup> = [a("8.8.9.9:1").netgroup()].into();
        let s = b.select(10, UnixMillis(200_000), &mut rng, &used, |_| false);
        assert_eq!(s.len(), 2, "{s:?}");
    }

    #[test]
    fn stale_entries_age_out_but_protected_and_recent_stay() {
        let mut b = AddrBook::new(100);
        let mut rng = Rng::from_seed([4; 32]);
        let day = 86_400_000;
        b.add(a("8.8.1.1:8000"), pex("g"), UnixMillis(0), &mut rng);
        b.add(a("8.8.2.2:8000"), Source::Operator, UnixMillis(0), &mut rng);
        b.add(a("8.8.3.3:8000"), pex("g"), UnixMillis(0), &mut rng);
        b.mark_success(&a("8.8.3.3:8000"), NodeId([3; 32]), UnixMillis(20 * day));
        assert_eq!(b.age(UnixMillis(30 * day - 1)), 0, "not yet 30 days");
        assert_eq!(b.age(UnixMillis(30 * day)), 1);
        assert!(b.get(&a("8.8.1.1:8000")).is_none());
        assert!(b.get(&a("8.8.2.2:8000")).is_some(), "operator entries stay");
        assert!(
            b.get(&a("8.8.3.3:8000")).is_some(),
            "recently successful stays"
        );
        b.check_invariants().unwrap();
    }

    proptest::proptest! {
        #[test]
        fn random_adds_never_break_the_bounds(ops in proptest::collection::vec((0u8..6, 0u32..400, 0u8..4), 0..600)) {
            let mut b = AddrBook::new(50);
            let mut rng = Rng::from_seed([5; 32]);
            for (i, (src, host, what)) in ops.into_iter().enumerate() {
                let addr = a(&format!("{}.{}.0.1:8000", 1 + host / 200, host % 200));
                let source = match src {
                    0 => Source::Operator,
                    1 => Source::Config,
                    2 => Source::DnsSeed("s".into()),
                    _ => pex(&format!("g{src}")),
                };
                let now = UnixMillis(i as u64 * 1000);
                match what {
                    0 | 1 => { b.add(addr, source, now, &mut rng); }
                    2 => b.mark_failure(&addr, now),
                    _ => b.mark_success(&addr, NodeId([1; 32]), now),
                }
                proptest::prop_assert!(b.check_invariants().is_ok(), "{:?}", b.check_invariants());
            }
        }
    }

    #[test]
    fn unproven_peer_addresses_are_forgotten_after_failures() {
        let mut b = AddrBook::new(100);
        let mut rng = Rng::from_seed([3; 32]);
        let x = a("8.8.1.1:8000");
        b.add(x.clone(), pex("g"), UnixMillis(0), &mut rng);
        for t in 0..MAX_FAILURES_UNPROVEN {
            assert!(b.get(&x).is_some());
            b.mark_failure(&x, UnixMillis(t as u64));
        }
        assert!(b.get(&x).is_none());
        assert_eq!(b.source_count(&pex("g")), 0);
    }

    #[test]
    fn sample_filters_only_what_it_draws() {
        let mut b = AddrBook::new(2000);
        let mut rng = Rng::from_seed([4; 32]);
        for i in 0..1000u32 {
            let addr = a(&format!("{}.{}.{}.1:8000", 1 + i / 50, i % 50, i % 7));
            b.add(addr, pex(&format!("g{}", i % 20)), UnixMillis(1), &mut rng);
        }
        assert_eq!(b.len(), 1000);
        let calls = std::cell::Cell::new(0);
        let got = b.sample(10, &mut rng, |_| {
            calls.set(calls.get() + 1);
            true
        });
        assert_eq!((got.len(), calls.get()), (10, 10));
        let distinct: std::collections::BTreeSet<String> =
            got.iter().map(|a| a.to_string()).collect();
        assert_eq!(distinct.len(), 10);
        // A filter keeping a few: every kept entry is found, nothing else.
        let keep = |e: &Entry| e.addr.port == 8000 && e.addr.to_string().starts_with("2.");
        let all = b.sample(usize::MAX, &mut rng, keep);
        let expected = b.entries.iter().filter(|e| keep(e)).count();
        assert_eq!(all.len(), expected);
        assert!(expected > 0 && all.iter().all(|a| a.to_string().starts_with("2.")));
        assert!(b.sample(0, &mut rng, |_| true).is_empty());
    }
}
