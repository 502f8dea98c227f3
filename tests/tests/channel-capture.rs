//! What a passive observer of the wire sees, over real TCP on loopback (Tokio adapter): two
//! nodes handshake through a recording TCP relay; after the handshake neither a known
//! application payload (sent with the handle's `send_app`) nor an address exchanged by PEX
//! appears in the captured bytes, in either direction.

use qudag_peer::wire::{Message, MessageType};
use qudag_peer::Event;
use qudag_peer::Priority;
use qudag_peer_tests::conformance::local_config;
use qudag_peer_tests::keys;
use qudag_peer_tests::script::{frames, split_first_frame};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Tape = Arc<Mutex<Vec<u8>>>;

/// Copies `from` to `to`, appending everything to `tape`.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    tape: Tape,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tape.lock().unwrap().extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// A relay on 127.0.0.9 to `target` that records both directions of its first connection.
async fn recording_relay(target: std::net::SocketAddr) -> (std::net::SocketAddr, Tape, Tape) {
    let listener = TcpListener::bind("127.0.0.9:0").await.expect("bind relay");
    let addr = listener.local_addr().expect("relay addr");
    let (up, down): (Tape, Tape) = Default::default();
    let (u, d) = (up.clone(), down.clone());
    tokio::spawn(async move {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let Ok(server) = TcpStream::connect(target).await else {
            return;
        };
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        tokio::spawn(pipe(cr, sw, u));
        tokio::spawn(pipe(sr, cw, d));
    });
    (addr, up, down)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The plain handshake frames at the head of `tape` (`n` of them) and the bytes after them.
fn after_handshake(tape: &[u8], types: &[MessageType]) -> Vec<u8> {
    let mut rest = tape;
    for t in types {
        let (first, tail) = split_first_frame(rest);
        let got = frames(first);
        assert_eq!(
            got.iter().map(Message::message_type).collect::<Vec<_>>(),
            vec![*t],
            "the handshake travels as plain frames"
        );
        rest = tail;
    }
    rest.to_vec()
}

#[test]
fn nothing_after_the_handshake_is_readable_on_the_wire() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), run())
            .await
            .expect("test timed out after 30 s")
    });
}

async fn run() {
    // B knows C (connected directly), so B's PEX answer to A carries C's address.
    let b = qudag_peer_tokio::spawn(local_config(1), keys::identity(980)).expect("spawn B");
    let c = qudag_peer_tokio::spawn(local_config(2), keys::identity(981)).expect("spawn C");
    c.add_peer(&b.local_addr().to_string(), Priority::Normal)
        .await
        .expect("C connects to B");
    let c_addr = c.local_addr().to_string();

    // A reaches B only through the recording relay.
    let (relay, up, down) = recording_relay(b.local_addr()).await;
    let a = qudag_peer_tokio::spawn(local_config(0), keys::identity(982)).expect("spawn A");
    let mut a_events = a.events();
    let mut b_events = b.events();
    let b_id = a
        .add_peer(&relay.to_string(), Priority::Normal)
        .await
        .expect("A connects to B through the relay");
    assert_eq!(b_id, b.node_id());

    // A (outbound, pex) asks B for addresses: wait for the answer.
    let mut learned = false;
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_millis(100), a_events.recv()).await {
            Ok(Ok(Event::PeersReceived { peer, .. })) if peer == b_id => {
                learned = true;
                break;
            }
            _ => {}
        }
    }
    assert!(learned, "A got B's PEX answer");
    let book_has_c = a
        .with_node(move |n, _| {
            n.address_book()
                .iter()
                .any(|e| e.addr.to_string().contains(&c_addr))
        })
        .await
        .expect("A answers");
    assert!(book_has_c, "the PEX answer carried C's address");

    // A known payload, both ways.
    let payload = b"attack at dawn: the plaintext an eavesdropper must not see".to_vec();
    a.send_app(b_id, payload.clone()).await.expect("send A->B");
    b.send_app(a.node_id(), payload.clone())
        .await
        .expect("send B->A");
    let mut delivered = false;
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_millis(100), b_events.recv()).await {
            Ok(Ok(Event::Message { payload: p, .. })) if p == payload => {
                delivered = true;
                break;
            }
            _ => {}
        }
    }
    assert!(delivered, "B received A's payload (through the relay)");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let up = up.lock().unwrap().clone();
    let down = down.lock().unwrap().clone();
    let sealed_up = after_handshake(
        &up,
        &[MessageType::Handshake, MessageType::HandshakeConfirm],
    );
    let sealed_down = after_handshake(&down, &[MessageType::HandshakeResponse]);
    // The application payload and the PEX answer did travel after the handshake...
    assert!(sealed_up.len() > payload.len(), "{} bytes", sealed_up.len());
    assert!(sealed_down.len() > payload.len() + c.local_addr().to_string().len());
    // ...but none of it is readable: not the payload, not C's address, not even the CBOR keys
    // of the messages, and not a single plain frame.
    let c_text = c.local_addr().to_string();
    for (dir, bytes) in [("A->B", &sealed_up), ("B->A", &sealed_down)] {
        assert!(!contains(bytes, &payload), "{dir}: payload in clear");
        assert!(
            !contains(bytes, c_text.as_bytes()),
            "{dir}: PEX address in clear"
        );
        for key in [&b"payload"[..], b"addresses", b"nonce"] {
            assert!(
                !contains(bytes, key),
                "{dir}: {:?} in clear",
                String::from_utf8_lossy(key)
            );
        }
        assert!(
            frames(bytes).is_empty(),
            "{dir}: a plain frame after the handshake"
        );
    }
    // Control: the same checks do find the payload in a plain frame.
    let plain = Message::App(qudag_peer::wire::App {
        payload: serde_bytes::ByteBuf::from(payload.clone()),
    })
    .encode()
    .unwrap();
    assert!(contains(&plain, &payload) && contains(&plain, b"payload"));

    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}
