//! Identifiers: node identities, connections and operator requests.
//!
//! A [`NodeId`] is the SHA-256 hash of a node's dilithium3 public key under a domain
//! separation prefix (see [`crate::identity`]). It is printed and parsed as 64 lowercase hex
//! characters. A [`ConnId`] names one transport connection and is allocated by the core.

use std::fmt;
use std::str::FromStr;

/// Length in bytes of a [`NodeId`].
pub(crate) const NODE_ID_LEN: usize = 32;

/// The identity of a node: SHA-256 over the domain separator and its public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub [u8; NODE_ID_LEN]);

impl NodeId {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; NODE_ID_LEN] {
        &self.0
    }

    /// The full lowercase hex form (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex characters followed by `...`, as in the spec's peer table.
    pub fn short(&self) -> String {
        format!("{}...", &hex::encode(&self.0[..4]))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", &hex::encode(&self.0[..6]))
    }
}

/// Why a string is not a [`NodeId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeIdError {
    /// The string does not have exactly 64 characters.
    #[error("a node id has 64 hex characters, this one has {0}")]
    Length(usize),
    /// A character is not a hex digit.
    #[error("a node id is hex (0-9, a-f); found {0:?} at position {1}")]
    NotHex(char, usize),
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((i, c)) = s.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(NodeIdError::NotHex(c, i));
        }
        if s.len() != NODE_ID_LEN * 2 {
            return Err(NodeIdError::Length(s.chars().count()));
        }
        let mut out = [0u8; NODE_ID_LEN];
        hex::decode_to_slice(s, &mut out).map_err(|_| NodeIdError::Length(s.len()))?;
        Ok(NodeId(out))
    }
}

impl serde::Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A transport connection, allocated by the core (outbound in `Output::Dial`, inbound by
/// `Node::accept`). Never reused within one `Node`'s lifetime.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// An operator request whose result arrives later as an event (e.g. `add_peer`).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct RequestId(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_hex_round_trip_and_errors() {
        let id = NodeId([0xab; 32]);
        let s = id.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<NodeId>().unwrap(), id);
        assert_eq!(id.short(), "abababab...");
        assert_eq!("abc".parse::<NodeId>(), Err(NodeIdError::Length(3)));
        assert!(matches!(
            "zz".repeat(32).parse::<NodeId>(),
            Err(NodeIdError::NotHex('z', 0))
        ));
    }
}
