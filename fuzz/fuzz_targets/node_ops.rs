#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| qudag_peer_tests::fuzz_bodies::node_ops(data));
