//! The shared conformance suite on the Tokio adapter (current-thread runtime, 20 s per test).

use std::future::Future;
use std::time::Duration;

fn block_on<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), f).await })
        .expect("test timed out after 20 s")
}

qudag_peer_tests::conformance_suite!(
    adapter: qudag_peer_tokio,
    block_on: block_on,
    sleep: tokio::time::sleep,
);

qudag_peer_tests::dnsmasq_conformance!(
    adapter: qudag_peer_tokio,
    block_on: block_on,
    sleep: tokio::time::sleep,
);
