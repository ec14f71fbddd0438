// The dashboard's HTML: one document with its CSS and JS inline, charts drawn as inline SVG, no external asset of any
// kind (no CDN, no font, no favicon fetch), so it works on an air-gapped admin port and under a strict CSP.
// The script polls `dashboard/data` (relative: it also works behind a path-prefixing proxy) once a second and
// writes the numbers with textContent only: addresses and policy names never become markup.
//
// The script's SHA-256 goes into the Content-Security-Policy (dashboard.ts), so it is the only script the browser
// will run on this page. It is written without template literals so it can sit inside String.raw below.
import { createHash } from "node:crypto";

const STYLE = String.raw`
:root { --bg:#f6f7f9; --panel:#fff; --fg:#1d2430; --muted:#667085; --line:#e4e7ec; --grid:#eef0f3;
  --c1:#8b95a1; --c2:#2f9e5f; --c3:#3a7fc8; --c4:#e3a21a; --c5:#d9453d; --c0:#8e6bbf; --deny:#c2410c; --rl:#7c3aed; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#0f1318; --panel:#171c23; --fg:#e6e9ee; --muted:#98a2b3; --line:#2a313b; --grid:#222831; }
}
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
header { display:flex; flex-wrap:wrap; align-items:center; gap:8px 14px; padding:12px 20px; background:var(--panel);
  border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; letter-spacing:.2px; }
header .meta { color:var(--muted); }
header nav { margin-left:auto; display:flex; gap:12px; }
a { color:var(--c3); text-decoration:none; } a:hover { text-decoration:underline; }
.badge { padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; background:var(--grid); }
.badge.LIVE { background:#d7f2e1; color:#17663a; } .badge.DRAINING { background:#fdecc8; color:#8a5a00; }
@media (prefers-color-scheme: dark) { .badge.LIVE { background:#173d28; color:#8ee0ae; } .badge.DRAINING { background:#4a3a12; color:#f5cf7a; } }
.dot { display:inline-block; width:8px; height:8px; border-radius:50%; background:var(--c2); margin-right:5px; }
.dot.down { background:var(--c5); }
main { padding:16px 20px 24px; max-width:1400px; margin:0 auto; }
.hint { padding:10px 14px; border-radius:6px; margin-bottom:10px; border:1px solid; }
.hint.warn { background:#fff4e5; border-color:#f5c27a; color:#6b4100; }
.hint.info { background:#eaf2fc; border-color:#a9c8ef; color:#1f4b80; }
@media (prefers-color-scheme: dark) { .hint.warn { background:#3a2a0f; color:#f6d49a; border-color:#6b4a14; }
  .hint.info { background:#13243a; color:#b7d2f5; border-color:#2a4a75; } }
.tiles { display:grid; grid-template-columns:repeat(auto-fit,minmax(170px,1fr)); gap:12px; margin-bottom:12px; }
.tile, .panel { background:var(--panel); border:1px solid var(--line); border-radius:8px; }
.tile { padding:10px 14px; }
.tile .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.4px; }
.tile .value { font-size:28px; font-weight:600; font-variant-numeric:tabular-nums; }
.tile .sub { color:var(--muted); font-size:12px; font-variant-numeric:tabular-nums; min-height:1.4em; }
.panel { padding:12px 14px; margin-bottom:12px; min-width:0; }
.panel h2 { font-size:14px; margin:0 0 8px; display:flex; align-items:baseline; gap:8px; flex-wrap:wrap; }
.panel h2 small { color:var(--muted); font-weight:400; }
.legend { display:flex; gap:12px; flex-wrap:wrap; font-size:12px; color:var(--muted); margin-left:auto; font-weight:400; }
.legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
.chart { position:relative; height:170px; }
.chart svg { display:block; width:100%; height:100%; }
.chart text { fill:var(--muted); font-size:10px; font-family:inherit; }
.chart .gridline { stroke:var(--grid); stroke-width:1; }
.chart .cursor { stroke:var(--muted); stroke-width:1; stroke-dasharray:3 3; }
.tip { position:absolute; top:4px; pointer-events:none; background:var(--panel); border:1px solid var(--line);
  border-radius:6px; padding:4px 8px; font-size:12px; white-space:nowrap; box-shadow:0 2px 6px rgba(0,0,0,.12); display:none; }
.grid2 { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:0 12px; }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
th { text-align:left; color:var(--muted); font-weight:500; font-size:12px; border-bottom:1px solid var(--line); padding:4px 6px; }
td { padding:4px 6px; border-bottom:1px solid var(--grid); }
td.num, th.num { text-align:right; }
td.key { word-break:break-word; }
td.addr { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; word-break:break-all; }
td.empty { color:var(--muted); text-align:center; padding:12px; }
.cluster { padding:6px 0; border-bottom:1px solid var(--grid); }
.cluster:last-child { border-bottom:0; }
.cluster .row { display:flex; justify-content:space-between; gap:8px; }
.cluster .name { font-weight:600; }
.bar { display:flex; height:8px; border-radius:4px; overflow:hidden; background:var(--grid); margin:5px 0 3px; }
.bar span { display:block; height:100%; }
.hosts { font-size:12px; color:var(--muted); font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
footer { color:var(--muted); font-size:12px; padding:0 20px 20px; max-width:1400px; margin:0 auto; }
`;

const SCRIPT = String.raw`
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var CLASS_NAMES = ["1xx", "2xx", "3xx", "4xx", "5xx", "no response"];
  var CLASS_VARS = ["--c1", "--c2", "--c3", "--c4", "--c5", "--c0"];
  var last = null;
  var hover = {};

  function $(id) { return document.getElementById(id); }
  function css(v) { return getComputedStyle(document.documentElement).getPropertyValue(v).trim(); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function setText(id, t) { var e = $(id); if (e.textContent !== t) e.textContent = t; }
  function int(n) { return Math.round(n).toLocaleString("en-US"); }
  function rate(x) { return Number.isInteger(x) || x >= 10 ? int(x) : x.toFixed(1); }
  function pct(part, whole) { return whole > 0 ? (100 * part / whole).toFixed(part === whole ? 0 : 1) + "%" : "\u2013"; }
  function duration(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
    return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m ? m + "m" + (x ? " " + x + "s" : "") : x + "s";
  }
  function ago(s) { return s === 0 ? "now" : s % 60 === 0 ? "-" + s / 60 + "m" : "-" + s + "s"; }
  function niceMax(v) {
    if (v <= 1) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), f = v / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  // One chart: layers of per-second values, stacked (areas) or not (lines), with a hover read-out.
  function chart(id, layers, stacked) {
    var box = $(id);
    var W = Math.max(300, box.clientWidth), H = box.clientHeight || 170;
    var L = 40, R = 8, T = 8, B = 18;
    var n = layers[0].values.length;
    var top = new Array(n).fill(0), max = 0, i, k;
    for (i = 0; i < n; i++) {
      var s = 0;
      for (k = 0; k < layers.length; k++) s = stacked ? s + layers[k].values[i] : Math.max(s, layers[k].values[i]);
      top[i] = s; if (s > max) max = s;
    }
    var ymax = niceMax(max);
    var x = function (j) { return L + (n <= 1 ? 0 : j * (W - L - R) / (n - 1)); };
    var y = function (v) { return T + (H - T - B) * (1 - v / ymax); };
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    [0, 0.5, 1].forEach(function (f) {
      var v = ymax * f;
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), "class": "gridline" }));
      var t = svg("text", { x: L - 6, y: y(v) + 3, "text-anchor": "end" });
      t.textContent = rate(v);
      root.appendChild(t);
    });
    for (var back = 0; back < n; back += 60) {
      var a = n - 1 - back;
      var tx = svg("text", { x: x(a), y: H - 4, "text-anchor": back === 0 ? "end" : a < 15 ? "start" : "middle" });
      tx.textContent = ago(back);
      root.appendChild(tx);
    }
    var base = new Array(n).fill(0);
    layers.forEach(function (layer) {
      var color = css(layer.color), d = "", j;
      if (stacked) {
        for (j = 0; j < n; j++) d += (j ? "L" : "M") + x(j).toFixed(1) + "," + y(base[j] + layer.values[j]).toFixed(1);
        for (j = n - 1; j >= 0; j--) d += "L" + x(j).toFixed(1) + "," + y(base[j]).toFixed(1);
        root.appendChild(svg("path", { d: d + "Z", fill: color, "fill-opacity": 0.85, stroke: "none" }));
        for (j = 0; j < n; j++) base[j] += layer.values[j];
      } else {
        for (j = 0; j < n; j++) d += (j ? "L" : "M") + x(j).toFixed(1) + "," + y(layer.values[j]).toFixed(1);
        root.appendChild(svg("path", { d: d, fill: "none", stroke: color, "stroke-width": 1.6 }));
      }
    });
    var cursor = svg("line", { y1: T, y2: H - B, "class": "cursor", visibility: "hidden" });
    root.appendChild(cursor);
    var hit = svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "transparent" });
    root.appendChild(hit);
    var tip = box.querySelector(".tip") || box.appendChild(el("div", "tip"));
    function show(j) {
      if (j === undefined || j < 0 || j >= n) { cursor.setAttribute("visibility", "hidden"); tip.style.display = "none"; return; }
      cursor.setAttribute("x1", x(j)); cursor.setAttribute("x2", x(j)); cursor.setAttribute("visibility", "visible");
      var parts = [ago(n - 1 - j) + ":"];
      layers.forEach(function (l) { if (l.values[j] || !stacked) parts.push(l.name + " " + int(l.values[j])); });
      if (stacked) parts.push("total " + int(top[j]));
      tip.textContent = parts.join("  ");
      tip.style.display = "block";
      var left = x(j) + 10;
      tip.style.left = (left + tip.offsetWidth > W ? x(j) - 10 - tip.offsetWidth : left) + "px";
    }
    hit.addEventListener("mousemove", function (ev) {
      var r = root.getBoundingClientRect();
      var px = (ev.clientX - r.left) * W / r.width;
      hover[id] = Math.round((px - L) * (n - 1) / (W - L - R));
      show(hover[id]);
    });
    hit.addEventListener("mouseleave", function () { hover[id] = undefined; show(undefined); });
    var old = box.querySelector("svg");
    if (old) box.replaceChild(root, old); else box.insertBefore(root, tip);
    show(hover[id]);
  }

  function legend(id, items) {
    var box = $(id);
    if (box.childNodes.length) return;
    items.forEach(function (it) {
      var s = el("span"), i = el("i");
      i.style.background = css(it.color);
      s.appendChild(i); s.appendChild(document.createTextNode(it.name));
      box.appendChild(s);
    });
  }

  function spark(values) {
    var W = 90, H = 18, n = values.length, m = Math.max.apply(null, values.concat([1])), d = "";
    for (var j = 0; j < n; j++) d += (j ? "L" : "M") + (j * W / Math.max(1, n - 1)).toFixed(1) + "," + (H - 1 - (H - 2) * values[j] / m).toFixed(1);
    var s = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H });
    s.appendChild(svg("path", { d: d, fill: "none", stroke: css("--c3"), "stroke-width": 1.3 }));
    return s;
  }

  // "rbac_access_denied_matched_policy[office-only]" -> "office-only"; [none]: no policy matched.
  function policyName(details) {
    var m = /^rbac_access_denied_matched_policy\[(.*)\]$/.exec(details);
    return !m ? details : m[1] === "none" ? "none (no policy matched)" : m[1];
  }

  // Top-k table. The counts come from bounded summaries: "~" marks an estimate (error > 0).
  function topTable(id, entries, total, emptyText, isAddress) {
    var body = $(id).tBodies[0];
    var rows = [];
    entries.forEach(function (e, i) {
      var tr = el("tr");
      tr.appendChild(el("td", "num", String(i + 1)));
      var key = el("td", isAddress ? "addr" : "key", isAddress ? e.key : policyName(e.key));
      key.title = e.key;
      tr.appendChild(key);
      var c = el("td", "num", (e.error > 0 ? "~" : "") + int(e.count));
      if (e.error > 0) c.title = "estimate: within \u00b1" + int(e.error);
      tr.appendChild(c);
      tr.appendChild(el("td", "num", int(e.lastMinute)));
      tr.appendChild(el("td", "num", pct(Math.min(e.count, total), total)));
      var sp = el("td"); sp.appendChild(spark(e.series)); tr.appendChild(sp);
      rows.push(tr);
    });
    if (!rows.length) { var tr = el("tr"), td = el("td", "empty", emptyText); td.colSpan = 6; tr.appendChild(td); rows.push(tr); }
    body.replaceChildren.apply(body, rows);
  }

  function upstreams(list) {
    var box = $("upstreams"), out = [];
    list.forEach(function (u) {
      var c = el("div", "cluster"), row = el("div", "row");
      row.appendChild(el("span", "name", u.name));
      row.appendChild(el("span", "", u.total ? int(u.healthy) + " / " + int(u.total) + " healthy" : "no hosts"));
      c.appendChild(row);
      var bar = el("div", "bar");
      [["healthy", "--c2"], ["degraded", "--c4"], ["unhealthy", "--c5"], ["excluded", "--c1"]].forEach(function (p) {
        if (!u[p[0]]) return;
        var s = el("span"); s.style.width = (100 * u[p[0]] / u.total) + "%"; s.style.background = css(p[1]);
        s.title = u[p[0]] + " " + p[0]; bar.appendChild(s);
      });
      c.appendChild(bar);
      var bad = u.hosts.filter(function (h) { return h.health !== "healthy"; });
      if (bad.length) {
        var shown = bad.slice(0, 5).map(function (h) { return h.address + " " + h.flags; });
        if (bad.length > 5) shown.push("\u2026 " + (u.total - u.healthy - 5) + " more");
        c.appendChild(el("div", "hosts", shown.join("  \u00b7  ")));
      }
      out.push(c);
    });
    if (!out.length) out.push(el("div", "hosts", "no clusters"));
    box.replaceChildren.apply(box, out);
  }

  function render(d) {
    last = d;
    setText("version", d.server.version);
    var st = $("state"); st.className = "badge " + d.server.state; setText("state", d.server.state);
    setText("uptime", "up " + duration(d.server.uptimeSeconds));
    setText("connections", d.server.connections === null ? "\u2013" : int(d.server.connections));
    var hints = $("hints");
    hints.replaceChildren.apply(hints, d.hints.map(function (h) { return el("div", "hint " + h.level, h.text); }));
    upstreams(d.upstreams);
    var a = d.activity;
    if (!a) return;
    var w = a.totals.window, m = a.totals.lastMinute, s = a.totals.lastSecond;
    var span = Math.max(1, Math.min(60, d.server.uptimeSeconds));
    setText("rps", rate(s.requests));
    setText("rps-sub", "avg " + rate(m.requests / span) + "/s over the last minute");
    setText("window-label", "Requests, last " + duration(a.windowSeconds));
    setText("total-window", int(w.requests));
    setText("total-sub", int(m.requests) + " in the last minute");
    setText("errors-minute", int(m.byClass[3] + m.byClass[4]));
    setText("errors-sub", "4xx " + int(m.byClass[3]) + " \u00b7 5xx " + int(m.byClass[4]) + " \u00b7 " + pct(m.byClass[3] + m.byClass[4], m.requests));
    setText("denied-minute", int(m.rbacDenied));
    setText("denied-sub", int(w.rbacDenied) + " in " + duration(a.windowSeconds));
    setText("limited-minute", int(m.rateLimited));
    setText("limited-sub", int(w.rateLimited) + " in " + duration(a.windowSeconds));
    // Charts leave out the current second: it is still filling.
    var cut = function (v) { return v.slice(0, v.length - 1); };
    var classes = a.series.byClass.map(function (v, c) { return { name: CLASS_NAMES[c], color: CLASS_VARS[c], values: cut(v) }; });
    classes.push({ name: CLASS_NAMES[5], color: CLASS_VARS[5], values: cut(a.series.noResponse) });
    chart("chart-status", classes, true);
    chart("chart-policy", [
      { name: "RBAC denied", color: "--deny", values: cut(a.series.rbacDenied) },
      { name: "rate limited", color: "--rl", values: cut(a.series.rateLimited) },
    ], false);
    topTable("top-clients", a.topClients, w.requests, "no requests yet", true);
    topTable("top-limited", a.topRateLimited, w.rateLimited, "nobody rate limited", true);
    topTable("top-denied", a.topDenied, w.rbacDenied, "nobody denied", true);
    topTable("top-reasons", a.topDenyReasons, w.rbacDenied, "no denials", false);
  }

  function status(ok, why) {
    $("conn-dot").className = ok ? "dot" : "dot down";
    setText("conn-text", ok ? "updated " + new Date().toLocaleTimeString() : "disconnected (" + why + "), retrying");
  }

  function poll() {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, 5000);
    fetch("dashboard/data", { cache: "no-store", signal: ctl.signal })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (d) { render(d); status(true); })
      .catch(function (e) { status(false, e && e.name === "AbortError" ? "timeout" : e && e.message || "error"); })
      .finally(function () { clearTimeout(timer); setTimeout(poll, document.hidden ? 5000 : 1000); });
  }

  legend("legend-status", CLASS_NAMES.map(function (n, c) { return { name: n, color: CLASS_VARS[c] }; }));
  legend("legend-policy", [{ name: "RBAC denied", color: "--deny" }, { name: "rate limited", color: "--rl" }]);
  window.addEventListener("resize", function () { if (last) render(last); });
  poll();
})();
`;

function topTableHtml(id: string, keyHeading: string): string {
  return (
    `<table id="${id}"><thead><tr><th class="num">#</th><th>${keyHeading}</th><th class="num">requests (window)</th>` +
    `<th class="num">last min</th><th class="num">share</th><th>trend</th></tr></thead><tbody></tbody></table>`
  );
}

/** base64 SHA-256 of the inline script, for the CSP's script-src. */
export const DASHBOARD_SCRIPT_SHA256 = createHash("sha256").update(SCRIPT, "utf8").digest("base64");

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tollgate dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Tollgate</h1>
  <span class="meta" id="version"></span>
  <span class="badge" id="state">&ndash;</span>
  <span class="meta" id="uptime"></span>
  <span class="meta"><span class="dot down" id="conn-dot"></span><span id="conn-text">connecting&hellip;</span></span>
  <nav><a href="stats">stats</a><a href="stats/prometheus">prometheus</a><a href="clusters">clusters</a><a href="config_dump">config_dump</a><a href="help">help</a></nav>
</header>
<main>
<div id="hints"></div>
<section class="tiles">
  <div class="tile"><div class="label">Requests / s</div><div class="value" id="rps">&ndash;</div><div class="sub" id="rps-sub"></div></div>
  <div class="tile"><div class="label" id="window-label">Requests, window</div><div class="value" id="total-window">&ndash;</div><div class="sub" id="total-sub"></div></div>
  <div class="tile"><div class="label">Errors, last min</div><div class="value" id="errors-minute">&ndash;</div><div class="sub" id="errors-sub"></div></div>
  <div class="tile"><div class="label">RBAC denied, last min</div><div class="value" id="denied-minute">&ndash;</div><div class="sub" id="denied-sub"></div></div>
  <div class="tile"><div class="label">Rate limited, last min</div><div class="value" id="limited-minute">&ndash;</div><div class="sub" id="limited-sub"></div></div>
  <div class="tile"><div class="label">Open connections</div><div class="value" id="connections">&ndash;</div><div class="sub">all listeners</div></div>
</section>
<section class="panel"><h2>Requests per second by status<span class="legend" id="legend-status"></span></h2>
  <div class="chart" id="chart-status"><div class="tip"></div></div></section>
<section class="panel"><h2>RBAC denials and rate-limited requests per second<span class="legend" id="legend-policy"></span></h2>
  <div class="chart" id="chart-policy"><div class="tip"></div></div></section>
<div class="grid2">
  <section class="panel"><h2>Top clients <small>by real client address (PROXY protocol, then trusted X-Forwarded-For)</small></h2>
    ${topTableHtml("top-clients", "client")}</section>
  <section class="panel"><h2>Upstream health <small>healthy / hosts per cluster</small></h2><div id="upstreams"></div></section>
  <section class="panel"><h2>Rate-limited clients</h2>${topTableHtml("top-limited", "client")}</section>
  <section class="panel"><h2>RBAC-denied clients</h2>${topTableHtml("top-denied", "client")}</section>
  <section class="panel"><h2>Denials by policy</h2>${topTableHtml("top-reasons", "policy")}</section>
</div>
</main>
<footer>Client addresses are the stream's trusted client address, the one RBAC <code>remote_ip</code> and rate limits
use. Per-client counts come from bounded top-100 summaries kept per 10-second slice: "~" marks an estimate (hover for
its bound). JSON: <a href="dashboard/data">dashboard/data</a>.</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
