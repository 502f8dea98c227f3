//! Criterion micro-benchmarks: encode and decode of each message type.

use criterion::{criterion_group, criterion_main, Criterion};
use qudag_peer::identity::{PUBLIC_KEY_LEN, SIGNATURE_LEN};
use qudag_peer::wire::*;
use serde_bytes::ByteBuf;
use std::hint::black_box;

fn messages() -> Vec<(&'static str, Message)> {
    let body = |kem_len: usize| {
        HandshakeBody {
            version: 2,
            min_version: 2,
            public_key: ByteBuf::from(vec![0x11; PUBLIC_KEY_LEN]),
            capabilities: vec!["pex".into()],
            timestamp: 1_760_000_000,
            nonce: ByteBuf::from(vec![0x22; NONCE_LEN]),
            user_agent: "qudag/0.1.0".into(),
            listen_addr: Some("127.0.0.1:8000".into()),
            suite: qudag_peer::channel::SUITE.into(),
            kem: ByteBuf::from(vec![0x55; kem_len]),
            quic_listen_addr: None,
        }
        .to_cbor()
    };
    vec![
        (
            "handshake",
            Message::Handshake(Handshake {
                body: ByteBuf::from(body(qudag_peer::channel::KEM_ENCAPSULATION_KEY_LEN)),
            }),
        ),
        (
            "handshake_response",
            Message::HandshakeResponse(HandshakeResponse {
                body: ByteBuf::from(body(qudag_peer::channel::KEM_CIPHERTEXT_LEN)),
                signature: ByteBuf::from(vec![3; SIGNATURE_LEN]),
            }),
        ),
        (
            "handshake_confirm",
            Message::HandshakeConfirm(HandshakeConfirm {
                signature: ByteBuf::from(vec![4; SIGNATURE_LEN]),
            }),
        ),
        ("ping", Message::Ping(Ping { nonce: 42 })),
        (
            "disconnect",
            Message::Disconnect(Disconnect {
                reason: 1,
                text: "bye".into(),
            }),
        ),
        ("disconnect_ack", Message::DisconnectAck),
        ("get_peers", Message::GetPeers(GetPeers { max: 1000 })),
        (
            "peers_100",
            Message::Peers(Peers {
                addresses: (0..100)
                    .map(|i| format!("192.0.2.{}:8000", i % 250))
                    .collect(),
            }),
        ),
        (
            "app_256",
            Message::App(App {
                payload: ByteBuf::from(vec![9; 256]),
            }),
        ),
    ]
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
