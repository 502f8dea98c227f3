//! # qudag-peer: sans-IO peer management for the QuDAG network
//!
//! This crate decides; it never performs I/O. It holds the peer state machine, the connection
//! pool, the signed post-quantum handshake, the wire codec, discovery, reputation and bans.
//!
//! What it does **not** do: open sockets, read files, read clocks, draw OS randomness, spawn
//! threads or use `async`. Time arrives in every input, randomness comes from a seed handed to
//! [`Node::new`], keys are handed in, and every action is an [`Output`] for a runtime adapter
//! (`qudag-peer-tokio`, `qudag-peer-smol`) or a simulator to carry out.
#![warn(missing_docs)]

pub mod addr;
pub mod bans;
pub mod config;
pub mod dns;
pub mod handshake;
pub mod id;
pub mod identity;
pub mod node;
pub mod peer;
pub mod pool;
pub mod reputation;
pub mod rng;
pub mod time;
pub mod wire;

pub use config::Config;
pub use id::{ConnId, NodeId, RequestId};
pub use identity::Identity;
pub use node::{Event, Input, Node, Output};
pub use time::UnixMillis;
