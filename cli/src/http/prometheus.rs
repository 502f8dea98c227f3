//! The Prometheus text format (0.0.4) of the core's [`MetricsSnapshot`], encoded by
//! `prometheus-client`: every family is listed in `docs/METRICS.md` (a test checks it) and
//! used by the Grafana dashboard in `contrib/grafana/` (a test checks that too).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use qudag_peer::MetricsSnapshot;

/// The Prometheus text format's content type.
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Peer-connection states always exported (zero when empty) so that dashboards see them.
const STATUSES: [&str; 3] = ["connecting", "handshaking", "connected"];
/// Reputation deciles, always exported.
const DECILES: [&str; 10] = [
    "0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-100",
];

/// The snapshot as a `prometheus-client` collector.
#[derive(Debug)]
struct SnapshotCollector(MetricsSnapshot);

/// A metric family being written: a descriptor and its samples.
struct Family<'e> {
    enc: prometheus_client::encoding::MetricEncoder<'e>,
}

impl Family<'_> {
    fn counter(&mut self, labels: &[(&str, &str)], v: u64) -> std::fmt::Result {
        ConstCounter::new(v).encode(self.enc.encode_family(&labels.to_vec())?)
    }
    fn gauge(&mut self, labels: &[(&str, &str)], v: f64) -> std::fmt::Result {
        ConstGauge::new(v).encode(self.enc.encode_family(&labels.to_vec())?)
    }
    fn gauge_i(&mut self, labels: &[(&str, &str)], v: usize) -> std::fmt::Result {
        let v = i64::try_from(v).unwrap_or(i64::MAX);
        ConstGauge::new(v).encode(self.enc.encode_family(&labels.to_vec())?)
    }
}

fn family<'e>(
    enc: &'e mut DescriptorEncoder<'_>,
    name: &'e str,
    help: &str,
    unit: Option<&'e Unit>,
    kind: MetricType,
) -> Result<Family<'e>, std::fmt::Error> {
    Ok(Family {
        enc: enc.encode_descriptor(name, help, unit, kind)?,
    })
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        use MetricType::{Counter, Gauge};
        let m = &self.0;
        let c = &m.counters;
        let seconds = Unit::Seconds;
        let bytes = Unit::Bytes;

        let mut f = family(
            &mut e,
            "qudag_peers",
            "Live peer connections by state.",
            None,
            Gauge,
        )?;
        for s in STATUSES {
            f.gauge_i(
                &[("status", s)],
                m.peers_by_status.get(s).copied().unwrap_or(0),
            )?;
        }
        for (s, n) in m
            .peers_by_status
            .iter()
            .filter(|(s, _)| !STATUSES.contains(s))
        {
            f.gauge_i(&[("status", *s)], *n)?;
        }
        let mut f = family(
            &mut e,
            "qudag_peers_connected",
            "Connected peers by direction.",
            None,
            Gauge,
        )?;
        for (d, n) in &m.connected_by_direction {
            f.gauge_i(&[("direction", *d)], *n)?;
        }
        family(
            &mut e,
            "qudag_known_addresses",
            "Addresses in the address book.",
            None,
            Gauge,
        )?
        .gauge_i(&[], m.known_addresses)?;
        family(&mut e, "qudag_bans_active", "Active bans.", None, Gauge)?
            .gauge_i(&[], m.active_bans)?;
        let mut f = family(
            &mut e,
            "qudag_peers_by_reputation",
            "Connected peers per reputation decile (range of the 0-100 score).",
            None,
            Gauge,
        )?;
        for d in DECILES {
            f.gauge_i(
                &[("range", d)],
                m.reputation_distribution.get(d).copied().unwrap_or(0),
            )?;
        }

        let labelled = |e: &mut DescriptorEncoder,
                        name: &str,
                        help: &str,
                        label: &str,
                        map: &std::collections::BTreeMap<&'static str, u64>|
         -> std::fmt::Result {
            let mut f = family(e, name, help, None, Counter)?;
            for (k, v) in map {
                f.counter(&[(label, *k)], *v)?;
            }
            Ok(())
        };
        labelled(
            &mut e,
            "qudag_peer_connections",
            "Handshakes completed, by direction.",
            "direction",
            &c.connections,
        )?;
        labelled(
            &mut e,
            "qudag_peer_disconnections",
            "Connected peers that went away, by disconnect reason.",
            "reason",
            &c.disconnections,
        )?;
        labelled(
            &mut e,
            "qudag_handshake_failures",
            "Connections that ended before the handshake completed, by cause.",
            "reason",
            &c.handshake_failures,
        )?;
        labelled(
            &mut e,
            "qudag_inbound_refused",
            "Inbound connections refused before any handshake, by reason.",
            "reason",
            &c.inbound_refused,
        )?;
        family(
            &mut e,
            "qudag_dials",
            "Outbound dials started.",
            None,
            Counter,
        )?
        .counter(&[], c.dials)?;
        labelled(
            &mut e,
            "qudag_dial_outcomes",
            "Outbound dial outcomes.",
            "outcome",
            &c.dial_outcomes,
        )?;
        let mut f = family(
            &mut e,
            "qudag_pex_requests",
            "Peer-exchange requests (GetPeers), sent and received.",
            None,
            Counter,
        )?;
        f.counter(&[("direction", "sent")], c.pex_requests_sent)?;
        f.counter(&[("direction", "received")], c.pex_requests_received)?;
        let mut f = family(
            &mut e,
            "qudag_pex_answers",
            "Peer-exchange answers (Peers): sent, and received and accepted.",
            None,
            Counter,
        )?;
        f.counter(&[("direction", "sent")], c.pex_answers_sent)?;
        f.counter(&[("direction", "received")], c.pex_answers_received)?;
        family(
            &mut e,
            "qudag_pex_refused",
            "Peer-exchange messages refused (over the rate limit, unsolicited).",
            None,
            Counter,
        )?
        .counter(&[], c.pex_refused)?;
        family(
            &mut e,
            "qudag_pex_addresses_learned",
            "Addresses learned from peer-exchange answers.",
            None,
            Counter,
        )?
        .counter(&[], c.pex_addresses_added)?;
        family(
            &mut e,
            "qudag_dns_queries",
            "DNS queries sent (retries included).",
            None,
            Counter,
        )?
        .counter(&[], c.dns_queries)?;
        family(
            &mut e,
            "qudag_dns_failures",
            "DNS questions that failed.",
            None,
            Counter,
        )?
        .counter(&[], c.dns_failures)?;
        labelled(
            &mut e,
            "qudag_bans",
            "Bans added, by origin.",
            "origin",
            &c.bans,
        )?;
        family(
            &mut e,
            "qudag_closed_connection_messages",
            "Frames sent and received by connections that have ended.",
            None,
            Counter,
        )?
        .counter(&[], c.closed_messages)?;
        family(
            &mut e,
            "qudag_closed_connection",
            "Bytes sent and received by connections that have ended.",
            Some(&bytes),
            Counter,
        )?
        .counter(&[], c.closed_bytes)?;

        // The latency histogram (the core keeps per-bucket counts; the encoder accumulates).
        let h = &c.latency;
        let buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(h.counts.iter().copied())
            .collect();
        let mut enc = e.encode_descriptor(
            "qudag_peer_latency",
            "Ping round-trip times.",
            Some(&seconds),
            MetricType::Histogram,
        )?;
        enc.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            h.sum, h.count, &buckets, None,
        )?;

        // Per connected peer.
        let mut f = family(
            &mut e,
            "qudag_peer_messages",
            "Frames sent plus received on the connection to a peer.",
            None,
            Counter,
        )?;
        for p in &m.peers {
            f.counter(&[("peer", p.id.as_str())], p.messages)?;
        }
        let mut f = family(
            &mut e,
            "qudag_peer_sent",
            "Bytes sent to a connected peer.",
            Some(&bytes),
            Counter,
        )?;
        for p in &m.peers {
            f.counter(&[("peer", p.id.as_str())], p.bytes_sent)?;
        }
        let mut f = family(
            &mut e,
            "qudag_peer_received",
            "Bytes received from a connected peer.",
            Some(&bytes),
            Counter,
        )?;
        for p in &m.peers {
            f.counter(&[("peer", p.id.as_str())], p.bytes_received)?;
        }
        let mut f = family(
            &mut e,
            "qudag_peer_rtt",
            "Smoothed ping round trip to a connected peer (peers without a sample are left out).",
            Some(&seconds),
            Gauge,
        )?;
        for p in &m.peers {
            if let Some(l) = p.latency_seconds {
                f.gauge(&[("peer", p.id.as_str())], l)?;
            }
        }
        let mut f = family(
            &mut e,
            "qudag_peer_reputation",
            "Reputation score (0-100) of a connected peer.",
            None,
            Gauge,
        )?;
        for p in &m.peers {
            f.gauge_i(
                &[("peer", p.id.as_str()), ("netgroup", p.netgroup.as_str())],
                p.reputation as usize,
            )?;
        }

        // Netgroup concentration (eclipse risk).
        let conc = &m.concentration;
        let mut f = family(
            &mut e,
            "qudag_netgroup_peers",
            "Connected peers per netgroup.",
            None,
            Gauge,
        )?;
        for (g, n) in &conc.per_netgroup {
            f.gauge_i(&[("netgroup", g.as_str())], *n)?;
        }
        family(
            &mut e,
            "qudag_netgroup_hhi",
            "Herfindahl-Hirschman index of connected peers across netgroups (1 = all in one).",
            None,
            Gauge,
        )?
        .gauge(&[], conc.hhi)?;
        family(
            &mut e,
            "qudag_netgroup_entropy_bits",
            "Shannon entropy of connected peers across netgroups, in bits.",
            None,
            Gauge,
        )?
        .gauge(&[], conc.entropy_bits)?;
        Ok(())
    }
}

/// The snapshot in the Prometheus text format (version 0.0.4).
pub fn encode_prometheus(m: &MetricsSnapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(m.clone())));
    let mut out = String::new();
    // Writing into a String cannot fail; a failure would be an encoder bug: say so in the text.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        out = format!("# encoding failed: {e}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tests::empty_snapshot;
    use crate::http::MAX_HTTP_CONNECTIONS;

    #[test]
    fn empty_snapshot_encodes() {
        let text = encode_prometheus(&empty_snapshot());
        assert!(text.contains("# TYPE qudag_peers gauge"), "{text}");
        assert!(
            text.contains("qudag_peers{status=\"connected\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE qudag_peer_latency_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("qudag_peer_latency_seconds_bucket{le=\"+Inf\"} 0"),
            "{text}"
        );
        assert!(text.contains("qudag_dials_total 0"), "{text}");
        assert!(
            text.contains("qudag_peers_by_reputation{range=\"90-100\"} 0"),
            "{text}"
        );
        assert!(!text.contains("encoding failed"), "{text}");
    }

    /// Every exported family name (histograms with their `_bucket`, `_sum`, `_count` series).
    fn exported_names() -> Vec<(String, String)> {
        let text = encode_prometheus(&empty_snapshot());
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                out.push((name.to_string(), kind.to_string()));
            }
        }
        out
    }

    fn series_names() -> Vec<String> {
        let mut names = Vec::new();
        for (name, kind) in exported_names() {
            if kind == "histogram" {
                for s in ["_bucket", "_sum", "_count"] {
                    names.push(format!("{name}{s}"));
                }
            }
            names.push(name);
        }
        names
    }

    /// Every `qudag_…` token of a PromQL expression.
    fn metric_tokens(expr: &str) -> Vec<String> {
        let mut out = Vec::new();
        let b = expr.as_bytes();
        let mut i = 0;
        while let Some(pos) = expr[i..].find("qudag_") {
            let start = i + pos;
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            out.push(expr[start..end].to_string());
            i = end;
        }
        out
    }

    #[test]
    fn grafana_dashboard_uses_only_exported_metrics() {
        let text = include_str!("../../../contrib/grafana/qudag-peer.json");
        let v: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        let names = series_names();
        let panels = v["panels"].as_array().expect("panels");
        assert!(panels.len() >= 10);
        let mut used = std::collections::BTreeSet::new();
        for p in panels {
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{}", p["title"]);
            for t in targets {
                let expr = t["expr"].as_str().expect("expr");
                let tokens = metric_tokens(expr);
                assert!(!tokens.is_empty(), "no qudag metric in {expr}");
                for tok in tokens {
                    assert!(names.contains(&tok), "{expr}: {tok} is not exported");
                    used.insert(tok);
                }
            }
        }
        // And every family is on some panel.
        for (name, kind) in exported_names() {
            let on = if kind == "histogram" {
                used.iter().any(|u| u.starts_with(&name))
            } else {
                used.contains(&name)
            };
            assert!(on, "{name} is on no Grafana panel");
        }
    }

    #[test]
    fn every_metric_is_documented() {
        let doc = include_str!("../../../docs/METRICS.md");
        for (name, kind) in exported_names() {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/METRICS.md lacks `{name}`"
            );
            assert!(doc.contains(&kind), "{kind}");
        }
        assert!(doc.contains(&format!("{MAX_HTTP_CONNECTIONS}")));
    }

    #[test]
    fn snapshot_figures_are_exported_as_they_are() {
        let mut m = empty_snapshot();
        for v in [0.003, 0.003, 0.2, 7.0] {
            m.counters.latency.observe(v);
        }
        m.counters.dials = 5;
        m.counters.bans.insert("operator", 1);
        m.counters.disconnections.insert("timeout", 2);
        m.concentration = qudag_peer::Concentration::from_groups(["a", "a", "b", "b"]);
        m.reputation_distribution.insert("50-59", 3);
        let text = encode_prometheus(&m);
        for line in [
            "qudag_peer_latency_seconds_bucket{le=\"0.0025\"} 0",
            "qudag_peer_latency_seconds_bucket{le=\"0.005\"} 2",
            "qudag_peer_latency_seconds_bucket{le=\"0.25\"} 3",
            "qudag_peer_latency_seconds_bucket{le=\"5\"} 3",
            "qudag_peer_latency_seconds_bucket{le=\"+Inf\"} 4",
            "qudag_peer_latency_seconds_count 4",
            "qudag_dials_total 5",
            "qudag_bans_total{origin=\"operator\"} 1",
            "qudag_peer_disconnections_total{reason=\"timeout\"} 2",
            "qudag_netgroup_peers{netgroup=\"a\"} 2",
            "qudag_netgroup_hhi 0.5",
            "qudag_netgroup_entropy_bits 1.0",
            "qudag_peers_by_reputation{range=\"50-59\"} 3",
            "qudag_peers_by_reputation{range=\"60-69\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        let sum = text
            .lines()
            .find_map(|l| l.strip_prefix("qudag_peer_latency_seconds_sum "))
            .unwrap();
        assert!((sum.parse::<f64>().unwrap() - 7.206).abs() < 1e-9, "{sum}");
    }
}
