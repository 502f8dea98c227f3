//! The shared conformance suite on the smol adapter (`smol::block_on`, 20 s per test).

use futures_lite::FutureExt;
use std::future::Future;
use std::time::Duration;

fn block_on<F: Future>(f: F) -> F::Output {
    smol::block_on(f.or(async {
        async_io::Timer::after(Duration::from_secs(20)).await;
        panic!("test timed out after 20 s")
    }))
}

async fn sleep(d: Duration) {
    async_io::Timer::after(d).await;
}

qudag_peer_tests::conformance_suite!(adapter: qudag_peer_smol, block_on: block_on, sleep: sleep);

qudag_peer_tests::dnsmasq_conformance!(adapter: qudag_peer_smol, block_on: block_on, sleep: sleep);
