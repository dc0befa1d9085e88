// brokerd's web console: a static page that reads this broker's /v1 JSON
// API and /metrics (same origin; no other host, so it works offline). Pages
// are chosen by the URL fragment: #/, #/topics, #/topic/NAME, #/groups,
// #/group/ID. Read-only: the admin listener answers GET only.
"use strict";

const main = document.getElementById("main");
const HISTORY = 60; // chart points (one per scrape)
const SCRAPE_MS = 2000;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : String(k));
  return e;
}

function table(id, head, rows) {
  const t = el("table", { id });
  t.append(el("tr", {}, ...head.map((h) => el("th", {}, h))));
  for (const r of rows) {
    t.append(el("tr", {}, ...r.map((c) =>
      c instanceof Node ? el("td", {}, c)
        : el("td", typeof c === "number" ? { class: "num" } : {}, c))));
  }
  return t;
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
  return r.json();
}

// Prometheus text format: [{name, labels, value}] (comments skipped).
function parseMetrics(text) {
  const out = [];
  const re = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = re.exec(line);
    if (!m) continue;
    const labels = {};
    for (const lm of (m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1]] = lm[2].replace(/\\(.)/g, "$1");
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function sum(ms, name, pred) {
  return ms.filter((m) => m.name === name && (!pred || pred(m.labels)))
    .reduce((a, m) => a + m.value, 0);
}

// ---- live charts: rates from counters, scraped every SCRAPE_MS ----------

const series = { in: [], out: [], req: [] };
let last = null;

async function scrape() {
  try {
    const ms = parseMetrics(await (await fetch("/metrics")).text());
    const now = { t: Date.now(), in: sum(ms, "brokerd_topic_bytes_in_total"),
      out: sum(ms, "brokerd_topic_bytes_out_total"),
      req: sum(ms, "brokerd_requests_total") };
    if (last) {
      const dt = (now.t - last.t) / 1000;
      for (const k of ["in", "out", "req"]) {
        series[k].push(Math.max(0, (now[k] - last[k]) / dt));
        if (series[k].length > HISTORY) series[k].shift();
      }
    }
    last = now;
    document.getElementById("status").textContent =
      "updated " + new Date().toLocaleTimeString();
    drawCharts();
  } catch (e) {
    document.getElementById("status").textContent = "metrics: " + e.message;
  }
}

function human(v, unit) {
  const steps = ["", "K", "M", "G", "T"];
  let i = 0;
  while (v >= 1000 && i < steps.length - 1) { v /= 1000; i++; }
  return v.toFixed(v < 10 && i > 0 ? 1 : 0) + " " + steps[i] + unit;
}

function drawChart(canvas, data, unit) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...data);
  ctx.strokeStyle = "#dde2ea";
  ctx.strokeRect(0.5, 0.5, w - 1, h - 1);
  ctx.strokeStyle = "#2f6fd0";
  ctx.beginPath();
  data.forEach((v, i) => {
    const x = (i / (HISTORY - 1)) * (w - 2) + 1;
    const y = h - 2 - (v / max) * (h - 20);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  ctx.fillStyle = "#1d2330";
  ctx.font = "11px sans-serif";
  const cur = data.length ? data[data.length - 1] : 0;
  ctx.fillText("now " + human(cur, unit) + "   max " + human(max, unit), 6, 13);
}

function drawCharts() {
  const map = { "chart-in": ["in", "B/s"], "chart-out": ["out", "B/s"],
    "chart-req": ["req", "req/s"] };
  for (const [id, [k, unit]] of Object.entries(map)) {
    const c = document.getElementById(id);
    if (c) drawChart(c, series[k], unit);
  }
}

function chart(id, title) {
  return el("div", { class: "chart" }, el("h3", {}, title),
    el("canvas", { id, width: 360, height: 120 }));
}

// ---- pages ----------------------------------------------------------------

async function overview() {
  const [c, brokers] = await Promise.all([getJSON("/v1/cluster"),
    getJSON("/v1/brokers")]);
  return [
    el("h2", {}, "Cluster"),
    table("cluster", ["cluster id", "this node", "version", "active controller",
      "metadata offset", "raft term", "brokers", "topics"],
    [[c.cluster_id, c.node_id, c.version, c.controller_id, c.metadata_offset,
      c.raft_term, c.brokers, c.topics]]),
    el("h2", {}, "Brokers"),
    table("brokers", ["id", "host", "port", "rack", "state", "epoch"],
      brokers.map((b) => [b.id, b.host, b.port, b.rack || "",
        b.fenced ? "fenced" : b.in_controlled_shutdown ? "shutting down"
          : "active", b.epoch])),
    el("h2", {}, "Traffic"),
    el("div", { class: "charts" }, chart("chart-in", "Bytes in"),
      chart("chart-out", "Bytes out"), chart("chart-req", "Requests")),
  ];
}

async function topics() {
  const ts = await getJSON("/v1/topics");
  return [el("h2", {}, "Topics (" + ts.length + ")"),
    table("topics", ["name", "partitions", "replication factor", "id"],
      ts.map((t) => [el("a", { href: "#/topic/" + encodeURIComponent(t.name) },
        t.name), t.partitions, t.replication_factor, t.id]))];
}

async function topic(name) {
  const [t, ms] = await Promise.all([
    getJSON("/v1/topics/" + encodeURIComponent(name)),
    fetch("/metrics").then((r) => r.text()).then(parseMetrics)]);
  const of = (n) => sum(ms, n, (l) => l.topic === name);
  const parts = t.partitions_detail.map((p) => [p.partition, p.leader,
    p.leader_epoch, p.replicas.join(","), p.isr.join(","),
    p.isr.length < p.replicas.length
      ? el("span", { class: "warn" }, "under-replicated") : "ok"]);
  const cfg = Object.entries(t.configs).map(([k, v]) => [k, v]);
  return [
    el("h2", {}, "Topic " + name),
    table("topic-summary", ["partitions", "replication factor", "bytes in",
      "bytes out", "records in", "records out"],
    [[t.partitions, t.replication_factor, of("brokerd_topic_bytes_in_total"),
      of("brokerd_topic_bytes_out_total"), of("brokerd_topic_records_in_total"),
      of("brokerd_topic_records_out_total")]]),
    el("h2", {}, "Partitions"),
    table("partitions", ["partition", "leader", "leader epoch", "replicas",
      "ISR", "state"], parts),
    el("h2", {}, "Configs (set on the topic)"),
    cfg.length ? table("configs", ["name", "value"], cfg)
      : el("p", {}, "None: every setting is the broker's default."),
    el("h2", {}, "Records"),
    browser(name, t.partitions),
  ];
}

// ---- the record browser ----------------------------------------------------

function unb64(s) {
  if (s === null) return null;
  const bin = atob(s);
  const b = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
  return b;
}

function show(bytes, mode) {
  if (bytes === null) return el("i", {}, "null");
  if (mode === "hex") {
    return el("pre", {}, Array.from(bytes, (x) =>
      x.toString(16).padStart(2, "0")).join(" "));
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (mode === "json") {
    try { return el("pre", {}, JSON.stringify(JSON.parse(text), null, 2)); }
    catch (e) { return el("pre", { class: "error" }, "not JSON: " + text); }
  }
  return el("pre", {}, text);
}

function browser(name, nparts) {
  const out = el("div", { id: "records" });
  const part = el("select", { id: "rb-partition" },
    ...Array.from({ length: nparts }, (_, i) => el("option", { value: i }, i)));
  const from = el("input", { id: "rb-offset", placeholder: "log start",
    size: 12 });
  const ts = el("input", { id: "rb-timestamp", placeholder: "ms or ISO time",
    size: 18 });
  const limit = el("input", { id: "rb-limit", value: "20", size: 4 });
  const mode = el("select", { id: "rb-mode" },
    ...["text", "json", "hex"].map((m) => el("option", { value: m }, m)));
  const go = async (ev) => {
    if (ev) ev.preventDefault();
    let q = "limit=" + encodeURIComponent(limit.value || "20");
    if (ts.value) {
      const t = /^\d+$/.test(ts.value) ? Number(ts.value) : Date.parse(ts.value);
      q += "&timestamp=" + t;
    } else if (from.value) {
      q += "&offset=" + encodeURIComponent(from.value);
    }
    out.replaceChildren("Loading…");
    try {
      const r = await getJSON("/v1/topics/" + encodeURIComponent(name) +
        "/partitions/" + part.value + "/records?" + q);
      out.replaceChildren(
        el("p", { id: "rb-summary" }, "partition " + r.partition +
          ": log start " + r.log_start + ", high watermark " +
          r.high_watermark + ", " + r.records.length + " shown"),
        table("rb-table", ["offset", "timestamp", "key", "value", "headers"],
          r.records.map((x) => [x.offset, new Date(x.timestamp).toISOString(),
            show(unb64(x.key), mode.value), show(unb64(x.value), mode.value),
            el("div", {}, ...x.headers.map((h) => el("div", {},
              new TextDecoder().decode(unb64(h.key)) + ": ",
              show(unb64(h.value), mode.value))))])));
    } catch (e) {
      out.replaceChildren(el("p", { class: "error" }, e.message));
    }
  };
  const form = el("form", { class: "browse", onsubmit: go },
    el("label", {}, "partition", part), el("label", {}, "from offset", from),
    el("label", {}, "or from time", ts), el("label", {}, "limit", limit),
    el("label", {}, "view", mode), el("button", { id: "rb-go" }, "Show"));
  return el("div", {}, form, out);
}

// ---- groups -----------------------------------------------------------------

async function groups() {
  const gs = await getJSON("/v1/groups");
  return [el("h2", {}, "Consumer groups (" + gs.length + ")"),
    table("groups", ["group", "type", "state", "members"],
      gs.map((g) => [el("a", { href: "#/group/" + encodeURIComponent(g.group_id) },
        g.group_id), g.type, g.state, g.members]))];
}

async function group(id) {
  const [g, ts, ms] = await Promise.all([
    getJSON("/v1/groups/" + encodeURIComponent(id)), getJSON("/v1/topics"),
    fetch("/metrics").then((r) => r.text()).then(parseMetrics)]);
  const names = Object.fromEntries(ts.map((t) => [t.id, t.name]));
  const tp = (a) => (a.topic || names[a.topic_id] || a.topic_id) + "-" +
    a.partition;
  const lag = ms.filter((m) => m.name === "brokerd_group_lag" &&
    m.labels.group === id)
    .map((m) => [m.labels.topic, Number(m.labels.partition), m.value])
    .sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1]);
  return [
    el("h2", {}, "Group " + id),
    table("group-summary", ["type", "state", "members", "total lag"],
      [[g.type, g.state, g.members.length, lag.reduce((a, l) => a + l[2], 0)]]),
    el("h2", {}, "Members"),
    table("members", ["member", "client id", "host", "protocol", "assigned"],
      g.members.map((m) => [m.member_id, m.client_id || "", m.client_host || "",
        m.protocol, m.assignment.map(tp).join(", ")])),
    el("h2", {}, "Lag"),
    table("lag", ["topic", "partition", "lag"], lag),
  ];
}

// ---- routing -----------------------------------------------------------------

async function route() {
  const h = decodeURIComponent(location.hash.slice(1) || "/");
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === "#" + h);
  }
  let page;
  try {
    if (h.startsWith("/topic/")) page = await topic(h.slice(7));
    else if (h === "/topics") page = await topics();
    else if (h.startsWith("/group/")) page = await group(h.slice(7));
    else if (h === "/groups") page = await groups();
    else page = await overview();
    main.replaceChildren(...page);
    main.setAttribute("data-page", h);
    drawCharts();
  } catch (e) {
    main.replaceChildren(el("p", { class: "error", id: "error" }, e.message));
  }
}

window.addEventListener("hashchange", route);
route();
scrape();
setInterval(scrape, SCRAPE_MS);
