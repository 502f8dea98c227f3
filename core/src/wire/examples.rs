//! One example of every message type (and of the variants that matter): the one table the wire
//! snapshots (`core/tests/wire-format.rs`), the fuzz seeds (`tests/tests/fuzz-seeds.rs`) and
//! the codec benchmarks (`benches/benches/codec.rs`) are built from.
//!
//! A new message type gets its examples here, and nowhere else in the harnesses: `examples_of`
//! matches on [`MessageType`] exhaustively, so the crate does not compile until the new type has
//! an arm, and the test below checks that every type byte the decoder knows has an example.
//! Built with the `test-support` feature (and in the crate's own tests) only.

use super::{
    App, Disconnect, GetPeers, Handshake, HandshakeBody, HandshakeConfirm, HandshakeResponse,
    Message, MessageType, Peers, Ping, KEM_CIPHERTEXT_LEN, KEM_ENCAPSULATION_KEY_LEN, NONCE_LEN,
    PUBLIC_KEY_LEN, SIGNATURE_LEN, SUITE,
};
use serde_bytes::ByteBuf;

impl HandshakeBody {
    /// An example body of protocol version 2 with filler bytes of the right lengths and `kem_len`
    /// bytes of KEM material ([`KEM_ENCAPSULATION_KEY_LEN`] for a `Handshake`,
    /// [`KEM_CIPHERTEXT_LEN`] for a `HandshakeResponse`), without a QUIC listener.
    pub fn example(kem_len: usize) -> HandshakeBody {
        HandshakeBody {
            version: 2,
            min_version: 2,
            public_key: ByteBuf::from(vec![0x11; PUBLIC_KEY_LEN]),
            capabilities: vec!["pex".into(), "routing".into()],
            timestamp: 1_760_000_000,
            nonce: ByteBuf::from(vec![0x22; NONCE_LEN]),
            user_agent: "qudag/0.1.0".into(),
            listen_addr: Some("127.0.0.1:8000".into()),
            suite: SUITE.into(),
            kem: ByteBuf::from(vec![0x55; kem_len]),
            quic_listen_addr: None,
        }
    }

    /// [`HandshakeBody::example`] of a node that listens on QUIC too (the optional field set).
    pub fn example_quic() -> HandshakeBody {
        HandshakeBody {
            quic_listen_addr: Some("quic://127.0.0.1:8001".into()),
            ..HandshakeBody::example(KEM_ENCAPSULATION_KEY_LEN)
        }
    }
}

impl Message {
    /// One example of every message type, named (the names are the wire snapshots' names),
    /// in type-byte order; some types have more than one (e.g. a `Handshake` with and without
    /// the optional QUIC address).
    pub fn examples() -> Vec<(&'static str, Message)> {
        (0..=u8::MAX)
            .filter_map(MessageType::from_byte)
            .flat_map(examples_of)
            .collect()
    }
}

/// The examples of one type. Exhaustive on purpose: a new message type needs its arm.
fn examples_of(t: MessageType) -> Vec<(&'static str, Message)> {
    match t {
        MessageType::Handshake => vec![
            (
                "handshake",
                Message::Handshake(Handshake {
                    body: ByteBuf::from(HandshakeBody::example(KEM_ENCAPSULATION_KEY_LEN).to_cbor()),
                }),
            ),
            (
                "handshake_quic",
                Message::Handshake(Handshake {
                    body: ByteBuf::from(HandshakeBody::example_quic().to_cbor()),
                }),
            ),
        ],
        MessageType::HandshakeResponse => vec![(
            "handshake_response",
            Message::HandshakeResponse(HandshakeResponse {
                body: ByteBuf::from(HandshakeBody::example(KEM_CIPHERTEXT_LEN).to_cbor()),
                signature: ByteBuf::from(vec![0x33; SIGNATURE_LEN]),
            }),
        )],
        MessageType::HandshakeConfirm => vec![(
            "handshake_confirm",
            Message::HandshakeConfirm(HandshakeConfirm {
                signature: ByteBuf::from(vec![0x44; SIGNATURE_LEN]),
            }),
        )],
        MessageType::Ping => vec![(
            "ping",
            Message::Ping(Ping {
                nonce: 0x0102030405060708,
            }),
        )],
        MessageType::Pong => vec![(
            "pong",
            Message::Pong(Ping {
                nonce: 0x0102030405060708,
            }),
        )],
        MessageType::Disconnect => vec![(
            "disconnect",
            Message::Disconnect(Disconnect {
                reason: 1,
                text: "removed by the operator".into(),
            }),
        )],
        MessageType::DisconnectAck => vec![("disconnect_ack", Message::DisconnectAck)],
        MessageType::GetPeers => vec![("get_peers", Message::GetPeers(GetPeers { max: 1000 }))],
        MessageType::Peers => vec![(
            "peers",
            Message::Peers(Peers {
                addresses: vec!["192.0.2.1:8000".into(), "[2001:db8::1]:8000".into()],
            }),
        )],
        MessageType::App => vec![(
            "app",
            Message::App(App {
                payload: ByteBuf::from(b"hello".to_vec()),
            }),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_message_type_has_an_example_that_round_trips() {
        let examples = Message::examples();
        let covered: BTreeSet<MessageType> =
            examples.iter().map(|(_, m)| m.message_type()).collect();
        for t in (0..=u8::MAX).filter_map(MessageType::from_byte) {
            assert!(covered.contains(&t), "{t:?} has no example");
        }
        let names: BTreeSet<&str> = examples.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), examples.len(), "example names are unique");
        for (name, m) in examples {
            let bytes = m.encode().unwrap();
            assert_eq!(Message::decode_payload(&bytes[4..]), Ok(m), "{name}");
        }
    }
}
