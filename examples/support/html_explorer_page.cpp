// The explorer's page: HTML, CSS and JavaScript in one template, with the data spliced in where it says
// /*DATA*/ (see html_explorer.h). Kept apart from the C++ that fills it so each reads in one sitting.
// Views: head view (lines from queries to keys, one colour per head), model view (a canvas heatmap per
// layer and head), numbers view (one query's row worked through in double). No network: a
// Content-Security-Policy forbids every request, and nothing is loaded from anywhere.
#include "support/html_explorer.h"

namespace qkv::explorer {

const char* page_template() {
  return R"qkvpage(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>qkv attention explorer</title>
<style>
body { font: 14px/1.4 "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { padding: 10px 16px; background: #1f2937; color: #f9fafb; }
header b { font-size: 16px; } header code { color: #fde68a; }
nav, .controls { padding: 8px 16px; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
nav button { border: 1px solid #999; background: #fff; padding: 4px 12px; border-radius: 4px; cursor: pointer; }
nav button.active { background: #1d4ed8; color: #fff; border-color: #1d4ed8; }
section { padding: 0 16px 16px; } section.hidden { display: none; }
.note { color: #666; font-size: 12px; }
.head-toggle { display: inline-block; padding: 2px 8px; margin-right: 4px; border-radius: 3px; color: #fff; cursor: pointer; user-select: none; }
.head-toggle.off { opacity: 0.25; }
#hv-scroll { position: relative; overflow-y: auto; max-height: 70vh; width: 560px; border: 1px solid #ddd; background: #fff; margin-top: 8px; }
#hv-inner { position: relative; width: 540px; }
.hv-tok { position: absolute; width: 130px; height: 18px; line-height: 18px; font-family: monospace; cursor: default; white-space: nowrap; overflow: hidden; }
.hv-tok-left { left: 4px; text-align: right; } .hv-tok-right { left: 406px; text-align: left; }
.hv-tok:hover, .hv-tok.hot { background: #fde68a; }
#hv-lines { position: absolute; left: 140px; top: 0; }
#mv-grid { display: grid; gap: 8px; margin-top: 8px; }
.mv-cell { text-align: center; font-size: 11px; cursor: pointer; }
.mv-cell canvas, #mv-large canvas { image-rendering: pixelated; border: 1px solid #ccc; background: #fff; }
#mv-large { margin-top: 12px; }
table.nv { border-collapse: collapse; font-family: monospace; font-size: 12px; margin-top: 8px; }
table.nv td, table.nv th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; vertical-align: top; }
table.nv td.vec { text-align: left; max-width: 420px; word-break: break-all; color: #444; }
table.nv tr.masked { color: #aaa; }
.vec-line { font-family: monospace; font-size: 12px; word-break: break-all; }
</style></head><body>
<header><b>qkv attention explorer</b> &nbsp; <span id="what"></span></header>
<nav><button data-view="head-view" class="active">Head view</button><button data-view="model-view">Model view</button><button data-view="numbers-view">Numbers</button>
<label>attention <select id="kind"></select></label><label>layer <select id="layer"></select></label></nav>
<section id="head-view">
<div class="note">Left: the queries (the tokens attending); right: the keys. A line's opacity is the attention weight; one colour per head (click a head to toggle it). Hover a token to see only its lines. Only the rows in view are drawn, and no line under 0.5% weight, so 256 tokens scroll without freezing.</div>
<div id="heads"></div>
<div id="hv-scroll"><div id="hv-inner"><svg id="hv-lines" width="260"></svg></div></div>
</section>
<section id="model-view" class="hidden">
<div class="note">Every layer (row) and head (column) of this kind of attention: queries down, keys across, brighter is more weight. Click a map to open it large, with its tokens.</div>
<div id="mv-grid"></div><div id="mv-large"></div>
</section>
<section id="numbers-view" class="hidden">
<div class="note">One query and one head, step by step, with the numbers the model used: scores q&middot;k, scaled by 1/&radic;Dh, masked, softmax, then the weighted sum of the values. The last column is the model's own attention weight, for comparison.</div>
<div class="controls"><label>query <select id="nv-query"></select></label><label>head <select id="nv-head"></select></label></div>
<div id="nv-body"></div>
</section>
<script id="qkv-data" type="application/json">/*DATA*/</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("qkv-data").textContent);
const ROW = 18, COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
const state = { kind: DATA.maps[0].kind, layer: 0, heads: null, hover: null, view: "head-view", query: 0, head: 0 };
const $ = (id) => document.getElementById(id);
const kinds = [...new Set(DATA.maps.map((m) => m.kind))];
function mapsOf(kind) { return DATA.maps.filter((m) => m.kind === kind); }
function current() { return mapsOf(state.kind).find((m) => m.layer === state.layer) || mapsOf(state.kind)[0]; }
function weight(m, h, t, s) { return m.weights[(h * m.T + t) * m.S + s]; }
function esc(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
function fmt(x) { return x === -Infinity ? "-&infin;" : Number(x).toFixed(4); }
function viridis(t) {
  const a = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  t = Math.min(Math.max(t, 0), 1) * 4; const i = Math.min(Math.floor(t), 3), f = t - i;
  return a[i].map((c, k) => Math.round(c + f * (a[i + 1][k] - c)));
}

// ---- controls ----
function fillSelect(sel, items, value) {
  sel.innerHTML = items.map(([v, text]) => `<option value="${v}"${String(v) === String(value) ? " selected" : ""}>${esc(text)}</option>`).join("");
}
function setupControls() {
  fillSelect($("kind"), kinds.map((k) => [k, k]), state.kind);
  fillSelect($("layer"), mapsOf(state.kind).map((m) => [m.layer, m.layer]), state.layer);
  const m = current();
  if (!state.heads || state.heads.length !== m.H) state.heads = new Array(m.H).fill(true);
  state.query = Math.min(state.query, m.T - 1); state.head = Math.min(state.head, m.H - 1);
  fillSelect($("nv-query"), m.query_tokens.map((t, i) => [i, i + ": " + t]), state.query);
  fillSelect($("nv-head"), Array.from({ length: m.H }, (_, h) => [h, "head " + h]), state.head);
}
$("kind").addEventListener("change", (e) => { state.kind = e.target.value; state.layer = mapsOf(state.kind)[0].layer; render(); });
$("layer").addEventListener("change", (e) => { state.layer = Number(e.target.value); render(); });
$("nv-query").addEventListener("change", (e) => { state.query = Number(e.target.value); renderNumbers(); });
$("nv-head").addEventListener("change", (e) => { state.head = Number(e.target.value); renderNumbers(); });
document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => {
  state.view = b.dataset.view;
  document.querySelectorAll("nav button").forEach((x) => x.classList.toggle("active", x === b));
  document.querySelectorAll("section").forEach((s) => s.classList.toggle("hidden", s.id !== state.view));
  render();
}));

// ---- head view ----
function renderHeadView() {
  const m = current(), inner = $("hv-inner");
  $("heads").innerHTML = Array.from({ length: m.H }, (_, h) =>
    `<span class="head-toggle${state.heads[h] ? "" : " off"}" data-head="${h}" style="background:${COLORS[h % COLORS.length]}">head ${h}</span>`).join("");
  document.querySelectorAll(".head-toggle").forEach((el) => el.addEventListener("click", () => {
    state.heads[Number(el.dataset.head)] = !state.heads[Number(el.dataset.head)]; renderHeadView();
  }));
  inner.querySelectorAll(".hv-tok").forEach((el) => el.remove());
  const rows = Math.max(m.T, m.S);
  inner.style.height = rows * ROW + "px"; $("hv-lines").setAttribute("height", rows * ROW);
  const html = [];
  m.query_tokens.forEach((t, i) => html.push(`<div class="hv-tok hv-tok-left" data-side="q" data-index="${i}" style="top:${i * ROW}px">${esc(t)}</div>`));
  m.key_tokens.forEach((t, j) => html.push(`<div class="hv-tok hv-tok-right" data-side="k" data-index="${j}" style="top:${j * ROW}px">${esc(t)}</div>`));
  inner.insertAdjacentHTML("beforeend", html.join(""));
  inner.querySelectorAll(".hv-tok").forEach((el) => {
    el.addEventListener("mouseover", () => { state.hover = { side: el.dataset.side, index: Number(el.dataset.index) }; drawLines(); });
    el.addEventListener("mouseout", () => { state.hover = null; drawLines(); });
    el.addEventListener("click", () => { if (el.dataset.side === "q") { state.query = Number(el.dataset.index); setupControls(); renderNumbers(); } });
  });
  drawLines();
}
// Lines only for the query rows in view (and, when a key is hovered, every line into it), none under 0.5%.
function drawLines() {
  const m = current(), box = $("hv-scroll"), svg = $("hv-lines");
  const first = Math.max(0, Math.floor(box.scrollTop / ROW) - 2), last = Math.min(m.T - 1, Math.ceil((box.scrollTop + box.clientHeight) / ROW) + 2);
  const hv = state.hover, parts = [];
  document.querySelectorAll(".hv-tok").forEach((el) => el.classList.toggle("hot", !!hv && el.dataset.side === hv.side && Number(el.dataset.index) === hv.index));
  const queries = hv && hv.side === "q" ? [hv.index] : hv && hv.side === "k" ? [...Array(m.T).keys()] : [...Array(last - first + 1).keys()].map((i) => i + first);
  for (let h = 0; h < m.H; ++h) {
    if (!state.heads[h]) continue;
    for (const t of queries) for (let s = 0; s < m.S; ++s) {
      if (hv && hv.side === "k" && s !== hv.index) continue;
      const w = weight(m, h, t, s);
      if (w < 0.005) continue;
      parts.push(`<line data-q="${t}" data-k="${s}" data-head="${h}" x1="0" y1="${t * ROW + ROW / 2}" x2="260" y2="${s * ROW + ROW / 2}" stroke="${COLORS[h % COLORS.length]}" stroke-width="2" stroke-opacity="${w.toFixed(3)}"/>`);
    }
  }
  svg.innerHTML = parts.join("");
}
$("hv-scroll").addEventListener("scroll", () => requestAnimationFrame(drawLines));

// ---- model view ----
function paint(canvas, m, h) {
  canvas.width = m.S; canvas.height = m.T;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(m.S, m.T);
  for (let t = 0; t < m.T; ++t) for (let s = 0; s < m.S; ++s) {
    const [r, g, b] = viridis(weight(m, h, t, s)), o = 4 * (t * m.S + s);
    img.data[o] = r; img.data[o + 1] = g; img.data[o + 2] = b; img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}
function renderModelView() {
  const maps = mapsOf(state.kind), H = maps[0].H, grid = $("mv-grid");
  grid.style.gridTemplateColumns = `repeat(${H}, 110px)`;
  grid.innerHTML = "";
  for (const m of maps) for (let h = 0; h < H; ++h) {
    const cell = document.createElement("div"), c = document.createElement("canvas");
    cell.className = "mv-cell"; paint(c, m, h);
    const scale = 96 / Math.max(m.T, m.S); c.style.width = m.S * scale + "px"; c.style.height = m.T * scale + "px";
    cell.append(c, document.createElement("br"), `layer ${m.layer} head ${h}`);
    cell.addEventListener("click", () => enlarge(m, h));
    grid.append(cell);
  }
}
function enlarge(m, h) {
  const cell = Math.max(4, Math.min(28, Math.floor(560 / Math.max(m.T, m.S)))), pad = 60;
  const c = document.createElement("canvas"); c.width = pad + m.S * cell; c.height = pad + m.T * cell;
  const ctx = c.getContext("2d"); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
  const every = Math.ceil(12 / cell);  // a label every `every` tokens, so they never overlap
  ctx.font = "11px monospace"; ctx.fillStyle = "#222";
  for (let t = 0; t < m.T; ++t) for (let s = 0; s < m.S; ++s) {
    const [r, g, b] = viridis(weight(m, h, t, s)); ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(pad + s * cell, pad + t * cell, cell, cell);
  }
  ctx.fillStyle = "#222"; ctx.textAlign = "right";
  for (let t = 0; t < m.T; t += every) ctx.fillText(m.query_tokens[t], pad - 4, pad + t * cell + cell / 2 + 4);
  for (let s = 0; s < m.S; s += every) { ctx.save(); ctx.translate(pad + s * cell + cell / 2 + 4, pad - 4); ctx.rotate(-Math.PI / 2); ctx.textAlign = "left"; ctx.fillText(m.key_tokens[s], 0, 0); ctx.restore(); }
  $("mv-large").innerHTML = `<b>${esc(m.module)}</b>, head ${h}: queries down, keys across<br>`;
  $("mv-large").append(c);
}

// ---- numbers view: the arithmetic of one row, in double ----
function rowNumbers(m, h, t) {
  const D = m.H * m.Dh, vec = (a, i) => a.slice(i * D + h * m.Dh, i * D + (h + 1) * m.Dh);
  const q = vec(m.q, t), keys = [], scale = 1 / Math.sqrt(m.Dh);
  let top = -Infinity;
  for (let s = 0; s < m.S; ++s) {
    const k = vec(m.k, s), dot = q.reduce((acc, x, d) => acc + x * k[d], 0), keep = m.keep[t * m.S + s] === 1;
    const scaled = dot * scale, masked = keep ? scaled : -Infinity;
    if (keep) top = Math.max(top, masked);
    keys.push({ s, k, v: vec(m.v, s), dot, scaled, keep, masked });
  }
  let sum = 0;
  for (const r of keys) { r.e = r.keep ? Math.exp(r.masked - top) : 0; sum += r.e; }
  const out = new Array(m.Dh).fill(0);
  for (const r of keys) { r.w = sum > 0 ? r.e / sum : 0; r.v.forEach((x, d) => { out[d] += r.w * x; }); }
  return { q, keys, out, scale };
}
function renderNumbers() {
  const m = current(), t = state.query, h = state.head, n = rowNumbers(m, h, t), vs = (a) => "[" + a.map((x) => x.toFixed(4)).join(", ") + "]";
  let rows = "", total = 0;
  for (const r of n.keys) {
    total += r.w;
    rows += `<tr class="${r.keep ? "" : "masked"}"><td>${r.s}</td><td>${esc(m.key_tokens[r.s])}</td><td class="vec">${vs(r.k)}</td>` +
      `<td>${fmt(r.dot)}</td><td>${fmt(r.scaled)}</td><td>${r.keep ? "keep" : "-&infin;"}</td>` +
      `<td class="nv-softmax" data-value="${r.w}">${r.w.toFixed(6)}</td><td class="nv-model" data-value="${weight(m, h, t, r.s)}">${weight(m, h, t, r.s).toFixed(6)}</td><td class="vec">${vs(r.v)}</td></tr>`;
  }
  $("nv-body").innerHTML =
    `<p><b>${esc(m.module)}</b> (${esc(m.kind)}), head ${h}, query ${t} <code>${esc(m.query_tokens[t])}</code>; Dh = ${m.Dh}, so scores are multiplied by 1/&radic;${m.Dh} = ${n.scale.toFixed(6)}</p>` +
    `<div class="vec-line">q = ${vs(n.q)}</div>` +
    `<table class="nv"><tr><th>j</th><th>key</th><th>k<sub>j</sub></th><th>q&middot;k<sub>j</sub></th><th>&times; 1/&radic;Dh</th><th>mask</th><th>softmax</th><th>model</th><th>v<sub>j</sub></th></tr>${rows}</table>` +
    `<p>&Sigma; softmax = <span id="nv-sum">${total.toFixed(6)}</span></p>` +
    `<div class="vec-line">output = &Sigma;<sub>j</sub> w<sub>j</sub> v<sub>j</sub> = <span id="nv-out">${vs(n.out)}</span></div>`;
}

function render() {
  setupControls();
  if (state.view === "head-view") renderHeadView();
  if (state.view === "model-view") renderModelView();
  if (state.view === "numbers-view") renderNumbers();
}
$("what").innerHTML = `${esc(DATA.model)} from <code>${esc(DATA.checkpoint)}</code>, input <code>${esc(DATA.input)}</code> &rarr; <code>${esc(DATA.answer)}</code>`;
// A link can open a view: page.html#view=model-view&kind=cross&layer=1&query=2&head=0
for (const [key, value] of new URLSearchParams(location.hash.slice(1))) {
  if (key === "kind" && kinds.includes(value)) { state.kind = value; state.layer = mapsOf(value)[0].layer; }
  if (key === "layer" || key === "query" || key === "head") state[key] = Number(value) || 0;
  if (key === "view") { const b = document.querySelector(`nav button[data-view="${value}"]`); if (b) setTimeout(() => b.click(), 0); }
}
window.qkvExplorer = { DATA, state, render, rowNumbers, drawLines };
render();
</script></body></html>
)qkvpage";
}

}  // namespace qkv::explorer
