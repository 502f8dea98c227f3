//! What a total score calls for: the thresholds of `[network.reputation]`.

use crate::config::ReputationConfig;

/// What a total score calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ThresholdAction {
    /// Keep the peer.
    None,
    /// Disconnect the peer (total below `auto_disconnect`).
    Disconnect,
    /// Ban the peer (total below `auto_ban`).
    Ban,
}

/// Reputation-based actions (spec 5.3). "Below X" means strictly less than X.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ReputationThresholds {
    /// Minimum total to relay messages and be shared in PEX. Default 30.
    pub min_relay: u32,
    /// Minimum total to be offered as a consensus peer. Default 50.
    pub min_consensus: u32,
    /// Disconnect below this total. Default 20.
    pub auto_disconnect: u32,
    /// Ban below this total. Default 10.
    pub auto_ban: u32,
}

impl Default for ReputationThresholds {
    fn default() -> Self {
        ReputationThresholds {
            min_relay: 30,
            min_consensus: 50,
            auto_disconnect: 20,
            auto_ban: 10,
        }
    }
}

impl From<&ReputationConfig> for ReputationThresholds {
    fn from(c: &ReputationConfig) -> Self {
        ReputationThresholds {
            min_relay: c.min_relay_reputation,
            min_consensus: c.min_consensus_reputation,
            auto_disconnect: c.auto_disconnect_threshold,
            auto_ban: c.auto_ban_threshold,
        }
    }
}

impl ReputationThresholds {
    /// Ban below `auto_ban`, else disconnect below `auto_disconnect`, else nothing.
    pub(crate) fn action(&self, total: u32) -> ThresholdAction {
        if total < self.auto_ban {
            ThresholdAction::Ban
        } else if total < self.auto_disconnect {
            ThresholdAction::Disconnect
        } else {
            ThresholdAction::None
        }
    }

    /// Whether a peer with this total may relay messages (`total >= min_relay`).
    pub(crate) fn can_relay(&self, total: u32) -> bool {
        total >= self.min_relay
    }

    /// Whether a peer with this total may take part in consensus (`total >= min_consensus`).
    pub(crate) fn can_consensus(&self, total: u32) -> bool {
        total >= self.min_consensus
    }
}
