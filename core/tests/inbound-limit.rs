//! The per-netgroup limit on inbound connection attempts (`qudag_peer::inbound_limit`): the
//! burst, the refill, the table bound and pruning, each at its limit. (Integration tests: the
//! core itself never reads a clock; these take one base instant and pass times in.)

use qudag_peer::addr::netgroup;
use qudag_peer::inbound_limit::{InboundLimiter, INBOUND_NETGROUP_BURST, INBOUND_NETGROUP_REFILL};
use qudag_peer::NetGroup;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

fn g(a: u8, b: u8) -> NetGroup {
    netgroup(IpAddr::V4(Ipv4Addr::new(a, b, 7, 9)))
}

#[test]
fn a_netgroup_gets_its_burst_then_one_per_refill() {
    let t0 = Instant::now();
    let mut l = InboundLimiter::default();
    for _ in 0..INBOUND_NETGROUP_BURST {
        assert!(l.try_acquire(g(20, 1), t0));
    }
    assert!(!l.try_acquire(g(20, 1), t0), "one over the burst");
    assert!(!l.try_acquire(g(20, 1), t0 + INBOUND_NETGROUP_REFILL / 2));
    // Another netgroup is not affected.
    assert!(l.try_acquire(g(20, 2), t0));
    // Another address in the same /16 is the same netgroup.
    assert!(!l.try_acquire(netgroup("20.1.200.1".parse().unwrap()), t0));
    // One token per refill period, the remainder of a period kept.
    let t1 = t0 + INBOUND_NETGROUP_REFILL;
    assert!(l.try_acquire(g(20, 1), t1));
    assert!(!l.try_acquire(g(20, 1), t1));
    let t2 = t1 + INBOUND_NETGROUP_REFILL * 3 + INBOUND_NETGROUP_REFILL / 2;
    assert_eq!(l.tokens(&g(20, 1), t2), 3);
    assert_eq!(l.tokens(&g(20, 1), t2 + INBOUND_NETGROUP_REFILL / 2), 4);
    // Never more than the burst.
    assert_eq!(
        l.tokens(&g(20, 1), t0 + Duration::from_secs(100_000)),
        INBOUND_NETGROUP_BURST
    );
}

#[test]
fn loopback_addresses_are_separate_netgroups() {
    let t0 = Instant::now();
    let mut l = InboundLimiter::new(1, Duration::from_secs(1), 16);
    assert!(l.try_acquire(netgroup("127.0.0.1".parse().unwrap()), t0));
    assert!(!l.try_acquire(netgroup("127.0.0.1".parse().unwrap()), t0));
    assert!(l.try_acquire(netgroup("127.0.0.2".parse().unwrap()), t0));
    assert!(l.try_acquire(netgroup("::1".parse().unwrap()), t0));
}

#[test]
fn the_table_is_bounded_and_keeps_the_limited_netgroups() {
    let t0 = Instant::now();
    let mut l = InboundLimiter::new(2, Duration::from_secs(1), 4);
    // An attacker netgroup with no tokens left.
    assert!(l.try_acquire(g(30, 0), t0));
    assert!(l.try_acquire(g(30, 0), t0));
    assert!(!l.try_acquire(g(30, 0), t0));
    // Many other netgroups, one attempt each: the table never exceeds its bound, and the
    // exhausted netgroup is never the one forgotten.
    for i in 0..200u8 {
        assert!(l.try_acquire(g(40, i), t0));
        assert!(l.tracked() <= 4);
        assert!(!l.try_acquire(g(30, 0), t0), "forgotten at {i}");
    }
    // At the bound exactly: four netgroups tracked.
    assert_eq!(l.tracked(), 4);
    // Refilled buckets are pruned.
    l.prune(t0 + Duration::from_secs(2));
    assert_eq!(l.tracked(), 0);
}

#[test]
fn prune_keeps_partial_buckets() {
    let t0 = Instant::now();
    let mut l = InboundLimiter::new(3, Duration::from_secs(1), 8);
    for _ in 0..3 {
        assert!(l.try_acquire(g(50, 0), t0));
    }
    l.prune(t0 + Duration::from_secs(2));
    assert_eq!(l.tracked(), 1, "two tokens of three: still limited");
    assert_eq!(l.tokens(&g(50, 0), t0 + Duration::from_secs(2)), 2);
    l.prune(t0 + Duration::from_secs(3));
    assert_eq!(l.tracked(), 0);
    // Time going backwards (a caller's mistake) does not panic or mint tokens.
    assert!(l.try_acquire(g(50, 0), t0 + Duration::from_secs(3)));
    assert_eq!(l.tokens(&g(50, 0), t0), 2);
}
