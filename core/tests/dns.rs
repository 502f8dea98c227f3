//! Tests of the DNS client (`qudag_peer::dns`) against messages built with hickory-proto.
//!
//! They live outside `core/src` because they need a base `Instant`, and only tests and
//! adapters may read the clock.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use core::net::IpAddr;
use core::net::{Ipv4Addr, Ipv6Addr};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, TXT};
use hickory_proto::rr::Record;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use proptest::prelude::*;
use qudag_peer::dns::*;
use qudag_peer::rng::Rng;

fn rng() -> Rng {
    Rng::from_seed([3; 32])
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// A response echoing `query_bytes`' header and question, with `answers`.
fn response_to(query_bytes: &[u8], answers: Vec<Record>) -> Message {
    let q = Message::from_vec(query_bytes).unwrap();
    let mut m = Message::response(q.metadata.id, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.add_queries(q.queries.clone());
    m.add_answers(answers);
    m
}

fn start(c: &mut DnsClient, n: &str, kind: QueryKind, now: Instant) -> (u16, Vec<u8>) {
    c.start(n, kind, now, &mut rng()).unwrap()
}

#[test]
fn query_parses_back_with_question_and_rd() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let (id, bytes) = start(&mut c, "seed.example.org", QueryKind::Txt, now);
    let m = Message::from_vec(&bytes).unwrap();
    assert_eq!(m.metadata.id, id);
    assert_eq!(m.metadata.message_type, MessageType::Query);
    assert_eq!(m.metadata.op_code, OpCode::Query);
    assert!(m.metadata.recursion_desired);
    assert_eq!(m.queries.len(), 1);
    let q = &m.queries[0];
    assert_eq!(q.name(), &name("seed.example.org."));
    assert_eq!(q.query_type(), RecordType::TXT);
    assert_eq!(q.query_class(), DNSClass::IN);
    assert_eq!(
        m.edns.as_ref().map(|e| e.max_payload()),
        Some(DNS_EDNS_PAYLOAD)
    );
    assert_eq!(c.pending(), 1);
    assert_eq!(c.poll_timeout(), Some(now + DNS_QUERY_TIMEOUT));

    for (kind, rt) in [
        (QueryKind::A, RecordType::A),
        (QueryKind::Aaaa, RecordType::AAAA),
    ] {
        let (_, bytes) = c.start("host.example.", kind, now, &mut rng()).unwrap();
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!(m.queries[0].query_type(), rt);
        assert_eq!(m.queries[0].name(), &name("host.example."));
    }
}

#[test]
fn invalid_names_are_refused() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let long_label = "a".repeat(64);
    let long_name = vec!["abcdefghi"; 30].join(".");
    for bad in [
        "",
        ".",
        "a..b",
        "bad name.example",
        "ünï.example",
        &long_label,
        &long_name,
    ] {
        assert!(
            matches!(
                c.start(bad, QueryKind::Txt, now, &mut rng()),
                Err(DnsError::InvalidName { .. })
            ),
            "{bad:?} accepted"
        );
    }
    assert_eq!(c.pending(), 0);
    // 63-byte label is the limit.
    assert!(c
        .start(&"a".repeat(63), QueryKind::A, now, &mut rng())
        .is_ok());
}

#[test]
fn txt_answer_with_two_records() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let (_, q) = start(&mut c, "seed.example.org", QueryKind::Txt, now);
    let owner = name("SEED.Example.org.");
    let resp = response_to(
        &q,
        vec![
            Record::from_rdata(
                owner.clone(),
                600,
                RData::TXT(TXT::new(vec![
                    "192.0.2.1:8000 ".into(),
                    "[2001:db8::1]:8000".into(),
                ])),
            ),
            Record::from_rdata(
                owner,
                300,
                RData::TXT(TXT::new(vec!["seed2.example.org:8000".into()])),
            ),
        ],
    );
    let out = c.handle_response(&resp.to_vec().unwrap(), now).unwrap();
    assert_eq!(
        out,
        DnsOutcome::Txt {
            name: "seed.example.org".into(),
            records: vec![
                "192.0.2.1:8000 [2001:db8::1]:8000".into(),
                "seed2.example.org:8000".into()
            ],
            ttl: Duration::from_secs(300),
        }
    );
    assert_eq!(c.pending(), 0);
}

#[test]
fn a_and_aaaa_answers() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let (_, q) = start(&mut c, "host.example", QueryKind::A, now);
    let owner = name("host.example.");
    let resp = response_to(
        &q,
        vec![
            Record::from_rdata(owner.clone(), 10, RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))),
            Record::from_rdata(
                owner.clone(),
                100_000,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 2))),
            ),
            // Wrong type for this query: ignored.
            Record::from_rdata(owner.clone(), 10, RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))),
            // Unrelated owner: ignored.
            Record::from_rdata(
                name("evil.example."),
                10,
                RData::A(A(Ipv4Addr::new(198, 51, 100, 1))),
            ),
        ],
    );
    let out = c.handle_response(&resp.to_vec().unwrap(), now).unwrap();
    assert_eq!(
        out,
        DnsOutcome::Addresses {
            name: "host.example".into(),
            kind: QueryKind::A,
            ips: vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()],
            ttl: DNS_MIN_TTL, // 10 s clamped up
        }
    );

    let (_, q) = start(&mut c, "host.example", QueryKind::Aaaa, now);
    let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let resp = response_to(
        &q,
        vec![Record::from_rdata(owner, 100_000, RData::AAAA(AAAA(v6)))],
    );
    let out = c.handle_response(&resp.to_vec().unwrap(), now).unwrap();
    assert_eq!(
        out,
        DnsOutcome::Addresses {
            name: "host.example".into(),
            kind: QueryKind::Aaaa,
            ips: vec![IpAddr::V6(v6)],
            ttl: DNS_MAX_TTL, // clamped down
        }
    );
}

#[test]
fn cname_chain_targets_are_accepted() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let (_, q) = start(&mut c, "seed.example.org", QueryKind::Txt, now);
    let resp = response_to(
        &q,
        vec![
            Record::from_rdata(
                name("seed.example.org."),
                3600,
                RData::CNAME(CNAME(name("a.example.net."))),
            ),
            Record::from_rdata(
                name("a.example.net."),
                3600,
                RData::CNAME(CNAME(name("b.example.net."))),
            ),
            Record::from_rdata(
                name("b.example.net."),
                7200,
                RData::TXT(TXT::new(vec!["192.0.2.7:8000".into()])),
            ),
            Record::from_rdata(
                name("c.example.net."),
                7200,
                RData::TXT(TXT::new(vec!["198.51.100.1:1".into()])),
            ),
        ],
    );
    let out = c.handle_response(&resp.to_vec().unwrap(), now).unwrap();
    assert_eq!(
        out,
        DnsOutcome::Txt {
            name: "seed.example.org".into(),
            records: vec!["192.0.2.7:8000".into()],
            ttl: Duration::from_secs(3600),
        }
    );
}

#[test]
fn cname_chain_is_bounded() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let (_, q) = start(&mut c, "n0.example", QueryKind::A, now);
    let mut answers = Vec::new();
    // MAX_CNAME_CHAIN links reach n{MAX}; one more link is not followed.
    for i in 0..=MAX_CNAME_CHAIN {
        answers.push(Record::from_rdata(
            name(&format!("n{i}.example.")),
            3600,
            RData::CNAME(CNAME(name(&format!("n{}.example.", i + 1)))),
        ));
    }
    answers.push(Record::from_rdata(
        name(&format!("n{MAX_CNAME_CHAIN}.example.")),
        3600,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
    ));
    answers.push(Record::from_rdata(
        name(&format!("n{}.example.", MAX_CNAME_CHAIN + 1)),
        3600,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 2))),
    ));
    let out = c
        .handle_response(&response_to(&q, answers).to_vec().unwrap(), now)
        .unwrap();
    let DnsOutcome::Addresses { ips, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(ips, vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))]);
}

#[test]
fn empty_answer() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let (_, q) = start(&mut c, "seed.example.org", QueryKind::Txt, now);
    let out = c
        .handle_response(&response_to(&q, vec![]).to_vec().unwrap(), now)
        .unwrap();
    assert_eq!(
        out,
        DnsOutcome::Txt {
            name: "seed.example.org".into(),
            records: vec![],
            ttl: DNS_MIN_TTL
        }
    );
}

/// (response code, TC bit, expected outcome for the name).
type RcodeCase = (ResponseCode, bool, fn(String) -> DnsOutcome);

#[test]
fn rcodes_and_truncation() {
    let now = Instant::now();
    let cases: [RcodeCase; 4] = [
        (ResponseCode::NXDomain, false, |name| DnsOutcome::NxDomain {
            name,
            kind: QueryKind::Txt,
        }),
        (ResponseCode::ServFail, false, |name| DnsOutcome::ServFail {
            name,
            kind: QueryKind::Txt,
        }),
        (ResponseCode::NoError, true, |name| DnsOutcome::Truncated {
            name,
            kind: QueryKind::Txt,
        }),
        (ResponseCode::Refused, false, |name| DnsOutcome::Error {
            name,
            kind: QueryKind::Txt,
            rcode: 5,
        }),
    ];
    for (rcode, tc, expected) in cases {
        let mut c = DnsClient::new();
        let (_, q) = start(&mut c, "seed.example.org", QueryKind::Txt, now);
        let mut resp = response_to(
            &q,
            vec![Record::from_rdata(
                name("seed.example.org."),
                60,
                RData::TXT(TXT::new(vec!["x".into()])),
            )],
        );
        resp.metadata.response_code = rcode;
        resp.metadata.truncation = tc;
        let out = c.handle_response(&resp.to_vec().unwrap(), now).unwrap();
        assert_eq!(out, expected("seed.example.org".into()));
        assert_eq!(c.pending(), 0);
    }
}

#[test]
fn wrong_txid_is_an_error_and_query_stays_pending() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let (id, q) = start(&mut c, "seed.example.org", QueryKind::Txt, now);
    let mut resp = response_to(&q, vec![]);
    resp.metadata.id = id.wrapping_add(1);
    assert_eq!(
        c.handle_response(&resp.to_vec().unwrap(), now),
        Err(DnsError::UnknownTransaction {
            id: id.wrapping_add(1)
        })
    );
    assert_eq!(c.pending(), 1);
    // The real answer still settles it.
    let resp = response_to(&q, vec![]);
    assert!(matches!(
        c.handle_response(&resp.to_vec().unwrap(), now),
        Ok(DnsOutcome::Txt { .. })
    ));
    assert_eq!(c.pending(), 0);
}

#[test]
fn mismatched_question_is_an_error_and_query_stays_pending() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let (id, q) = start(&mut c, "seed.example.org", QueryKind::Txt, now);
    let mutations: [fn(&mut Message); 5] = [
        |m| {
            m.queries[0].set_name(Name::from_ascii("other.example.org.").unwrap());
        },
        |m| {
            m.queries[0].set_query_type(RecordType::A);
        },
        |m| {
            m.queries[0].set_query_class(DNSClass::CH);
        },
        |m| m.queries.clear(),
        |m| {
            let extra = m.queries[0].clone();
            m.queries.push(extra);
        },
    ];
    for mutate in mutations {
        let mut resp = response_to(&q, vec![]);
        mutate(&mut resp);
        assert_eq!(
            c.handle_response(&resp.to_vec().unwrap(), now),
            Err(DnsError::QuestionMismatch { id })
        );
        assert_eq!(c.pending(), 1);
    }
    // Case differences in the echoed name are fine.
    let mut resp = response_to(&q, vec![]);
    resp.queries[0].set_name(Name::from_ascii("SEED.example.ORG.").unwrap());
    assert!(c.handle_response(&resp.to_vec().unwrap(), now).is_ok());
}

#[test]
fn queries_and_garbage_are_errors() {
    let mut c = DnsClient::new();
    let now = Instant::now();
    let (_, q) = start(&mut c, "seed.example.org", QueryKind::Txt, now);
    // Our own query echoed back is not a response.
    assert_eq!(c.handle_response(&q, now), Err(DnsError::NotAResponse));
    assert!(matches!(
        c.handle_response(b"garbage", now),
        Err(DnsError::Malformed(_))
    ));
    assert!(matches!(
        c.handle_response(&[], now),
        Err(DnsError::Malformed(_))
    ));
    let big = vec![0u8; MAX_DNS_RESPONSE_LEN + 1];
    assert_eq!(
        c.handle_response(&big, now),
        Err(DnsError::TooLong {
            len: MAX_DNS_RESPONSE_LEN + 1
        })
    );
    assert_eq!(c.pending(), 1);
    // A datagram of exactly the limit is looked at (and here rejected as malformed).
    let mut at_limit = response_to(&q, vec![]).to_vec().unwrap();
    at_limit.resize(MAX_DNS_RESPONSE_LEN, 0);
    let r = c.handle_response(&at_limit, now);
    assert!(!matches!(r, Err(DnsError::TooLong { .. })), "{r:?}");
}

#[test]
fn timeouts_retry_with_new_txid_then_fail() {
    let mut c = DnsClient::new();
    let mut r = rng();
    let t0 = Instant::now();
    let (id0, _) = c
        .start("seed.example.org", QueryKind::Txt, t0, &mut r)
        .unwrap();
    assert!(c
        .handle_timeout(t0 + DNS_QUERY_TIMEOUT - Duration::from_millis(1), &mut r)
        .is_empty());

    let mut id = id0;
    let mut now = t0;
    for attempt in 2..=DNS_MAX_ATTEMPTS {
        now += DNS_QUERY_TIMEOUT;
        let actions = c.handle_timeout(now, &mut r);
        assert_eq!(actions.len(), 1, "attempt {attempt}");
        let DnsTimeoutAction::Retry {
            old_id,
            new_id,
            bytes,
        } = &actions[0]
        else {
            panic!("{actions:?}")
        };
        assert_eq!(*old_id, id);
        assert_ne!(*new_id, id);
        let m = Message::from_vec(bytes).unwrap();
        assert_eq!(m.metadata.id, *new_id);
        assert_eq!(m.queries[0].name(), &name("seed.example.org."));
        assert_eq!(c.poll_timeout(), Some(now + DNS_QUERY_TIMEOUT));
        // A late answer to the old id is now unknown.
        let mut late = Message::from_vec(bytes).unwrap();
        late.metadata.id = id;
        late.metadata.message_type = MessageType::Response;
        assert_eq!(
            c.handle_response(&late.to_vec().unwrap(), now),
            Err(DnsError::UnknownTransaction { id })
        );
        id = *new_id;
    }
    now += DNS_QUERY_TIMEOUT;
    assert_eq!(
        c.handle_timeout(now, &mut r),
        vec![DnsTimeoutAction::Failed {
            id,
            name: "seed.example.org".into(),
            kind: QueryKind::Txt
        }]
    );
    assert_eq!(c.pending(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn pending_queries_are_bounded() {
    let mut c = DnsClient::new();
    let mut r = rng();
    let now = Instant::now();
    let mut ids = BTreeSet::new();
    for i in 0..MAX_PENDING_DNS_QUERIES {
        let (id, _) = c
            .start(&format!("n{i}.example"), QueryKind::A, now, &mut r)
            .unwrap();
        ids.insert(id);
    }
    assert_eq!(ids.len(), MAX_PENDING_DNS_QUERIES);
    assert_eq!(c.pending(), MAX_PENDING_DNS_QUERIES);
    assert_eq!(
        c.start("one.more.example", QueryKind::A, now, &mut r),
        Err(DnsError::TooManyPending)
    );
}

#[test]
fn same_seed_same_txids() {
    let now = Instant::now();
    let run = || {
        let mut c = DnsClient::new();
        let mut r = rng();
        (0..10)
            .map(|i| {
                c.start(&format!("n{i}.example"), QueryKind::Txt, now, &mut r)
                    .unwrap()
                    .0
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn txt_tokens() {
    assert_eq!(
        txt_to_address_strings(
            " 192.0.2.1:8000,[2001:db8::1]:8000 ,, host.example:8000\tquantum://ab@h:1 "
        ),
        vec![
            "192.0.2.1:8000",
            "[2001:db8::1]:8000",
            "host.example:8000",
            "quantum://ab@h:1"
        ]
    );
    assert!(txt_to_address_strings(" , ").is_empty());
    let many: Vec<String> = (0..MAX_TXT_ADDRESSES_PER_ANSWER + 1)
        .map(|i| format!("192.0.2.1:{i}"))
        .collect();
    let at_limit = txt_to_address_strings(&many[..MAX_TXT_ADDRESSES_PER_ANSWER].join(" "));
    assert_eq!(at_limit.len(), MAX_TXT_ADDRESSES_PER_ANSWER);
    let over = txt_to_address_strings(&many.join(","));
    assert_eq!(over.len(), MAX_TXT_ADDRESSES_PER_ANSWER);
    assert_eq!(over[..], many[..MAX_TXT_ADDRESSES_PER_ANSWER]);

    let records = vec!["a:1 b:2".to_string(), "b:2,c:3".to_string()];
    assert_eq!(
        txt_records_to_address_strings(&records),
        vec!["a:1", "b:2", "c:3"]
    );
    let halves = vec![many[..200].join(" "), many[200..].join(" ")];
    let all = txt_records_to_address_strings(&halves);
    assert_eq!(all.len(), MAX_TXT_ADDRESSES_PER_ANSWER);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut c = DnsClient::new();
        let now = Instant::now();
        let _ = c.start("seed.example.org", QueryKind::Txt, now, &mut rng());
        let _ = c.handle_response(&bytes, now);
    }

    #[test]
    fn mutated_responses_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut c = DnsClient::new();
        let now = Instant::now();
        let (_, q) = start(&mut c, "seed.example.org", QueryKind::Txt, now);
        let resp = response_to(
            &q,
            vec![Record::from_rdata(name("seed.example.org."), 60, RData::TXT(TXT::new(vec!["192.0.2.1:8000".into()])))],
        );
        let mut bytes = resp.to_vec().unwrap();
        for (i, b) in flips {
            let n = bytes.len();
            bytes[i % n] ^= b;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = c.handle_response(&bytes, now);
    }
}
