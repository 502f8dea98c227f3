// The QuDAG node dashboard: polls the node's own /api/dashboard and draws plain SVG charts.
// No libraries, no requests anywhere else.
"use strict";

const REFRESH_MS = 3000;
const MAX_BARS = 8;
const SVG_NS = "http://www.w3.org/2000/svg";
const W = 400, H = 160, PAD_L = 34, PAD_R = 8, PAD_T = 10, PAD_B = 22;

let previousBytes = new Map(); // peer key -> {bytes, t}

function $(id) { return document.getElementById(id); }

function el(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function fmtBytes(n) {
  if (n == null) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + u[i];
}

function fmtNum(n) {
  if (n == null || Number.isNaN(n)) return "–";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function noData(svg, msg) {
  svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "nodata" }, msg));
}

function axes(svg, max) {
  svg.appendChild(el("line", { x1: PAD_L, y1: H - PAD_B, x2: W - PAD_R, y2: H - PAD_B, class: "axis" }));
  svg.appendChild(el("line", { x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: H - PAD_B, class: "axis" }));
  svg.appendChild(el("text", { x: PAD_L - 4, y: PAD_T + 8, "text-anchor": "end" }, fmtNum(max)));
  svg.appendChild(el("text", { x: PAD_L - 4, y: H - PAD_B, "text-anchor": "end" }, "0"));
}

// A line over time: points = [{t (ms), v (number or null)}].
function lineChart(svg, points, what) {
  clear(svg);
  const pts = points.filter(p => p.v != null);
  if (pts.length === 0) { noData(svg, "no " + what + " yet"); return; }
  const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
  const max = Math.max(1, ...pts.map(p => p.v)) * 1.1;
  axes(svg, max);
  const x = t => PAD_L + (W - PAD_L - PAD_R) * (t - t0) / (t1 - t0);
  const y = v => H - PAD_B - (H - PAD_T - PAD_B) * v / max;
  const coords = pts.length === 1
    ? [[PAD_L, y(pts[0].v)], [W - PAD_R, y(pts[0].v)]]
    : pts.map(p => [x(p.t), y(p.v)]);
  svg.appendChild(el("polyline", { points: coords.map(c => c[0].toFixed(1) + "," + c[1].toFixed(1)).join(" "), class: "line" }));
  const span = Math.round((t1 - t0) / 1000);
  svg.appendChild(el("text", { x: PAD_L, y: H - 6 }, "−" + span + " s"));
  svg.appendChild(el("text", { x: W - PAD_R, y: H - 6, "text-anchor": "end" }, "now: " + fmtNum(pts[pts.length - 1].v)));
}

// Vertical bars: items = [{label, value, cls}].
function barChart(svg, items) {
  clear(svg);
  if (items.length === 0) { noData(svg, "nothing yet"); return; }
  const max = Math.max(1, ...items.map(i => i.value));
  axes(svg, max);
  const slot = (W - PAD_L - PAD_R) / items.length;
  const bw = Math.max(2, slot * 0.7);
  items.forEach((it, k) => {
    const h = (H - PAD_T - PAD_B) * it.value / max;
    const x = PAD_L + k * slot + (slot - bw) / 2;
    const r = el("rect", { x: x.toFixed(1), y: (H - PAD_B - h).toFixed(1), width: bw.toFixed(1), height: h.toFixed(1), class: "bar " + (it.cls || ""), "data-label": it.label, "data-value": it.value });
    r.appendChild(el("title", {}, it.label + ": " + it.value));
    svg.appendChild(r);
    svg.appendChild(el("text", { x: (x + bw / 2).toFixed(1), y: H - 8, "text-anchor": "middle" }, it.label));
    if (it.value > 0) svg.appendChild(el("text", { x: (x + bw / 2).toFixed(1), y: (H - PAD_B - h - 2).toFixed(1), "text-anchor": "middle" }, fmtNum(it.value)));
  });
}

// Horizontal bars, one or two values per row: items = [{label, values: [a, b?]}].
function hbarChart(svg, items, legend) {
  clear(svg);
  if (items.length === 0) { noData(svg, "no connected peers"); return; }
  const shown = items.slice(0, MAX_BARS);
  const max = Math.max(1, ...shown.flatMap(i => i.values));
  const left = 110, right = legend ? 120 : 40, row = (H - PAD_T - 4) / Math.max(shown.length, 4);
  shown.forEach((it, k) => {
    const y = PAD_T + k * row;
    svg.appendChild(el("text", { x: left - 4, y: (y + row * 0.6).toFixed(1), "text-anchor": "end" }, it.label));
    const bh = (row * 0.8) / it.values.length;
    it.values.forEach((v, j) => {
      const w = (W - left - right) * v / max;
      const r = el("rect", { x: left, y: (y + j * bh).toFixed(1), width: Math.max(w, 1).toFixed(1), height: Math.max(bh - 1, 1).toFixed(1), class: "bar" + (j === 1 ? " alt" : ""), "data-label": it.label, "data-value": v });
      r.appendChild(el("title", {}, it.label + (legend ? " " + legend[j] : "") + ": " + v));
      svg.appendChild(r);
    });
    svg.appendChild(el("text", { x: (left + (W - left - right) * Math.max(...it.values) / max + 4).toFixed(1), y: (y + row * 0.6).toFixed(1) }, it.values.map(legend ? fmtBytes : fmtNum).join(" / ")));
  });
  if (items.length > MAX_BARS) svg.appendChild(el("text", { x: W - PAD_R, y: H - 2, "text-anchor": "end" }, "+" + (items.length - MAX_BARS) + " more"));
}

function td(text, cls, title) {
  const c = document.createElement("td");
  if (cls) c.className = cls;
  if (title) c.title = title;
  c.textContent = text;
  return c;
}

function renderTable(peers, now) {
  const body = $("peer-rows");
  clear(body);
  $("peer-count").textContent = "(" + peers.length + ")";
  if (peers.length === 0) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    tr.appendChild(td("no live connections", "", ""));
    tr.firstChild.colSpan = 11;
    body.appendChild(tr);
    return;
  }
  const next = new Map();
  for (const p of peers) {
    const key = p.id || p.address;
    const bytes = p.bytes_sent + p.bytes_received;
    const prev = previousBytes.get(key);
    let rate = "–";
    if (prev && now > prev.t && bytes >= prev.bytes) rate = fmtBytes((bytes - prev.bytes) * 1000 / (now - prev.t)) + "/s";
    next.set(key, { bytes, t: now });
    const tr = document.createElement("tr");
    tr.className = "peer-row";
    if (p.id) tr.dataset.peerId = p.id;
    const idCell = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = p.id ? p.id.slice(0, 16) + "…" : "(handshake pending)";
    if (p.id) { code.title = p.id; code.dataset.peerId = p.id; }
    idCell.appendChild(code);
    tr.appendChild(idCell);
    tr.appendChild(td(p.address));
    tr.appendChild(td(p.status, "st-" + p.status));
    tr.appendChild(td(p.direction));
    tr.appendChild(td(p.latency_ms == null ? "–" : p.latency_ms + " ms", "num"));
    tr.appendChild(td(String(p.reputation_score), "num"));
    tr.appendChild(td(fmtNum(p.messages_exchanged), "num"));
    tr.appendChild(td(fmtBytes(p.bytes_sent), "num", p.bytes_sent + " bytes"));
    tr.appendChild(td(fmtBytes(p.bytes_received), "num", p.bytes_received + " bytes"));
    tr.appendChild(td(rate, "num"));
    tr.appendChild(td(p.connected_since || "–"));
    body.appendChild(tr);
  }
  previousBytes = next;
}

function render(d) {
  const m = d.metrics, c = m.counters, now = d.generated_at_ms;
  $("node-id").textContent = d.node_id.slice(0, 16) + "…";
  $("node-id").title = d.node_id;
  const by = m.peers_by_status || {};
  $("v-connected").textContent = by.connected || 0;
  $("v-direction").textContent = (m.connected_by_direction.inbound || 0) + " in, " + (m.connected_by_direction.outbound || 0) + " out";
  $("v-pending").textContent = (by.connecting || 0) + " / " + (by.handshaking || 0);
  $("v-known").textContent = m.known_addresses;
  $("v-bans").textContent = m.active_bans;
  const tried = d.dials.succeeded + d.dials.failed;
  $("v-dials").textContent = tried ? Math.round(100 * d.dials.succeeded / tried) + " %" : "–";
  $("v-dials-sub").textContent = d.dials.succeeded + " ok, " + d.dials.failed + " failed";
  const lat = c.latency;
  $("v-latency").textContent = lat.count ? (lat.sum * 1000 / lat.count).toFixed(1) + " ms" : "–";
  $("v-latency-sub").textContent = lat.count + " ping samples";
  const conc = m.concentration;
  $("v-hhi").textContent = conc.hhi.toFixed(2);
  $("v-entropy").textContent = "entropy " + conc.entropy_bits.toFixed(2) + " bits, " + Object.keys(conc.per_netgroup).length + " netgroups";

  lineChart($("chart-peers"), d.history.map(s => ({ t: s.t, v: s.connected })), "samples");
  lineChart($("chart-latency"), d.history.map(s => ({ t: s.t, v: s.mean_latency_ms })), "latency samples");
  const deciles = ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-100"];
  barChart($("chart-reputation"), deciles.map(k => ({ label: k.split("-")[0], value: (m.reputation_distribution || {})[k] || 0 })));
  const outcomes = [];
  for (const [k, v] of Object.entries(c.dial_outcomes)) outcomes.push({ label: "dial " + k, value: v, cls: k === "connected" ? "alt" : "bad" });
  for (const [k, v] of Object.entries(c.connections)) outcomes.push({ label: "in/out " + k, value: v, cls: "alt" });
  for (const [k, v] of Object.entries(c.handshake_failures)) outcomes.push({ label: "hs " + k, value: v, cls: "bad" });
  barChart($("chart-outcomes"), outcomes);
  hbarChart($("chart-bandwidth"), m.peers.map(p => ({ label: p.id.slice(0, 12), values: [p.bytes_sent, p.bytes_received] }))
    .sort((a, b) => (b.values[0] + b.values[1]) - (a.values[0] + a.values[1])), ["sent", "received"]);
  hbarChart($("chart-netgroups"), Object.entries(conc.per_netgroup).map(([g, n]) => ({ label: g, values: [n] }))
    .sort((a, b) => b.values[0] - a.values[0]));
  renderTable(d.peers, now);
}

async function refresh() {
  const status = $("status");
  try {
    const r = await fetch("/api/dashboard", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    const d = await r.json();
    render(d);
    status.className = "status ok";
    status.textContent = "live · updated " + new Date(d.generated_at_ms).toLocaleTimeString();
  } catch (e) {
    status.className = "status error";
    status.textContent = "cannot reach the node (" + e.message + ")";
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
