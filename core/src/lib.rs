//! # qudag-peer: sans-IO peer management for the QuDAG network
//!
//! This crate decides; it never performs I/O. It holds the peer state machine ([`peer`]), the
//! connection pool ([`pool`]), the signed post-quantum handshake ([`handshake`]) and the sealed
//! channel that follows it ([`channel`]: ML-KEM-768, ChaCha20-Poly1305), the wire codec
//! ([`wire`]), the address parser ([`addr`]), the SOCKS5 client negotiation ([`socks5`]),
//! reputation and bans, and drives them all from [`Node`].
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
//!                 cause: qudag_peer::node::IoFailure::Refused,
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

pub mod addr;
pub mod addrbook;
pub mod bans;
pub mod channel;
pub mod config;
pub mod dns;
pub mod handshake;
pub mod id;
pub mod identity;
pub mod inbound_limit;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod pool;
pub mod reputation;
pub mod rng;
pub mod socks5;
pub mod time;
pub mod wire;

pub use addr::Transport;
pub use config::Config;
pub use id::{ConnId, NodeId, RequestId};
pub use identity::Identity;
pub use node::{Event, Input, Node, Output};
pub use time::UnixMillis;
