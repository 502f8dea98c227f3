//! The wire format must not drift by accident: a snapshot of every message type's bytes, and
//! property tests for round trips and hostile byte streams.

use proptest::prelude::*;
use qudag_peer::channel::{RekeyLimits, SessionKeys, KEM_ENCAPSULATION_KEY_LEN, TAG_LEN};
use qudag_peer::wire::*;
use serde_bytes::ByteBuf;

/// The shared example body ([`HandshakeBody::example`]).
fn body(kem_len: usize) -> HandshakeBody {
    HandshakeBody::example(kem_len)
}

/// A node that listens on QUIC too: the optional field is encoded after the others.
fn quic_body() -> HandshakeBody {
    HandshakeBody::example_quic()
}

fn dump(bytes: &[u8]) -> String {
    let mut s = format!("{} bytes\n", bytes.len());
    for chunk in bytes.chunks(32) {
        s.push_str(&hex::encode(chunk));
        s.push('\n');
    }
    s
}

#[test]
fn every_message_type_has_stable_bytes() {
    // The one table of example messages, shared with the fuzz seeds and the codec benches.
    for (name, m) in Message::examples() {
        let bytes = m.encode().unwrap();
        insta::assert_snapshot!(name, dump(&bytes));
        assert_eq!(
            Message::decode_payload(&bytes[4..]).unwrap(),
            m,
            "{name} round-trips"
        );
    }
}

#[test]
fn quic_listen_addr_is_optional_on_the_wire() {
    // Without a QUIC listener the field is left out of the encoding, and a body without it
    // decodes with the field absent.
    let old = body(KEM_ENCAPSULATION_KEY_LEN).to_cbor();
    let t = MessageType::Handshake;
    assert!(!old.windows(16).any(|w| w == b"quic_listen_addr"));
    assert_eq!(
        HandshakeBody::from_cbor(t, &old).unwrap(),
        body(KEM_ENCAPSULATION_KEY_LEN)
    );
    let new = quic_body().to_cbor();
    assert!(new.windows(16).any(|w| w == b"quic_listen_addr"));
    assert_eq!(HandshakeBody::from_cbor(t, &new).unwrap(), quic_body());
}

#[test]
fn quic_listen_addr_length_limit() {
    let t = MessageType::Handshake;
    let with = |len: usize| HandshakeBody {
        quic_listen_addr: Some("q".repeat(len)),
        ..body(KEM_ENCAPSULATION_KEY_LEN)
    };
    let at = with(MAX_LISTEN_ADDR_LEN);
    assert_eq!(HandshakeBody::from_cbor(t, &at.to_cbor()).unwrap(), at);
    let over = HandshakeBody::from_cbor(t, &with(MAX_LISTEN_ADDR_LEN + 1).to_cbor());
    assert!(
        matches!(
            over,
            Err(WireError::FieldLength {
                field: "quic_listen_addr",
                ..
            })
        ),
        "{over:?}"
    );
}

#[test]
fn sealed_frames_have_stable_bytes() {
    // A test vector for the sealed layout: fixed direction keys, counters 0 and 1.
    let keys = SessionKeys {
        send: [0x0a; 32],
        recv: [0x0b; 32],
    };
    let (mut sealer, _) = keys.split(RekeyLimits::default());
    let ping = Message::Ping(Ping { nonce: 5 });
    let f0 = sealer.seal_message(&ping).unwrap();
    let f1 = sealer.seal_message(&ping).unwrap();
    assert_eq!(f0.len(), 14 + TAG_LEN);
    assert_eq!(&f0[..4], &(10 + TAG_LEN as u32).to_be_bytes());
    assert_ne!(f0, f1, "the counter changes the nonce");
    insta::assert_snapshot!("sealed_ping_counters_0_1", dump(&[f0, f1].concat()));
    // The other end opens them in order.
    let back = SessionKeys {
        send: [0x0b; 32],
        recv: [0x0a; 32],
    };
    let (_, mut opener) = back.split(RekeyLimits::default());
    let (mut s2, _) = keys.split(RekeyLimits::default());
    for _ in 0..2 {
        let f = s2.seal_message(&ping).unwrap();
        assert_eq!(opener.open(&f[4..]).unwrap(), ping);
    }
}

#[test]
fn small_messages_byte_exact() {
    // Written out by hand from docs/PROTOCOL.md, independent of the encoder.
    let ping = Message::Ping(Ping { nonce: 5 }).encode().unwrap();
    assert_eq!(
        ping,
        [0, 0, 0, 10, 1, 0x10, 0xa1, 0x65, b'n', b'o', b'n', b'c', b'e', 0x05]
    );
    let ack = Message::DisconnectAck.encode().unwrap();
    assert_eq!(ack, [0, 0, 0, 3, 1, 0x21, 0xa0]);
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<u64>().prop_map(|n| Message::Ping(Ping { nonce: n })),
        any::<u64>().prop_map(|n| Message::Pong(Ping { nonce: n })),
        (any::<u16>(), ".{0,60}")
            .prop_map(|(r, t)| Message::Disconnect(Disconnect { reason: r, text: t })),
        Just(Message::DisconnectAck),
        any::<u32>().prop_map(|m| Message::GetPeers(GetPeers { max: m })),
        prop::collection::vec("[a-z0-9.:]{1,40}", 0..50)
            .prop_map(|a| Message::Peers(Peers { addresses: a })),
        prop::collection::vec(any::<u8>(), 0..2000).prop_map(|p| Message::App(App {
            payload: ByteBuf::from(p)
        })),
    ]
}

proptest! {
    #[test]
    fn encode_decode_round_trip_at_any_split(msgs in prop::collection::vec(arb_message(), 1..8), cuts in prop::collection::vec(1usize..300, 1..20)) {
        let mut stream = Vec::new();
        for m in &msgs {
            m.encode_into(&mut stream).unwrap();
        }
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        let mut rest = &stream[..];
        let mut i = 0;
        while !rest.is_empty() {
            let chunk = cuts[i % cuts.len()].min(rest.len());
            i += 1;
            let mut piece = &rest[..chunk];
            rest = &rest[chunk..];
            while !piece.is_empty() {
                let n = d.push(piece).unwrap();
                piece = &piece[n..];
                while let Some(m) = d.next_message().unwrap() {
                    out.push(m);
                }
            }
        }
        prop_assert_eq!(out, msgs);
    }

    #[test]
    fn random_streams_never_panic_and_stay_bounded(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..20)) {
        let mut d = FrameDecoder::new();
        'outer: for c in &chunks {
            let mut piece = &c[..];
            while !piece.is_empty() {
                match d.push(piece) {
                    Ok(n) => piece = &piece[n..],
                    Err(_) => break 'outer,
                }
                prop_assert!(d.buffered() <= LENGTH_PREFIX_LEN + MAX_FRAME_LEN);
                loop {
                    match d.next_message() {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
            }
        }
    }

    #[test]
    fn random_payloads_decode_or_error(payload in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = Message::decode_payload(&payload);
    }

    #[test]
    fn valid_header_random_body_never_panics(t in any::<u8>(), body in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut p = vec![FRAME_VERSION, t];
        p.extend_from_slice(&body);
        let _ = Message::decode_payload(&p);
    }
}
