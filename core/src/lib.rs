//! # qudag-peer: sans-IO peer management for the QuDAG network
//!
//! This crate decides; it never performs I/O. It holds the peer state machine, the connection
//! pool, the signed post-quantum handshake and the sealed channel that follows it (ML-KEM-768,
//! ChaCha20-Poly1305), the wire codec, the address parser ([`PeerAddress`]), the SOCKS5 client
//! negotiation, reputation and bans, and drives them all from [`Node`]. Its modules are
//! private: what an application needs is re-exported here (the list below); test harnesses,
//! benchmarks and fuzz targets reach the internals through the `test-support` cargo feature,
//! which an application never enables.
//!
//! What it does **not** do: open sockets, read files, read clocks, draw OS randomness, spawn
//! threads or use `async`. Time arrives with every input, randomness comes from a seed handed
//! to [`Node::new`], keys are handed in (generate them outside, e.g. with
//! `pqcrypto_dilithium::dilithium3::keypair`), and every action is an [`Output`] for a runtime
//! adapter (`qudag-peer-tokio`, `qudag-peer-smol`) or a simulator to carry out. The same inputs
//! with the same seed and keys give the same outputs, byte for byte.
//!
//! ## The drive loop
//!
//! ```
//! use pqcrypto_traits::sign::{PublicKey as _, SecretKey as _};
//! use qudag_peer::{Config, Identity, Input, Node, Output, UnixMillis};
//! use std::time::Instant;
//!
//! let (pk, sk) = pqcrypto_dilithium::dilithium3::keypair(); // OS randomness: outside the core
//! let identity = Identity::from_bytes(pk.as_bytes(), sk.as_bytes()).unwrap();
//! let config = Config::local("127.0.0.1:8000".parse().unwrap());
//! let start = Instant::now();
//! let mut node = Node::new(config, identity, [7; 32], start, UnixMillis(1_760_000_000_000));
//!
//! // An operator command: dial a peer. The outcome arrives later as an event.
//! let request = node.add_peer("127.0.0.2:8000", Default::default(), start).unwrap();
//! loop {
//!     match node.poll_output() {
//!         Output::Dial { conn, addr, transport } => {
//!             // `transport` says TCP or QUIC; the frames are the same on both.
//!             // A runtime would connect to `addr` and later report the outcome:
//!             assert_eq!(addr.to_string(), "127.0.0.2:8000");
//!             assert_eq!(transport, qudag_peer::Transport::Tcp);
//!             node.handle_input(Input::ConnectFailed {
//!                 conn,
//!                 cause: qudag_peer::IoFailure::Refused,
//!                 now: start,
//!             });
//!         }
//!         Output::Transmit { .. } | Output::Close { .. } => { /* write / close the socket */ }
//!         Output::Event(e) => println!("event: {e:?}"),
//!         Output::Timeout { at, reason } => {
//!             // Nothing to do until `at` (or the next input); `reason` says which timer.
//!             let _ = (at, reason, request);
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! ```
//!
//! Each input method says when to call it: [`Node::handle_input`] for socket events and
//! timers, [`Node::accept`] (or [`Node::accept_via`] for QUIC) for a new inbound connection, the command methods ([`Node::add_peer`],
//! [`Node::remove_peer`], [`Node::shutdown`]) for operators; then drain [`Node::poll_output`]
//! until it returns [`Output::Timeout`].
#![warn(missing_docs)]
#![warn(unreachable_pub)]

// The modules, roughly in dependency order (`id` and `time` first, then the leaves `rng`,
// `wire`, `socks5`, `metrics`, ...; `node` last)
// (`scripts/check-module-cycles.sh` checks that there is no cycle). They are private; with the
// `test-support` feature they are public, for the harnesses in `tests/`, `benches/` and
// `fuzz/` (which need the codec, the handshake, sealers, the DNS client, ...). Without it,
// what only the crate uses is `pub(crate)`; what the harnesses also reach stays `pub` with an
// item-level `cfg_attr(not(feature = "test-support"), allow(unreachable_pub))` ("for
// harnesses"), so `unreachable_pub` holds every other item to the re-export list below.
macro_rules! modules {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "test-support")]
            $(#[$attr])*
            pub mod $name;
            #[cfg(not(feature = "test-support"))]
            $(#[$attr])*
            mod $name;
        )*
    };
}

// Private in every build: what they export is re-exported below, so `unreachable_pub` holds
// them to it.
mod id;
mod time;

modules! {
    // leaves: no `crate::` import
    rng, wire, socks5, metrics,
    // identities, addresses, the channel and the handshake
    identity, addr, dns, channel, handshake,
    // the node's parts
    limits, config,
    bans,
    peer, inbound_limit, addrbook,
    reputation,
    pool,
    // the coordinator
    node,
}

// The contract: drive a `Node` with `Input`s and commands, drain its `Output`s.
pub use node::{
    CommandError, DiscoveryStep, DurableState, Event, Input, IoFailure, Node, Output, PeerError,
    Stage, WakeReason, USER_AGENT,
};
// Configuration.
pub use config::{
    Config, NetworkConfig, PeersConfig, RangeError, ReputationConfig, DEFAULT_BOOTSTRAP_NODES,
    DEFAULT_DNS_SEEDS, MAX_CONFIG_LIST_LEN, MAX_MAX_CONNECTIONS,
};
pub use limits::Limits;
// Identities and ids.
pub use id::{ConnId, NodeId, NodeIdError, RequestId};
pub use identity::{Identity, IdentityError, PUBLIC_KEY_LEN, SECRET_KEY_LEN};
// Addresses.
pub use addr::{AddrError, NetGroup, PeerAddress, Transport};
// Peers, reputation, bans, metrics: what events, commands and views carry.
pub use addrbook::{AddrBook, Entry as AddrBookEntry, Source as AddrSource};
pub use bans::{Ban, BanOrigin, BanTarget, MAX_BAN_REASON_LEN};
pub use metrics::{Concentration, MetricsSnapshot};
pub use peer::{Direction, DisconnectReason, PeerInfo, PeerState, Priority};
pub use reputation::{
    DisconnectKind, Report, ReputationScore, ScoreChange, ThresholdAction, Violation,
};
pub use time::UnixMillis;
// What a runtime adapter needs to carry bytes: the frame limit and the DNS socket helpers.
pub use dns::{transient_udp_error, udp_route, MAX_DNS_RESPONSE_LEN, RESOLV_CONF_PATH};
pub use wire::MAX_FRAME_LEN;
