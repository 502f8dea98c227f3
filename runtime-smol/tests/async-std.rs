//! The smol adapter driven from async-std: its sockets, timers and tasks need no smol executor
//! on the calling side.

use qudag_peer::{PeerState, Priority};
use qudag_peer_tests::conformance::local_config;
use qudag_peer_tests::keys;
use std::time::{Duration, Instant};

#[test]
fn two_node_handshake_under_async_std() {
    async_std::task::block_on(async {
        async_std::future::timeout(Duration::from_secs(20), async {
            let a = qudag_peer_smol::spawn(local_config(0), keys::identity(0)).expect("spawn a");
            let b = qudag_peer_smol::spawn(local_config(1), keys::identity(1)).expect("spawn b");
            let r = b
                .add_peer(&a.local_addr().to_string(), Priority::Normal)
                .await;
            assert_eq!(r, Ok(a.node_id()));
            let start = Instant::now();
            loop {
                let on_a = a.peers().await;
                if on_a.len() == 1 && on_a[0].status == PeerState::Connected {
                    assert_eq!(on_a[0].id, Some(b.node_id()));
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(10), "{on_a:?}");
                async_std::task::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(b.peers().await[0].id, Some(a.node_id()));
            b.shutdown().await;
            a.shutdown().await;
        })
        .await
        .expect("test timed out after 20 s")
    });
}
