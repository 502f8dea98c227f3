//! Criterion micro-benchmarks: encode and decode of each message type.

use criterion::{criterion_group, criterion_main, Criterion};
use qudag_peer::wire::{App, Message, Peers};
use serde_bytes::ByteBuf;
use std::hint::black_box;

/// The shared example of every message type ([`Message::examples`]), plus two sized ones.
fn messages() -> Vec<(&'static str, Message)> {
    let mut all = Message::examples();
    all.push((
        "peers_100",
        Message::Peers(Peers {
            addresses: (0..100)
                .map(|i| format!("192.0.2.{}:8000", i % 250))
                .collect(),
        }),
    ));
    all.push((
        "app_256",
        Message::App(App {
            payload: ByteBuf::from(vec![9; 256]),
        }),
    ));
    all
}

fn codec(c: &mut Criterion) {
    for (name, m) in messages() {
        let frame = m.encode().expect("encodes");
        c.bench_function(&format!("encode/{name}"), |b| {
            let mut out = Vec::with_capacity(frame.len());
            b.iter(|| {
                out.clear();
                black_box(&m).encode_into(&mut out).expect("encodes");
            })
        });
        c.bench_function(&format!("decode/{name}"), |b| {
            b.iter(|| Message::decode_payload(black_box(&frame[4..])))
        });
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
