//! Figures for docs/BENCHMARKS.md, each next to its floor measured in the same run.
//!
//! `cargo bench -p qudag-peer-benches --bench figures` (add `-- quick` for a shorter run).

use pqcrypto_dilithium::dilithium3;
use pqcrypto_traits::sign::{DetachedSignature as _, PublicKey as _};
use qudag_peer::addrbook::{Source, MAX_ADDRBOOK_ENTRIES};
use qudag_peer::channel;
use qudag_peer::config::MAX_MAX_CONNECTIONS;
use qudag_peer::reputation::ReputationTable;
use qudag_peer::rng::Rng;
use qudag_peer::wire::{App, FrameDecoder, Message, Peers, Ping, MAX_PEX_ADDRESSES};
use qudag_peer::AddrBook;
use qudag_peer::PeerAddress;
use qudag_peer::Report;
use qudag_peer::ReputationConfig;
use qudag_peer::{Config, ConnId, Identity, Node, NodeId, UnixMillis};
use qudag_peer::{Input, Output};
use qudag_peer_benches::{allocations, connect_in_memory, paired, time_per_call, us, Counting};
use qudag_peer_tests::keys;
use serde_bytes::ByteBuf;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: Counting = Counting;

const UNIX: UnixMillis = UnixMillis(1_760_000_000_000);

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, (i >> 8) as u8, (i & 0xff) as u8 + 1], 8000))
}

/// Two fresh nodes handshake in memory; returns them with the connection ids (a's, b's).
fn handshake(a_id: &Identity, b_id: &Identity, seed: u64) -> (Node, Node, ConnId, ConnId) {
    let now = Instant::now();
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    let mut a = Node::new(Config::local(addr(0)), a_id.clone(), s, now, UNIX);
    s[8] = 1;
    let mut b = Node::new(Config::local(addr(1)), b_id.clone(), s, now, UNIX);
    let remote = SocketAddr::from(([127, 0, 0, 1], 40000));
    let (ca, cb) =
        connect_in_memory(&mut a, &mut b, addr(1), remote, now).expect("handshake completes");
    (a, b, ca, cb)
}

/// Inserts `answer` from one new PEX source into a copy of the full `book`; returns the time of
/// the insertion alone.
fn insert_answer(book: &AddrBook, cap: usize, answer: &[PeerAddress], rng: &mut Rng) -> Duration {
    let mut b = AddrBook::new(cap);
    b.restore(book.records());
    let source = Source::Pex {
        peer: NodeId([2; 32]),
        group: "new".into(),
    };
    let t0 = Instant::now();
    for a in answer {
        b.add(a.clone(), source.clone(), UnixMillis(2), rng);
    }
    t0.elapsed()
}

/// An address book of capacity `cap`, filled with PEX addresses from 20 source groups.
fn full_book(cap: usize, rng: &mut Rng) -> AddrBook {
    let mut book = AddrBook::new(cap);
    let mut g = 0u32;
    while book.len() < cap {
        let a = PeerAddress::parse(&format!(
            "{}.{}.{}.1:8000",
            1 + g % 200,
            (g / 200) % 250,
            g / 50_000
        ))
        .expect("valid");
        let src = Source::Pex {
            peer: NodeId([1; 32]),
            group: format!("g{}", g % 20),
        };
        book.add(a, src, UnixMillis(1), rng);
        g += 1;
    }
    book
}

/// A node with `n` peers connected in memory (the clients are dropped), and its connections.
fn hub(n: usize) -> (Node, Vec<ConnId>) {
    let now = Instant::now();
    let mut config = Config::local(addr(0));
    config.network.peers.max_connections = (n + 100).min(MAX_MAX_CONNECTIONS);
    config.network.peers.min_connections = 0;
    let mut hub = Node::new(config, keys::identity(0), [9; 32], now, UNIX);
    let conns = (0..n)
        .map(|i| {
            let mut s = [8u8; 32];
            s[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let id = keys::identity(i as u64 + 2);
            let mut c = Node::new(Config::local(addr(i + 2)), id, s, now, UNIX);
            let remote = SocketAddr::new(addr(i + 2).ip(), 40000);
            connect_in_memory(&mut c, &mut hub, addr(0), remote, now)
                .expect("handshake completes")
                .1
        })
        .collect();
    drain(&mut hub);
    (hub, conns)
}

fn drain(n: &mut Node) -> usize {
    let mut k = 0;
    loop {
        match n.poll_output() {
            Output::Timeout { .. } => return k,
            _ => k += 1,
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it:
    // then a smoke pass checks every workload still runs, without measuring anything.
    let args: Vec<String> = std::env::args().collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "quick");
    let (budget, rounds) = match (smoke, quick) {
        (true, _) => (Duration::from_millis(2), 1),
        (false, true) => (Duration::from_millis(150), 3),
        (false, false) => (Duration::from_millis(600), 5),
    };
    let (a_id, b_id) = (keys::identity(0), keys::identity(1));
    let kind = if smoke {
        "smoke (not a measurement)"
    } else if quick {
        "quick"
    } else {
        "full"
    };
    println!("qudag-peer figures ({kind} run; medians of {rounds} interleaved rounds)\n");

    // 1. Handshake against the crypto floor: per side one signature and one verification, and
    // one ML-KEM-768 key generation, encapsulation and decapsulation in all.
    let mut kem_rng = Rng::from_seed([9; 32]);
    let kem_ops = |rng: &mut Rng| {
        let (dk, ek) = channel::kem_keygen(rng);
        let (ct, ss) = channel::kem_encapsulate(&ek, rng).expect("valid key");
        (channel::kem_decapsulate(&dk, &ct) == Some(ss), ct.len())
    };
    let (pk, sk) = dilithium3::keypair();
    let mut i = 0u64;
    let mut msg = [0u8; 65];
    let sig = dilithium3::detached_sign(&msg, &sk);
    let (t_sign, t_verify) = paired(
        rounds,
        budget,
        || {
            i += 1;
            msg[..8].copy_from_slice(&i.to_le_bytes());
            dilithium3::detached_sign(&msg, &sk)
        },
        || dilithium3::verify_detached_signature(&sig, &[0u8; 65], &pk),
    );
    let (t_kem, _) = paired(
        rounds,
        budget,
        || kem_ops(&mut kem_rng),
        || dilithium3::verify_detached_signature(&sig, &[0u8; 65], &pk),
    );
    let floor = (t_sign + t_verify) * 2 + t_kem;
    let mut seed = 0u64;
    let (t_hs, floor_again) = paired(
        rounds,
        budget,
        || {
            seed += 1;
            handshake(&a_id, &b_id, seed)
        },
        || {
            i += 1;
            msg[..8].copy_from_slice(&i.to_le_bytes());
            let s1 = dilithium3::detached_sign(&msg, &sk);
            let s2 = dilithium3::detached_sign(&msg[1..], &sk);
            let ok = dilithium3::verify_detached_signature(&s1, &msg, &pk).is_ok()
                & dilithium3::verify_detached_signature(&s2, &msg[1..], &pk).is_ok();
            (ok, s1.as_bytes().len(), kem_ops(&mut kem_rng))
        },
    );
    println!(
        "1. handshake (two in-memory nodes, three messages, through PeerConnected on both sides)"
    );
    println!(
        "   dilithium3 sign {}  verify {}  (public key {} B)",
        us(t_sign),
        us(t_verify),
        pk.as_bytes().len()
    );
    println!("   ml-kem-768 keygen+encaps+decaps {}", us(t_kem));
    println!(
        "   floor 2×(sign+verify)+kem {}  (measured paired: {})",
        us(floor),
        us(floor_again)
    );
    println!(
        "   full handshake        {}  ratio {:.3}\n",
        us(t_hs),
        t_hs.as_secs_f64() / floor_again.as_secs_f64()
    );

    // 2. Connected-peer throughput through the sealed channel, and allocations per message. The
    // frames are sealed as b would seal them: a sealer in the state of b's (`Node::peer_sealer`).
    let (mut a, _b, ca, _cb) = handshake(&a_id, &b_id, 1);
    drain(&mut a);
    let mut sealer = a.peer_sealer(ca).expect("connected");
    let now = Instant::now();
    for (name, msg, k) in [
        ("ping → pong", Message::Ping(Ping { nonce: 7 }), 1000usize),
        (
            "app 32 B → event",
            Message::App(App {
                payload: ByteBuf::from(vec![5u8; 32]),
            }),
            1000,
        ),
    ] {
        let seal_all = |sealer: &mut qudag_peer::channel::Sealer| {
            let mut buf = Vec::with_capacity(k * 64);
            for _ in 0..k {
                buf.extend_from_slice(&sealer.seal_message(&msg).expect("seals"));
            }
            buf
        };
        let buf = seal_all(&mut sealer);
        let before = allocations();
        a.handle_input(Input::Received {
            conn: ca,
            data: &buf,
            now,
        });
        drain(&mut a);
        let allocs = (allocations() - before) as f64 / k as f64;
        // Sealing the next batch is the sender's work: timed on its own and subtracted.
        let mut spare = sealer.clone();
        let t_seal = time_per_call(budget, || seal_all(&mut spare));
        let t = time_per_call(budget, || {
            let buf = seal_all(&mut sealer);
            a.handle_input(Input::Received {
                conn: ca,
                data: &buf,
                now,
            });
            drain(&mut a)
        });
        assert!(
            a.session_keys(ca).is_some(),
            "the node still reads the sealed stream"
        );
        let per = t.saturating_sub(t_seal).as_secs_f64() / k as f64;
        println!(
            "2. {name:<18} {:>10.0} msgs/s  ({:.0} ns/msg open+handle, {:.0} ns/msg seal, {allocs:.1} allocations/msg)",
            1.0 / per,
            per * 1e9,
            t_seal.as_secs_f64() / k as f64 * 1e9
        );
    }
    // Growth: Ping → Pong spread over 10x the connected peers (ten pings per peer per round),
    // each peer's pings sealed in the round by a sealer in that peer's state (sealing is
    // included in both sizes: the ratio is what this figure is for).
    let sizes = if smoke { [2, 20] } else { [100, 1_000] };
    let (mut small, small_conns) = hub(sizes[0]);
    let (mut large, large_conns) = hub(sizes[1]);
    let sealers = |n: &Node, conns: &[ConnId]| -> Vec<channel::Sealer> {
        conns
            .iter()
            .map(|&c| n.peer_sealer(c).expect("connected"))
            .collect()
    };
    let mut small_sealers = sealers(&small, &small_conns);
    let mut large_sealers = sealers(&large, &large_conns);
    let ping = Message::Ping(Ping { nonce: 7 });
    // One instant for every round, as in the figure above: no timer comes due mid-measurement.
    let now = Instant::now();
    let round = |n: &mut Node, conns: &[ConnId], sealers: &mut [channel::Sealer]| {
        for (&conn, sealer) in conns.iter().zip(sealers.iter_mut()) {
            let mut pings = Vec::with_capacity(10 * 64);
            for _ in 0..10 {
                pings.extend_from_slice(&sealer.seal_message(&ping).expect("seals"));
            }
            n.handle_input(Input::Received {
                conn,
                data: &pings,
                now,
            });
        }
        drain(n)
    };
    let (t_small, t_large) = paired(
        rounds,
        budget,
        || round(&mut small, &small_conns, &mut small_sealers),
        || round(&mut large, &large_conns, &mut large_sealers),
    );
    let per_small = t_small.as_secs_f64() / (sizes[0] * 10) as f64;
    let per_large = t_large.as_secs_f64() / (sizes[1] * 10) as f64;
    println!(
        "   ping → pong over {:>5} peers: {:>10.0} msgs/s ({:.0} ns/msg)",
        sizes[0],
        1.0 / per_small,
        per_small * 1e9
    );
    println!(
        "   ping → pong over {:>5} peers: {:>10.0} msgs/s ({:.0} ns/msg); per message x{:.2} at 10x the peers",
        sizes[1],
        1.0 / per_large,
        per_large * 1e9,
        per_large / per_small
    );
    println!();

    // 3. Codec: a maximum-size PEX answer against a memcpy of the same bytes.
    for n in [MAX_PEX_ADDRESSES / 10, MAX_PEX_ADDRESSES] {
        let peers = Message::Peers(Peers {
            addresses: (0..n)
                .map(|i| format!("[2001:db8:{:x}:5678:9abc:def0:1234:5678]:65535", i))
                .collect(),
        });
        let frame = peers.encode().expect("encodes");
        let (t_dec, t_cpy) = paired(
            rounds,
            budget,
            || {
                let mut d = FrameDecoder::new();
                let mut rest = &frame[..];
                let mut out = None;
                while !rest.is_empty() {
                    let k = d.push(rest).expect("valid");
                    rest = &rest[k..];
                    out = d.next_message().expect("valid");
                }
                out
            },
            || frame.clone(),
        );
        let mbps = frame.len() as f64 / t_dec.as_secs_f64() / 1e6;
        println!(
            "3. decode Peers×{n:<5} {} bytes: {} ({mbps:.0} MB/s)  memcpy {}  ratio {:.1}",
            frame.len(),
            us(t_dec),
            us(t_cpy),
            t_dec.as_secs_f64() / t_cpy.as_secs_f64()
        );
    }
    println!();

    // 4. Discovery: a 1,000-address answer into a full book; dial selection. Growth: the
    // same at a tenth of the book (2,000 entries) and at the maximum (20,000).
    let mut rng = Rng::from_seed([3; 32]);
    let answer: Vec<PeerAddress> = (0..1000u32)
        .map(|i| PeerAddress::parse(&format!("203.{}.{}.9:8000", i / 250, i % 250)).expect("valid"))
        .collect();
    let mut per_size = Vec::new();
    for cap in [MAX_ADDRBOOK_ENTRIES / 10, MAX_ADDRBOOK_ENTRIES] {
        let book = full_book(cap, &mut rng);
        // Each run inserts into a fresh copy of the full book (the copy is not timed).
        let mut inserts: Vec<Duration> = (0..rounds.max(3))
            .map(|_| insert_answer(&book, cap, &answer, &mut rng))
            .collect();
        inserts.sort();
        let t_insert_only = inserts[inserts.len() / 2];
        let t_select = time_per_call(budget, || {
            book.select(8, UnixMillis(10), &mut rng, &Default::default(), |_| false)
        });
        println!(
            "4. insert 1,000-address answer into a full {cap:>6} book: {} (median of {})",
            us(t_insert_only),
            inserts.len()
        );
        println!(
            "   select 8 dial candidates from {cap:>6}: {}",
            us(t_select)
        );
        per_size.push((t_insert_only, t_select));
    }
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
    println!(
        "   growth at 10x the book: insert x{:.2}, select x{:.2}\n",
        ratio(per_size[0].0, per_size[1].0),
        ratio(per_size[0].1, per_size[1].1)
    );

    // 5. Reputation: updates per second; decay over 1,000 and 10,000 peers.
    let mut table = ReputationTable::new(&ReputationConfig::default());
    let mut k = 0u32;
    let t_update = time_per_call(budget, || {
        k = k.wrapping_add(1);
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&(k % 1000).to_le_bytes());
        table.report(
            NodeId(id),
            Report::ValidMessage,
            UnixMillis(1_000 + k as u64),
        )
    });
    println!(
        "5. reputation update {:.0}/s ({:.0} ns)",
        1.0 / t_update.as_secs_f64(),
        t_update.as_secs_f64() * 1e9
    );
    for n in [1_000u32, 10_000] {
        let mut t = ReputationTable::new(&ReputationConfig::default());
        for j in 0..n {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&j.to_le_bytes());
            t.report(NodeId(id), Report::InvalidMessage, UnixMillis(0));
        }
        let day = UnixMillis(86_400_000);
        let t_decay = time_per_call(budget, || t.records(day));
        println!(
            "   decay of {n:>6} peers (records at +1 day): {} ({:.0} ns/peer)",
            us(t_decay),
            t_decay.as_secs_f64() * 1e9 / n as f64
        );
    }
}
