use super::*;
use crate::config::ReputationConfig;
use crate::id::NodeId;
use crate::time::UnixMillis;
use proptest::prelude::*;

const DAY: u64 = 86_400_000;
const T0: UnixMillis = UnixMillis(1_700_000_000_000);

fn id(n: u32) -> NodeId {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    NodeId(b)
}

fn table() -> ReputationTable {
    ReputationTable::new(&ReputationConfig::default())
}

fn at(ms: u64) -> UnixMillis {
    UnixMillis(T0.0 + ms)
}

#[test]
fn test_reputation_calculation() {
    // (reports, expected score) from a neutral peer, all at T0.
    let n = |r: Report, k: usize| vec![r; k];
    let cases: Vec<(&str, Vec<Report>, ReputationScore)> = vec![
        ("nothing", vec![], ReputationScore::NEUTRAL),
        (
            // validity 50 → 51 → ... : 100 - 50·0.98^10 = 59.15 → 59; total (350+177)/10
            "10 valid messages",
            n(Report::ValidMessage, 10),
            ReputationScore {
                total: 53,
                validity: 59,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            "one invalid message",
            n(Report::InvalidMessage, 1),
            ReputationScore {
                total: 44,
                validity: 40,
                penalty: 3,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            "one bad frame",
            vec![Report::ProtocolViolation(Violation::BadFrame)],
            // (350 + 3·25)/10 − 10 = 32.5 → 33
            ReputationScore {
                total: 33,
                validity: 25,
                penalty: 10,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            "latency 50ms",
            vec![Report::Latency(Duration::from_millis(50))],
            ReputationScore {
                total: 60,
                latency: 100,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            "latency 1s",
            vec![Report::Latency(Duration::from_secs(1))],
            ReputationScore {
                total: 40,
                latency: 0,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            // 525ms: (1000 − 525)/950 = 50
            "latency 525ms",
            vec![Report::Latency(Duration::from_millis(525))],
            ReputationScore::NEUTRAL,
        ),
        (
            // mean 50 → 106.25, deviation 0 → 112.5: effective 331.25 → 70.39 → 70
            "jitter 50ms then 500ms",
            vec![
                Report::Latency(Duration::from_millis(50)),
                Report::Latency(Duration::from_millis(500)),
            ],
            ReputationScore {
                total: 54,
                latency: 70,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            // consensus 50 → 52.5 → 53: (400 + 106)/10 = 50.6 → 51
            "consensus participation",
            vec![Report::ConsensusParticipation],
            ReputationScore {
                total: 51,
                consensus: 53,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            // consensus 25, penalty 5: (400 + 50)/10 − 5 = 40
            "consensus violation",
            vec![Report::ConsensusViolation],
            ReputationScore {
                total: 40,
                consensus: 25,
                penalty: 5,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            // relay 50 → 100 − 50·0.98^25 = 69.8 → 70: (450 + 70)/10 = 52
            "25 relays",
            n(Report::RelaySuccess, 25),
            ReputationScore {
                total: 52,
                relay: 70,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            "relay failure",
            vec![Report::RelayFailure],
            ReputationScore {
                total: 50,
                relay: 45,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            // uptime 50 · 0.85 = 42.5 → 43: (400 + 86)/10 = 48.6 → 49
            "unclean disconnect",
            vec![
                Report::Connected,
                Report::Disconnected(DisconnectKind::Unclean),
            ],
            ReputationScore {
                total: 49,
                uptime: 43,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            "clean disconnect",
            vec![
                Report::Connected,
                Report::Disconnected(DisconnectKind::Clean),
            ],
            ReputationScore {
                total: 50,
                uptime: 49,
                ..ReputationScore::NEUTRAL
            },
        ),
        (
            "local disconnect",
            vec![
                Report::Connected,
                Report::Disconnected(DisconnectKind::Local),
            ],
            ReputationScore::NEUTRAL,
        ),
    ];
    for (name, reports, want) in cases {
        let mut t = table();
        let mut got = ReputationScore::NEUTRAL;
        for r in reports {
            got = t.report(id(1), r, T0);
        }
        assert_eq!(got, want, "{name}");
        assert_eq!(t.score(&id(1), T0), want, "{name} (read back)");
    }

    // The weighted total on its own, straight from a state.
    let s = ReputationState {
        uptime: 100.0,
        latency: 80.0,
        validity: 60.0,
        consensus: 40.0,
        relay: 20.0,
        penalty: 0.0,
    };
    // 20 + 16 + 18 + 8 + 2 = 64
    assert_eq!(s.score().total, 64);
    assert_eq!(ReputationState { penalty: 70.0, ..s }.score().total, 0);
    assert_eq!(
        ReputationState {
            uptime: 100.0,
            ..ReputationState::NEUTRAL
        }
        .score()
        .total,
        60
    );
    // Every component at 100: total 100.
    let top = ReputationState {
        uptime: 100.0,
        latency: 100.0,
        validity: 100.0,
        consensus: 100.0,
        relay: 100.0,
        penalty: 0.0,
    };
    assert_eq!(top.score().total, MAX_SCORE);
}

#[test]
fn uptime_climbs_while_connected() {
    let mut t = table();
    t.report(id(1), Report::Connected, T0);
    assert!(t.is_connected(&id(1)));
    let half_life = UPTIME_HALF_LIFE.as_millis() as u64;
    assert_eq!(t.score(&id(1), at(half_life)).uptime, 75);
    assert_eq!(t.score(&id(1), at(2 * half_life)).uptime, 88); // 87.5 rounds up
    let s = t.report(
        id(1),
        Report::Disconnected(DisconnectKind::Clean),
        at(2 * half_life),
    );
    assert_eq!(s.uptime, 86); // 87.5 · 0.98 = 85.75
    let h: Vec<_> = t.history(&id(1)).map(|c| (c.component, c.reason)).collect();
    assert_eq!(
        h,
        vec![
            (Component::Uptime, Reason::ConnectedTime),
            (Component::Uptime, Reason::CleanDisconnect)
        ]
    );
    assert_eq!(t.history(&id(1)).next().map(|c| c.delta), Some(37.5));
    assert!(!t.is_connected(&id(1)));
    // Disconnected: uptime decays towards 50 again.
    assert!(t.score(&id(1), at(2 * half_life + 30 * DAY)).uptime < 86);
}

#[test]
fn ten_invalid_messages_disconnect_a_neutral_peer() {
    let mut t = table();
    let th = *t.thresholds();
    let mut totals = vec![];
    for _ in 0..10 {
        totals.push(t.report(id(7), Report::InvalidMessage, T0).total);
    }
    // Worked in docs/REPUTATION.md: 1 → 44, 3 → 34, 7 → 17, 10 → 7.
    assert_eq!(totals, vec![44, 39, 34, 29, 25, 21, 17, 13, 10, 7]);
    for &total in &totals[..3] {
        assert_eq!(th.action(total), ThresholdAction::None);
    }
    assert_eq!(th.action(totals[5]), ThresholdAction::None);
    assert_eq!(th.action(totals[6]), ThresholdAction::Disconnect);
    assert_eq!(th.action(totals[8]), ThresholdAction::Disconnect);
    assert_eq!(th.action(totals[9]), ThresholdAction::Ban);
    assert_eq!(t.action(&id(7), T0), ThresholdAction::Ban);
}

#[test]
fn good_behaviour_does_not_buy_unlimited_credit() {
    let mut t = table();
    t.report(id(1), Report::Connected, T0);
    let now = at(30 * DAY);
    for _ in 0..10_000 {
        for r in [
            Report::ValidMessage,
            Report::ConsensusParticipation,
            Report::RelaySuccess,
            Report::Latency(Duration::from_millis(10)),
        ] {
            t.report(id(1), r, now);
        }
    }
    let s = t.score(&id(1), now);
    assert_eq!(s.total, 100);
    // A perfect peer still goes below the disconnect threshold after 18 invalid messages.
    let mut n = 0;
    while t.report(id(1), Report::InvalidMessage, now).total >= 20 {
        n += 1;
    }
    assert_eq!(n + 1, 18);
}

#[test]
fn test_reputation_decay() {
    // A peer at validity 5.37, penalty 30 after ten invalid messages.
    let mut t = table();
    for _ in 0..10 {
        t.report(id(1), Report::InvalidMessage, T0);
    }
    assert_eq!(t.score(&id(1), T0).total, 7);
    // d(t) = d0 · 0.9^days: validity 50 − 44.63·0.9^d, penalty 30·0.9^d.
    let expect = [
        (0, 5, 30, 7),
        (1, 10, 27, 11),
        (7, 29, 14, 30),
        (30, 48, 1, 48),
    ];
    for (days, validity, penalty, total) in expect {
        let s = t.score(&id(1), at(days * DAY));
        assert_eq!(
            (s.validity, s.penalty, s.total),
            (validity, penalty, total),
            "{days} days"
        );
    }
    // Decay of a good peer is symmetric: it drifts down to neutral.
    let mut t2 = table();
    for _ in 0..100 {
        t2.report(id(2), Report::ValidMessage, T0);
    }
    let v0 = t2.score(&id(2), T0).validity;
    let v7 = t2.score(&id(2), at(7 * DAY)).validity;
    assert!(v0 > v7 && v7 > NEUTRAL_SCORE);
    assert_eq!(t2.score(&id(2), at(365 * DAY)), ReputationScore::NEUTRAL);

    // Across a save at +1 day and a restore at +7 days: same as never saving.
    let records = t.records(at(DAY));
    let mut restored = table();
    assert_eq!(restored.restore(records, at(7 * DAY)), 1);
    for days in [7, 8, 30] {
        assert_eq!(
            restored.score(&id(1), at(days * DAY)),
            t.score(&id(1), at(days * DAY))
        );
    }
    // Save at t, restore at t + 1 day: the score equals the unsaved one at t + 1 day.
    let t_save = at(3 * DAY + 12_345);
    let records = t.records(t_save);
    let mut r2 = table();
    r2.restore(records, t_save.plus(Duration::from_millis(DAY)));
    let later = t_save.plus(Duration::from_millis(DAY));
    assert_eq!(r2.score(&id(1), later), t.score(&id(1), later));
    // Reports after a restore continue from the decayed state.
    assert_eq!(
        r2.report(id(1), Report::ValidMessage, later),
        t.report(id(1), Report::ValidMessage, later)
    );
}

#[test]
fn decay_rate_extremes() {
    let mut cfg = ReputationConfig {
        decay_rate: 0.0,
        ..ReputationConfig::default()
    };
    let mut t = ReputationTable::new(&cfg);
    t.report(id(1), Report::InvalidMessage, T0);
    assert_eq!(t.score(&id(1), at(365 * DAY)).total, 44);
    cfg.decay_rate = 1.0;
    let mut t = ReputationTable::new(&cfg);
    t.report(id(1), Report::InvalidMessage, T0);
    assert_eq!(t.score(&id(1), T0).total, 44);
    assert_eq!(t.score(&id(1), at(1)), ReputationScore::NEUTRAL);
    cfg.decay_rate = f64::NAN;
    let mut t = ReputationTable::new(&cfg);
    t.report(id(1), Report::InvalidMessage, T0);
    assert_eq!(t.score(&id(1), at(365 * DAY)).total, 44);
}

#[test]
fn time_going_backwards_is_no_time() {
    let mut t = table();
    t.report(id(1), Report::InvalidMessage, at(DAY));
    let s = t.report(id(1), Report::InvalidMessage, T0);
    assert_eq!(s.penalty, 6);
    assert_eq!(t.score(&id(1), T0), s);
}

#[test]
fn test_reputation_thresholds() {
    let th = ReputationThresholds::default();
    assert_eq!(th, ReputationThresholds::from(&ReputationConfig::default()));
    assert_eq!(th.action(100), ThresholdAction::None);
    assert_eq!(th.action(20), ThresholdAction::None);
    assert_eq!(th.action(19), ThresholdAction::Disconnect);
    assert_eq!(th.action(10), ThresholdAction::Disconnect);
    assert_eq!(th.action(9), ThresholdAction::Ban);
    assert_eq!(th.action(0), ThresholdAction::Ban);
    assert!(th.can_relay(30) && !th.can_relay(29));
    assert!(th.can_consensus(50) && !th.can_consensus(49));
    let cfg = ReputationConfig {
        min_relay_reputation: 40,
        min_consensus_reputation: 60,
        auto_disconnect_threshold: 35,
        auto_ban_threshold: 5,
        ..ReputationConfig::default()
    };
    let th = ReputationThresholds::from(&cfg);
    assert_eq!(th.action(35), ThresholdAction::None);
    assert_eq!(th.action(34), ThresholdAction::Disconnect);
    assert_eq!(th.action(5), ThresholdAction::Disconnect);
    assert_eq!(th.action(4), ThresholdAction::Ban);
    assert!(th.can_relay(40) && !th.can_relay(39));
    assert!(th.can_consensus(60) && !th.can_consensus(59));
    // Through the table: a neutral peer is fine and may just take part in consensus.
    let t = table();
    assert_eq!(t.action(&id(9), T0), ThresholdAction::None);
    assert!(t.thresholds().can_consensus(t.score(&id(9), T0).total));
}

#[test]
fn history_is_explained_merged_and_bounded() {
    let mut t = table();
    t.report(id(1), Report::ValidMessage, T0);
    t.report(id(1), Report::ValidMessage, T0);
    t.report(id(1), Report::InvalidMessage, T0);
    let h: Vec<_> = t.history(&id(1)).copied().collect();
    assert_eq!(h.len(), 3);
    assert_eq!(
        (h[0].component, h[0].reason, h[0].count),
        (Component::Validity, Reason::ValidMessage, 2)
    );
    assert!((h[0].delta - (1.0 + 0.98)).abs() < 1e-9);
    assert_eq!(
        (h[1].component, h[1].reason),
        (Component::Validity, Reason::InvalidMessage)
    );
    assert_eq!(
        (h[2].component, h[2].delta),
        (Component::Penalty, INVALID_MESSAGE_PENALTY)
    );
    // A week later the next report first lists the decay.
    t.report(id(1), Report::RelayFailure, at(7 * DAY));
    let reasons: Vec<_> = t
        .history(&id(1))
        .skip(3)
        .map(|c| (c.component, c.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (Component::Validity, Reason::Decay),
            (Component::Penalty, Reason::Decay),
            (Component::Relay, Reason::RelayFailure)
        ]
    );
    // Bounded: alternate two reasons so nothing merges.
    for i in 0..(MAX_SCORE_HISTORY as u64 * 2) {
        let r = if i % 2 == 0 {
            Report::RelaySuccess
        } else {
            Report::ValidMessage
        };
        t.report(id(1), r, at(7 * DAY));
    }
    let h: Vec<_> = t.history(&id(1)).collect();
    assert_eq!(h.len(), MAX_SCORE_HISTORY);
    assert_eq!(h.last().map(|c| c.reason), Some(Reason::ValidMessage));
    assert_eq!(t.history(&id(2)).count(), 0);
}

#[test]
fn table_bound_evicts_the_most_neutral_oldest_unconnected() {
    let mut t = table();
    // Fill to the limit: id(0) connected and neutral, id(1) penalised, the rest neutral
    // with increasing activity times.
    t.report(id(0), Report::Connected, T0);
    t.report(id(1), Report::InvalidMessage, T0);
    for n in 2..MAX_REPUTATION_ENTRIES as u32 {
        t.report(
            id(n),
            Report::Disconnected(DisconnectKind::Local),
            at(u64::from(n)),
        );
    }
    assert_eq!(t.len(), MAX_REPUTATION_ENTRIES);
    let newcomer = id(MAX_REPUTATION_ENTRIES as u32);
    t.report(newcomer, Report::ValidMessage, at(DAY));
    assert_eq!(t.len(), MAX_REPUTATION_ENTRIES);
    // id(2) is the oldest neutral unconnected entry.
    assert!(t.score(&id(2), at(DAY)) == ReputationScore::NEUTRAL && t.history(&id(2)).count() == 0);
    assert!(t.records(at(DAY)).iter().all(|r| r.node_id != id(2)));
    assert!(t.is_connected(&id(0)));
    assert_eq!(t.score(&id(1), T0).penalty, 3);
    assert!(t.remove(&newcomer));
    assert!(!t.remove(&newcomer));
}

#[test]
fn full_table_of_connected_peers_drops_reports() {
    let mut t = table();
    t.max_entries = 2;
    t.report(id(0), Report::Connected, T0);
    t.report(id(1), Report::Connected, T0);
    assert_eq!(
        t.report(id(2), Report::InvalidMessage, T0),
        ReputationScore::NEUTRAL
    );
    assert_eq!(t.len(), 2);
    t.report(id(1), Report::Disconnected(DisconnectKind::Local), T0);
    assert_eq!(t.report(id(2), Report::InvalidMessage, T0).penalty, 3);
    assert!(!t.is_connected(&id(1)) && t.len() == 2);
}

#[test]
fn records_round_trip_and_restore_sanitizes() {
    let mut t = table();
    t.report(id(1), Report::Connected, T0);
    t.report(id(1), Report::Latency(Duration::from_millis(120)), T0);
    t.report(id(2), Report::ConsensusViolation, T0);
    let saved = t.records(at(DAY));
    assert_eq!(saved.len(), 2);
    // The connected peer is saved as of the save time, with its uptime gain.
    assert_eq!(saved[0].updated_at, at(DAY));
    assert!(saved[0].state.uptime > 80.0);
    assert_eq!(saved[1].updated_at, T0);
    let mut r = table();
    assert_eq!(r.restore(saved.clone(), at(DAY)), 2);
    assert!(!r.is_connected(&id(1)));
    assert_eq!(r.records(at(DAY)), saved);
    // Garbage numbers and future timestamps are forced into range.
    let bad = ReputationRecord {
        node_id: id(3),
        state: ReputationState {
            uptime: f64::NAN,
            latency: -5.0,
            validity: 1e9,
            consensus: f64::INFINITY,
            relay: 50.0,
            penalty: f64::NEG_INFINITY,
        },
        latency: Some(LatencyStats {
            mean_ms: f64::NAN,
            deviation_ms: 1.0,
        }),
        counters: ReputationCounters::default(),
        updated_at: UnixMillis(u64::MAX),
    };
    r.restore([bad], at(DAY));
    let s = r.score(&id(3), at(DAY));
    assert_eq!(
        (s.uptime, s.latency, s.validity, s.consensus, s.penalty),
        (50, 0, 100, 100, 0)
    );
    assert_eq!(r.records(at(DAY))[2].updated_at, at(DAY));
    assert_eq!(r.records(at(DAY))[2].latency, None);
}

#[test]
fn latency_sample_limit() {
    let s = LatencyStats::update(None, Duration::from_secs(3600));
    assert_eq!(s.mean_ms, MAX_LATENCY_SAMPLE.as_millis() as f64);
    let s = LatencyStats::update(None, MAX_LATENCY_SAMPLE);
    assert_eq!(s.mean_ms, 60_000.0);
    assert_eq!(s.score(), 0.0);
    assert_eq!(LatencyStats::update(None, LATENCY_BEST).score(), 100.0);
}

#[test]
fn penalty_is_capped() {
    let mut t = table();
    for _ in 0..20 {
        t.report(id(1), Report::ProtocolViolation(Violation::PexFlood), T0);
    }
    let s = t.score(&id(1), T0);
    assert_eq!((s.penalty, s.total), (MAX_PENALTY as u32, 0));
}

fn arb_report() -> impl Strategy<Value = Report> {
    prop_oneof![
        Just(Report::Connected),
        Just(Report::Disconnected(DisconnectKind::Local)),
        Just(Report::Disconnected(DisconnectKind::Clean)),
        Just(Report::Disconnected(DisconnectKind::Unclean)),
        (0u64..200_000).prop_map(|ms| Report::Latency(Duration::from_millis(ms))),
        Just(Report::ValidMessage),
        Just(Report::InvalidMessage),
        Just(Report::ProtocolViolation(Violation::BadFrame)),
        Just(Report::ProtocolViolation(Violation::Handshake)),
        Just(Report::ConsensusParticipation),
        Just(Report::ConsensusViolation),
        Just(Report::RelaySuccess),
        Just(Report::RelayFailure),
    ]
}

proptest! {
    #[test]
    fn scores_stay_in_range(
        steps in proptest::collection::vec((0u32..4, arb_report(), 0u64..(40 * DAY)), 1..200),
        rate in 0.0f64..=1.0,
    ) {
        let cfg = ReputationConfig { decay_rate: rate, ..ReputationConfig::default() };
        let mut t = ReputationTable::new(&cfg);
        let mut now = T0;
        for (peer, report, advance) in steps {
            now = now.plus(Duration::from_millis(advance));
            let s = t.report(id(peer), report, now);
            for v in [s.total, s.uptime, s.latency, s.validity, s.consensus, s.relay, s.penalty] {
                prop_assert!(v <= 100);
            }
            prop_assert_eq!(t.score(&id(peer), now), s);
            prop_assert!(t.history(&id(peer)).count() <= MAX_SCORE_HISTORY);
            for r in t.records(now) {
                for v in [r.state.uptime, r.state.latency, r.state.validity, r.state.consensus, r.state.relay, r.state.penalty] {
                    prop_assert!((0.0..=100.0).contains(&v));
                }
            }
        }
    }
}
