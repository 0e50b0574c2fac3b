// report.html's figures: inline SVG drawn from the JSON in <script id="data"> (page.py). Nothing is fetched.
"use strict";
const RUNS = JSON.parse(document.getElementById("data").textContent);
const NS = "http://www.w3.org/2000/svg"; // the SVG namespace's name, not an address the page visits
const COL = { g: "#2563eb", real: "#1f2937", d: "#ea580c", floor: "#16a34a", muted: "#6b7280", other: "#9333ea" };
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const NAMES = { ks: "KS", w1: "W1", sw1: "sliced W1", corr: "corr. error" };
const MEANING = {
  mean: "the generated sample's average; ± is what sampling noise alone allows (95 %)",
  std: "the generated sample's spread; ± as for the mean",
  skew: "asymmetry: 0 for a symmetric distribution",
  kurt: "tail weight beyond a Gaussian's (excess kurtosis)",
  ks: "Kolmogorov–Smirnov: the largest gap between the generated and the real cumulative distributions",
  w1: "Wasserstein-1: how far samples must move, on average, to turn the generated distribution into the real one",
  sw1: "sliced Wasserstein-1: W1 averaged over 128 random directions, a distance between the joint distributions",
  corr: "the largest gap between the generated and the real correlation matrices",
};
let uid = 0;

// --- small helpers ---------------------------------------------------------------------------------------------
function h(tag, attrs, parent, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function s(tag, attrs, parent, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function fmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x) && Math.abs(x) < 1e7) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(2);
  return String(Number(x.toPrecision(digits || 4)));
}
function unpack(str, lo, hi) { // page.py's pack: 2 symbols a value, 4096 levels over [lo, hi]
  const out = new Float64Array(str.length / 2);
  for (let i = 0; i < out.length; i++) {
    const v = ALPHABET.indexOf(str[2 * i]) * 64 + ALPHABET.indexOf(str[2 * i + 1]);
    out[i] = lo + (hi - lo) * v / 4095;
  }
  return out;
}
function linspace(a, b, n) { return Array.from({ length: n }, (_, i) => a + (b - a) * i / (n - 1)); }
function finite(xs) { return xs.filter((v) => v !== null && Number.isFinite(v)); }
function extent(...lists) {
  let lo = Infinity, hi = -Infinity;
  for (const l of lists) for (const v of l || []) if (v !== null && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 0.5 - Math.abs(lo) * 0.1, hi + 0.5 + Math.abs(hi) * 0.1];
  return [lo, hi];
}
function pad([lo, hi], f) { const d = (hi - lo) * (f === undefined ? 0.05 : f); return [lo - d, hi + d]; }
function section(title, id) {
  const main = document.getElementById("main");
  const sec = h("section", { id }, main);
  h("h2", {}, sec, title);
  return sec;
}
function verdictClass(words) { return (words || "").split(":")[0].trim().replace(/ /g, "-").toLowerCase(); }

// --- a chart: axes, scales and marks in one SVG ------------------------------------------------------------------
function niceTicks(lo, hi, n) {
  const step0 = (hi - lo) / (n || 5);
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).reduce((a, b) => (Math.abs(Math.log(b / step0)) < Math.abs(Math.log(a / step0)) ? b : a));
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}
function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) { const v = m * Math.pow(10, e); if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v); }
  return out;
}
class Chart {
  constructor(parent, o) {
    this.o = o;
    const w = o.w || 520, ht = o.h || 290;
    const m = { l: 56, r: o.y2 ? 56 : 14, t: (o.title ? 24 : 10) + (o.legend ? 16 : 0), b: o.xlabel ? 40 : 24 };
    this.m = m; this.w = w; this.h = ht;
    const fig = h("figure", { style: `width: ${w}px` }, parent);
    this.fig = fig;
    this.svg = s("svg", { width: w, height: ht, viewBox: `0 0 ${w} ${ht}`, role: "img", "aria-label": o.title || "" }, fig);
    this.x = this.scale(o.x, [m.l, w - m.r], o.xlog);
    this.y = this.scale(o.y, [ht - m.b, m.t], o.ylog);
    if (o.y2) this.y2 = this.scale(o.y2, [ht - m.b, m.t], false);
    const id = "clip" + (++uid);
    s("rect", { x: m.l, y: m.t, width: w - m.l - m.r, height: ht - m.t - m.b }, s("clipPath", { id }, s("defs", {}, this.svg)));
    this.axes();
    this.g = s("g", { "clip-path": `url(#${id})` }, this.svg);
    if (o.title) s("text", { x: m.l, y: 14, class: "title" }, this.svg, o.title);
    if (o.caption) h("figcaption", {}, fig, o.caption);
  }
  scale([a, b], [r0, r1], log) {
    if (log) {
      a = Math.max(a, 1e-12); b = Math.max(b, a * 1.0001);
      const la = Math.log10(a), lb = Math.log10(b);
      const f = (v) => r0 + (r1 - r0) * (Math.log10(Math.max(v, a / 1e3)) - la) / (lb - la);
      f.domain = [a, b]; f.log = true; return f;
    }
    const f = (v) => r0 + (r1 - r0) * (v - a) / (b - a);
    f.domain = [a, b]; return f;
  }
  axes() {
    const { m, w, h: ht, o } = this;
    const ax = s("g", { class: "axis" }, this.svg), grid = s("g", { class: "grid" }, this.svg);
    const xt = this.x.log ? logTicks(...this.x.domain) : niceTicks(...this.x.domain, Math.max(3, Math.round((w - m.l - m.r) / 80)));
    const yt = this.y.log ? logTicks(...this.y.domain) : niceTicks(...this.y.domain, 5);
    s("line", { x1: m.l, x2: w - m.r, y1: ht - m.b, y2: ht - m.b }, ax);
    s("line", { x1: m.l, x2: m.l, y1: m.t, y2: ht - m.b }, ax);
    for (const v of xt) {
      const x = this.x(v);
      s("line", { x1: x, x2: x, y1: ht - m.b, y2: ht - m.b + 4 }, ax);
      s("text", { x, y: ht - m.b + 15, "text-anchor": "middle" }, ax, fmt(v, 3));
    }
    for (const v of yt) {
      const y = this.y(v);
      s("line", { x1: m.l - 4, x2: m.l, y1: y, y2: y }, ax);
      s("line", { x1: m.l, x2: w - m.r, y1: y, y2: y }, grid);
      s("text", { x: m.l - 6, y: y + 4, "text-anchor": "end" }, ax, fmt(v, 3));
    }
    if (o.xlabel) s("text", { x: (m.l + w - m.r) / 2, y: ht - 6, "text-anchor": "middle" }, ax, o.xlabel);
    if (o.ylabel) s("text", { x: 12, y: (m.t + ht - m.b) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(m.t + ht - m.b) / 2})` }, ax, o.ylabel);
    if (this.y2) {
      s("line", { x1: w - m.r, x2: w - m.r, y1: m.t, y2: ht - m.b }, ax);
      for (const v of niceTicks(...this.y2.domain, 4)) {
        const y = this.y2(v);
        s("line", { x1: w - m.r, x2: w - m.r + 4, y1: y, y2: y }, ax);
        s("text", { x: w - m.r + 7, y: y + 4, fill: COL.d }, ax, fmt(v, 3));
      }
      if (o.y2label) {
        const yy = (m.t + ht - m.b) / 2;
        s("text", { x: w - 8, y: yy, "text-anchor": "middle", fill: COL.d, transform: `rotate(90 ${w - 8} ${yy})` }, ax, o.y2label);
      }
    }
  }
  pathD(xs, ys, y) {
    let d = "", pen = false;
    for (let i = 0; i < xs.length; i++) {
      const v = ys[i];
      if (v === null || !Number.isFinite(v) || xs[i] === null) { pen = false; continue; }
      d += (pen ? "L" : "M") + this.x(xs[i]).toFixed(1) + "," + (y || this.y)(v).toFixed(1);
      pen = true;
    }
    return d;
  }
  line(xs, ys, attrs, y) {
    return s("path", Object.assign({ d: this.pathD(xs, ys, y), fill: "none", "stroke-width": 1.6 }, attrs), this.g);
  }
  band(xs, lo, hi, attrs) {
    let d = "";
    const pts = xs.map((x, i) => [x, lo[i], hi[i]]).filter((p) => p[1] !== null && p[2] !== null);
    if (!pts.length) return null;
    d = "M" + pts.map((p) => this.x(p[0]).toFixed(1) + "," + this.y(p[2]).toFixed(1)).join("L");
    d += "L" + pts.reverse().map((p) => this.x(p[0]).toFixed(1) + "," + this.y(p[1]).toFixed(1)).join("L") + "Z";
    return s("path", Object.assign({ d, stroke: "none", "fill-opacity": 0.18 }, attrs), this.g);
  }
  hband(lo, hi, attrs) {
    const [a, b] = this.x.domain;
    const y0 = this.y(Math.max(lo, this.y.domain[0])), y1 = this.y(Math.min(hi, this.y.domain[1]));
    return s("rect", Object.assign({ x: this.x(a), width: this.x(b) - this.x(a), y: Math.min(y0, y1), height: Math.abs(y0 - y1), "fill-opacity": 0.13 }, attrs), this.g);
  }
  hline(v, attrs, label) {
    if (v === null || !Number.isFinite(v)) return;
    const [a, b] = this.x.domain;
    s("line", Object.assign({ x1: this.x(a), x2: this.x(b), y1: this.y(v), y2: this.y(v), "stroke-dasharray": "5 4" }, attrs), this.g);
    if (label) s("text", { x: this.x(b) - 4, y: this.y(v) - 4, "text-anchor": "end", fill: attrs.stroke }, this.g, label);
  }
  vline(v, attrs, label) {
    const [a, b] = this.y.domain;
    s("line", Object.assign({ x1: this.x(v), x2: this.x(v), y1: this.y(a), y2: this.y(b), "stroke-dasharray": "5 4" }, attrs), this.g);
    if (label) s("text", { x: this.x(v) + 4, y: this.y(b) + 12, fill: attrs.stroke }, this.g, label);
  }
  barsD(edges, heights) {
    const y0 = this.y(this.y.domain[0]);
    let d = "";
    for (let i = 0; i < heights.length; i++) {
      if (!heights[i]) continue;
      const x0 = this.x(edges[i]), x1 = this.x(edges[i + 1]), y = this.y(Math.min(heights[i], this.y.domain[1] * 1.02));
      d += `M${x0.toFixed(1)},${y0.toFixed(1)}V${y.toFixed(1)}H${x1.toFixed(1)}V${y0.toFixed(1)}Z`;
    }
    return d;
  }
  bars(edges, heights, attrs) { return s("path", Object.assign({ d: this.barsD(edges, heights) }, attrs), this.g); }
  dots(xs, ys, r, attrs) {
    const g = s("g", attrs, this.g);
    for (let i = 0; i < xs.length; i++) {
      if (xs[i] === null || ys[i] === null) continue;
      s("circle", { cx: this.x(xs[i]).toFixed(1), cy: this.y(ys[i]).toFixed(1), r }, g);
    }
    return g;
  }
  legend(items, x, y) { // in the top margin when the chart was made with {legend: true}, else inside the plot
    const g = s("g", {}, this.svg);
    let cx = x === undefined ? this.m.l + (this.o.legend ? 0 : 8) : x;
    const cy = y === undefined ? (this.o.legend ? this.m.t - 8 : this.m.t + 10) : y;
    for (const [label, color, kind] of items) {
      if (kind === "box") s("rect", { x: cx, y: cy - 6, width: 14, height: 9, fill: color, "fill-opacity": 0.35 }, g);
      else if (kind === "dot") s("circle", { cx: cx + 7, cy: cy - 2, r: 3, fill: color }, g);
      else s("line", { x1: cx, x2: cx + 14, y1: cy - 2, y2: cy - 2, stroke: color, "stroke-width": 2, "stroke-dasharray": kind === "dash" ? "4 3" : "" }, g);
      const t = s("text", { x: cx + 18, y: cy + 2 }, g, label);
      cx += 26 + label.length * 5.6;
      void t;
    }
    return g;
  }
}

// --- the verdict and the fit table -----------------------------------------------------------------------------
function fitSection(run) {
  const sec = section("The fit, beside the noise floor", "fit");
  if (!run.fit) { h("p", {}, sec, "No evaluation yet: the first one comes at step " + (run.curves.eval_steps[0] || "train.eval_every") + "."); return; }
  const who = run.replicates > 1 ? `replicate ${run.k} (seed ${run.k + (run.config.find((r) => r[0] === "train.seed") || [0, 0])[1]})` : "the generator";
  h("p", {}, sec, `How ${who} scores against a fresh real sample at step ${run.done ? run.step : run.curves.eval_steps[run.curves.eval_steps.length - 1]}. ` +
    "The noise floor of a distance is what it scores between two independent real samples of the same size: a perfect generator scores about the floor. " +
    "The ratio is distance ÷ the floor's median, so 1 is as good as sampling noise allows. The verdict is GOOD when every distance is at or below its floor's 95th percentile.");
  const t = h("table", {}, sec);
  const hr = h("tr", {}, h("thead", {}, t));
  for (const c of ["figure", "generated", "target or floor (median)", "floor 95th pct", "ratio", "", "what it says"]) h("th", {}, hr, c);
  const tb = h("tbody", {}, t);
  for (const r of run.fit.rows) {
    const tr = h("tr", {}, tb);
    const dim = r.dim === null || run.dim === 1 ? "" : " · " + run.names[r.dim];
    h("td", {}, tr, (NAMES[r.stat] || r.stat) + dim);
    h("td", { class: "num" }, tr, fmt(r.value));
    if (r.median !== undefined) {
      const ratio = r.value / r.median, ok = r.value <= r.p95;
      h("td", { class: "num" }, tr, fmt(r.median));
      h("td", { class: "num" }, tr, fmt(r.p95));
      h("td", { class: "num" }, tr, fmt(ratio, 3) + "×");
      h("td", { class: ok ? "ok" : "bad" }, tr, ok ? "✓ within" : "✗ beyond");
    } else {
      h("td", { class: "num" }, tr, fmt(r.target) + (r.noise ? " ± " + fmt(r.noise, 2) : ""));
      h("td", {}, tr, ""); h("td", {}, tr, "");
      const ok = r.noise ? Math.abs(r.value - r.target) <= r.noise : null;
      h("td", { class: ok === null ? "" : ok ? "ok" : "bad" }, tr, ok === null ? "" : ok ? "✓ within noise" : "✗ beyond noise");
    }
    h("td", { class: "note" }, tr, MEANING[r.stat] || "");
  }
  if (run.table && run.replicates > 1) {
    const tt = run.table;
    h("p", {}, sec, `Over all ${tt.replicates} replicates: ${tt.within_floor} within the noise floor, ${tt.collapsed} collapsed, ${tt.diverged} diverged, ` +
      `${tt.saturated} saturated, ${tt.non_finite} non-finite. KS ratio median ${fmt(tt.ks_ratio.median, 3)} (90th pct ${fmt(tt.ks_ratio.p90, 3)}), ` +
      `W1 ratio median ${fmt(tt.w1_ratio.median, 3)} (90th pct ${fmt(tt.w1_ratio.p90, 3)}); best replicate ${tt.best}.`);
  }
  if (run.modes) {
    const md = run.modes, m = md.replicates[run.k], p = md.perfect;
    h("p", {}, sec, `Modes: ${m.modes} of ${md.n_modes} captured, ${fmt(100 * m.high_quality, 3)} % of samples of high quality, reverse KL ${fmt(m.reverse_kl)} ` +
      `(a perfect sampler: ${fmt(100 * p.high_quality, 3)} %, ${fmt(p.reverse_kl)}; ${md.n_samples} samples).`);
  }
}

// --- the animation ---------------------------------------------------------------------------------------------
function dLabel(f) {
  const what = f.d_output === "probability" ? "D's probability that x is real" : "D's score (higher: more real)";
  return f.d_input === "sample" ? `D(x): ${what}` : "D, with x put in a real batch";
}
function batchWords(f, i) { // D's mean verdict on the chunk's last real and fake batches
  const b = f.batches && f.batches[i];
  if (!b || f.d_output !== "probability") return "";
  return ` On the last training batches D said "real" with probability ${fmt(b[0], 2)} to real samples and ${fmt(b[1], 2)} to G's` +
    (f.d_input === "sample" ? "." : ` (this D judges ${f.d_input === "batch" ? "whole batches" : "packs of samples"}, not single samples: the orange curve is its verdict on a real batch holding x).`);
}
function film1d(parent, run, w) {
  const f = run.film, fin = run.final || {};
  const bins = f.hist[0].length, edges = linspace(f.lo[0], f.hi[0], bins + 1), width = edges[1] - edges[0];
  const dens = f.hist.map((c) => c.map((v) => v / (f.n * width)));
  let tmax = 0;
  const target = f.target;
  if (target) tmax = Math.max(...finite(target.y));
  const ymax = 1.35 * Math.max(tmax, ...finite(dens[dens.length - 1]), 1e-9);
  const c = new Chart(parent, { w, h: 310, x: [f.lo[0], f.hi[0]], y: [0, ymax], y2: [f.d_lo, f.d_hi], xlabel: run.names[0],
    ylabel: "density", y2label: "D", title: `${run.preset}: G's samples and D, replicate ${f.replicate}`, legend: true });
  const gpath = s("path", { class: "ghist", fill: COL.g, "fill-opacity": 0.35, stroke: COL.g, "stroke-width": 0.8 }, c.g);
  if (target) c.line(target.x, target.y, { stroke: COL.real, "stroke-width": 2 });
  if (f.d_output === "probability") c.line([f.lo[0], f.hi[0]], [0.5, 0.5], { stroke: COL.d, "stroke-dasharray": "3 4", "stroke-width": 1 }, c.y2);
  const grid = linspace(f.lo[0], f.hi[0], f.grid);
  const dpath = s("path", { class: "dline", fill: "none", stroke: COL.d, "stroke-width": 2.2 }, c.g);
  const left = s("text", { x: c.m.l + 4, y: c.h - c.m.b - 6, fill: COL.g }, c.svg), right = s("text", { x: c.w - c.m.r - 4, y: c.h - c.m.b - 6, fill: COL.g, "text-anchor": "end" }, c.svg);
  c.legend([["G's samples", COL.g, "box"], [target && target.kind === "density" ? "target density" : "real sample", COL.real], [dLabel(f), COL.d]]);
  const info = h("p", { class: "note" }, c.fig);
  return (i) => {
    gpath.setAttribute("d", c.barsD(edges, dens[i]));
    dpath.setAttribute("d", c.pathD(grid, Array.from(unpack(f.d[i], f.d_lo, f.d_hi)), c.y2));
    const [lo, hi] = f.out[i];
    left.textContent = lo ? `← ${lo} samples left of the axis` : "";
    right.textContent = hi ? `${hi} samples right of the axis →` : "";
    const [m, sd] = f.moments[i];
    info.textContent = `step ${f.steps[i]}: G's ${f.n} samples (the same noise every frame) have mean ${fmt(m, 3)} and std ${fmt(sd, 3)}` +
      (run.curves.target.mean ? ` (target ${fmt(run.curves.target.mean[0], 3)}, ${fmt(run.curves.target.std[0], 3)})` : "") + "." + batchWords(f, i);
    void fin;
  };
}
function heat(v) { // 0: purple (D says fake), 0.5: white, 1: green (D says real)
  const a = [118, 75, 162], m = [255, 255, 255], b = [22, 163, 74];
  const t = Math.max(0, Math.min(1, v)), [p, q, u] = t < 0.5 ? [a, m, t * 2] : [m, b, (t - 0.5) * 2];
  return `rgb(${p.map((x, j) => Math.round(x + (q[j] - x) * u)).join(",")})`;
}
function film2d(parent, run, w) {
  const f = run.film, n = f.grid;
  const c = new Chart(parent, { w, h: w * 0.92, x: [f.lo[0], f.hi[0]], y: [f.lo[1], f.hi[1]], xlabel: run.names[0], ylabel: run.names[1],
    title: `${run.preset}: G's samples over D's output, replicate ${f.replicate}`, legend: true });
  const gx = linspace(f.lo[0], f.hi[0], n), gy = linspace(f.lo[1], f.hi[1], n);
  const dx = (f.hi[0] - f.lo[0]) / (n - 1), dy = (f.hi[1] - f.lo[1]) / (n - 1);
  const cells = [];
  const hg = s("g", { class: "dheat" }, c.g);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
    const x0 = c.x(gx[i] - dx / 2), x1 = c.x(gx[i] + dx / 2), y0 = c.y(gy[j] + dy / 2), y1 = c.y(gy[j] - dy / 2);
    cells.push(s("rect", { x: x0.toFixed(1), y: y0.toFixed(1), width: (x1 - x0 + 0.6).toFixed(1), height: (y1 - y0 + 0.6).toFixed(1) }, hg));
  }
  if (run.final && run.final.real) {
    const r = run.final.real.slice(0, 300);
    c.dots(r.map((p) => p[0]), r.map((p) => p[1]), 1.4, { fill: COL.real, "fill-opacity": 0.35 });
  }
  if (run.final && run.final.centres) c.dots(run.final.centres.map((p) => p[0]), run.final.centres.map((p) => p[1]), 3.5, { fill: "none", stroke: "#dc2626", "stroke-width": 1.5 });
  const pg = s("g", { class: "gpoints", fill: COL.g, stroke: "#fff", "stroke-width": 0.6 }, c.g);
  const dots = Array.from({ length: f.m }, () => s("circle", { r: 2.6 }, pg));
  c.legend([["G's samples", COL.g, "dot"], ["real sample", COL.real, "dot"], ["D says real", "#16a34a", "box"], ["D says fake", "#764ba2", "box"]]);
  const info = h("p", { class: "note" }, c.fig);
  return (i) => {
    const d = unpack(f.d[i], f.d_lo, f.d_hi);
    for (let k = 0; k < cells.length; k++) cells[k].setAttribute("fill", heat((d[k] - f.d_lo) / (f.d_hi - f.d_lo)));
    const xs = unpack(f.points[i].slice(0, 2 * f.m), f.lo[0], f.hi[0]), ys = unpack(f.points[i].slice(2 * f.m), f.lo[1], f.hi[1]);
    for (let k = 0; k < f.m; k++) { dots[k].setAttribute("cx", c.x(xs[k]).toFixed(1)); dots[k].setAttribute("cy", c.y(ys[k]).toFixed(1)); }
    info.textContent = `step ${f.steps[i]}: ${f.m} of G's samples (the same noise every frame; samples off the axes sit on its edge). ` + dLabel(f) +
      (run.dim > 2 ? `, on the plane through the target's centre in the other ${run.dim - 2} dimensions.` : ".") + batchWords(f, i);
  };
}
let playing = false;
function filmSection(runs) {
  const withFilm = runs.filter((r) => r.film);
  const sec = section("Watch it learn", "film");
  if (!withFilm.length) { h("p", {}, sec, "No frames were captured (report.frames = 0)."); return; }
  const main = withFilm[0].film;
  h("p", {}, sec, withFilm[0].dim === 1
    ? "Each frame is G's histogram (blue) at one point of training, over the target (black), with what D says about each x (orange). " +
      "Early on D tells the two apart easily; as G's histogram settles on the target, D's curve flattens towards ½: it can no longer tell."
    : "Each frame shows G's samples (blue) over the map of what D says about each point: green where D calls it real, purple where D calls it fake. " +
      "As G's samples spread over the real ones (grey), D's map fades towards white: it can no longer tell.");
  const ctl = h("div", { class: "controls" }, sec);
  const btn = h("button", { type: "button", id: "play" }, ctl, "▶ play");
  const slider = h("input", { type: "range", id: "frame", min: 0, max: main.steps.length - 1, value: 0, step: 1, "aria-label": "training step" }, ctl);
  const label = h("span", { class: "step" }, ctl);
  h("span", { class: "note" }, ctl, `${main.steps.length} frames on this page (of ${main.total} captured, one every ${main.every} steps)`);
  const row = h("div", { class: "row" }, sec);
  const w = withFilm.length > 1 ? 560 : 720;
  const draws = withFilm.map((r) => (r.dim === 1 ? film1d : film2d)(row, r, w));
  function show(i) {
    const step = main.steps[i];
    draws.forEach((draw, j) => {
      const st = withFilm[j].film.steps;
      let k = 0;
      while (k + 1 < st.length && st[k + 1] <= step) k++;
      draw(k);
    });
    label.textContent = `step ${step} of ${runs[0].steps}`;
  }
  let timer = null;
  function stop() { playing = false; clearInterval(timer); btn.textContent = "▶ play"; }
  btn.addEventListener("click", () => {
    if (playing) { stop(); return; }
    if (+slider.value >= main.steps.length - 1) slider.value = 0;
    playing = true; btn.textContent = "❚❚ pause";
    timer = setInterval(() => {
      const i = +slider.value + 1;
      if (i >= main.steps.length) { stop(); return; }
      slider.value = i; show(i);
    }, Math.max(40, Math.min(150, 6000 / main.steps.length)));
  });
  slider.addEventListener("input", () => { stop(); show(+slider.value); });
  slider.value = main.steps.length - 1;
  show(main.steps.length - 1);
}

// --- the final fit ---------------------------------------------------------------------------------------------
function finalSection(run) {
  const fin = run.final;
  const sec = section("The final fit", "final");
  if (!fin) { h("p", {}, sec, "No frames were captured, so there is no sample to draw (report.frames = 0): see the PNGs in the run folder."); return; }
  h("p", { class: "note" }, sec, `G's ${fin.n} samples of replicate ${run.k} at step ${fin.step} (the animation's last frame), against ` +
    (run.data ? "the data's held-out rows." : "the target."));
  const row = h("div", { class: "row" }, sec);
  if (run.dim === 1) {
    const ymax = 1.15 * Math.max(...finite(fin.fake), ...finite(fin.real), ...(fin.density ? finite(fin.density.y) : []));
    const c = new Chart(row, { w: 520, h: 300, x: [fin.edges[0], fin.edges[fin.edges.length - 1]], y: [0, ymax], xlabel: run.names[0], ylabel: "density",
      title: "histogram of G's samples", legend: true, caption: "A perfect G's histogram would match the black curve up to the bars' own noise." });
    c.bars(fin.edges, fin.fake, { fill: COL.g, "fill-opacity": 0.35, stroke: COL.g, "stroke-width": 0.8 });
    if (fin.density) c.line(fin.density.x, fin.density.y, { stroke: COL.real, "stroke-width": 2 });
    else c.line(fin.edges.flatMap((e, i) => (i < fin.real.length ? [e, fin.edges[i + 1]] : [])), fin.real.flatMap((v) => [v, v]), { stroke: COL.real, "stroke-width": 1.5 });
    c.legend([["G's samples", COL.g, "box"], [fin.density ? "target density" : "held-out rows", COL.real]]);
    const q = fin.qq, ext = extent(q.real, q.fake);
    const qc = new Chart(row, { w: 330, h: 300, x: pad(ext), y: pad(ext), xlabel: "real quantile", ylabel: "generated quantile", title: "QQ plot",
      caption: "Each dot is a quantile: on the diagonal where G has the real distribution's; off it in the tails when G's are too short or too long." });
    qc.line(pad(ext), pad(ext), { stroke: COL.muted, "stroke-dasharray": "4 3", "stroke-width": 1 });
    qc.dots(q.real, q.fake, 2, { fill: COL.g });
    return;
  }
  const ext0 = pad(extent(fin.real.map((p) => p[0]), fin.fake.map((p) => p[0]))), ext1 = pad(extent(fin.real.map((p) => p[1]), fin.fake.map((p) => p[1])));
  const sc = new Chart(row, { w: 460, h: 420, x: ext0, y: ext1, xlabel: run.names[0], ylabel: run.names[1], title: "samples: real (grey) and generated (blue)" });
  sc.dots(fin.real.map((p) => p[0]), fin.real.map((p) => p[1]), 1.6, { fill: COL.real, "fill-opacity": 0.45 });
  sc.dots(fin.fake.map((p) => p[0]), fin.fake.map((p) => p[1]), 1.6, { fill: COL.g, "fill-opacity": 0.6 });
  if (fin.centres) sc.dots(fin.centres.map((p) => p[0]), fin.centres.map((p) => p[1]), 3.5, { fill: "none", stroke: "#dc2626", "stroke-width": 1.5 });
  const dims = Math.min(run.dim, 8);
  for (let d = 0; d < dims; d++) {
    const r = fin.real.map((p) => p[d]), g = fin.fake.map((p) => p[d]);
    const [lo, hi] = extent(r, g), edges = linspace(lo, hi, 31);
    const hist = (xs) => { const c = new Array(30).fill(0); for (const v of xs) if (v !== null) c[Math.min(29, Math.floor(30 * (v - lo) / (hi - lo)))] += 1; return c.map((x) => x / (xs.length * (edges[1] - edges[0]))); };
    const hr = hist(r), hgen = hist(g);
    const mc = new Chart(row, { w: 250, h: 180, x: [lo, hi], y: [0, 1.15 * Math.max(...hr, ...hgen)], title: `marginal of ${run.names[d]}` });
    mc.bars(edges, hgen, { fill: COL.g, "fill-opacity": 0.35 });
    mc.line(edges.flatMap((e, i) => (i < 30 ? [e, edges[i + 1]] : [])), hr.flatMap((v) => [v, v]), { stroke: COL.real, "stroke-width": 1.3 });
  }
  if (run.dim > 2) {
    const k = Math.min(run.dim, 4);
    const pairs = h("div", { class: "row" }, sec);
    h("p", { class: "note" }, sec, "Pairs of dimensions: real below the diagonal (grey), generated above (blue).");
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
      if (i === j) continue;
      const src = i > j ? fin.real : fin.fake;
      const pc = new Chart(pairs, { w: 190, h: 170, x: pad(extent(fin.real.map((p) => p[j]))), y: pad(extent(fin.real.map((p) => p[i]))), title: `${run.names[j]} vs ${run.names[i]}` });
      pc.dots(src.map((p) => p[j]), src.map((p) => p[i]), 1.1, { fill: i > j ? COL.real : COL.g, "fill-opacity": 0.5 });
    }
  }
}

// --- training curves -------------------------------------------------------------------------------------------
function spreadLines(c, xs, ser, color, label, K) {
  const items = [];
  if (ser.p50) {
    c.band(xs, ser.p10, ser.p90, { fill: color });
    c.line(xs, ser.p50, { stroke: color });
    c.line(xs, ser.rep, { stroke: color, "stroke-width": 0.9, "stroke-dasharray": "2 2" });
    items.push([`${label} (median of ${K})`, color], [`10–90 % of replicates`, color, "box"]);
  } else {
    c.line(xs, ser.rep, { stroke: color });
    items.push([label, color]);
  }
  return items;
}
function curvesSection(run) {
  const cv = run.curves, K = run.replicates;
  const sec = section("Training", "training");
  if (!cv.steps.length) { h("p", {}, sec, "No training step yet."); return; }
  h("p", {}, sec, K > 1 ? `Lines are the median over ${K} replicates with the 10–90 % band; the dotted line is replicate ${run.k}.` : "");
  const row = h("div", { class: "row" }, sec);
  const ys = cv.d.p90 ? [cv.d.p10, cv.d.p90, cv.g.p10, cv.g.p90] : [cv.d.rep, cv.g.rep];
  const c = new Chart(row, { w: 540, h: 280, x: extent(cv.steps), y: pad(extent(...ys)), xlabel: "step", title: "losses (the last step of each chunk)", legend: true,
    caption: "D's error on a real and a fake batch together, and G's. Batch to batch they jitter; what matters is the trend. " +
      (["minimax", "nonsaturating"].includes(run.loss) ? "Dashed: their values when D cannot tell real from fake (D = ½ everywhere): 2 ln 2 for D, " + (run.loss === "minimax" ? "−ln 2" : "ln 2") + " for G." : "") });
  const items = spreadLines(c, cv.steps, cv.d, COL.d, "D error", K).concat(spreadLines(c, cv.steps, cv.g, COL.g, "G error", K));
  if (["minimax", "nonsaturating"].includes(run.loss)) {
    c.hline(2 * Math.LN2, { stroke: COL.d });
    c.hline(run.loss === "minimax" ? -Math.LN2 : Math.LN2, { stroke: COL.g });
  }
  c.legend(items.filter((it) => it[2] !== "box"));
  if (!cv.eval_steps.length) return;
  for (const st of Object.keys(cv.ratios)) {
    const ser = cv.ratios[st], band = cv.band[st];
    const ext = extent(ser.rep, ser.p10 || [], ser.p90 || [], [band, 0.5]);
    const rc = new Chart(row, { w: 360, h: 280, x: extent(cv.eval_steps.concat(cv.steps)), y: [Math.min(0.5, ext[0] * 0.8), Math.max(3, ext[1] * 1.25)], ylog: true,
      xlabel: "step", title: `${NAMES[st]} ratio at each evaluation`,
      caption: `${NAMES[st]} ÷ its floor's median, log scale (worst dimension). Green: where a perfect generator lands 95 % of the time (below ${fmt(band, 3)}).` });
    rc.hband(1e-9, band, { fill: COL.floor });
    rc.hline(1, { stroke: COL.floor }, "floor");
    spreadLines(rc, cv.eval_steps, ser, COL.g, NAMES[st], K);
    rc.dots(cv.eval_steps, ser.p50 || ser.rep, 2.5, { fill: COL.g });
  }
  const dims = Math.min(cv.mean.length, 4);
  for (const key of ["mean", "std"]) for (let d = 0; d < dims; d++) {
    const ser = cv[key][d], tgt = cv.target[key][d], noise = cv.noise[key][d];
    const ext = extent(ser.rep, ser.p10 || [], ser.p90 || [], [tgt - (noise || 0) * 1.5, tgt + (noise || 0) * 1.5]);
    const mc = new Chart(row, { w: 360, h: 260, x: extent(cv.eval_steps.concat(cv.steps)), y: pad(ext, 0.08), xlabel: "step",
      title: `${key} of the evaluation sample` + (cv.mean.length > 1 ? ` · ${run.names[d]}` : ""),
      caption: `Of ${run.fit ? "the " : ""}evaluation's generated samples, against the target's ${key} (dashed). Green: the ${fmt(1.96, 3)}-sigma band that sampling noise alone allows a perfect generator.` +
        (run.data ? " Standard units of the training rows." : "") });
    if (noise !== null) mc.hband(tgt - noise, tgt + noise, { fill: COL.floor });
    mc.hline(tgt, { stroke: COL.real }, "target");
    spreadLines(mc, cv.eval_steps, ser, COL.g, key, K);
    mc.dots(cv.eval_steps, ser.p50 || ser.rep, 2.5, { fill: COL.g });
  }
}

// --- replicates --------------------------------------------------------------------------------------------------
function sortable(table) {
  const heads = table.querySelectorAll("th");
  heads.forEach((th, col) => th.addEventListener("click", () => {
    const asc = !th.classList.contains("asc");
    heads.forEach((x) => x.classList.remove("asc", "desc"));
    th.classList.add(asc ? "asc" : "desc");
    const body = table.tBodies[0], rows = Array.from(body.rows);
    const key = (r) => { const v = r.cells[col].dataset.v; const n = Number(v); return v !== "" && !Number.isNaN(n) ? n : (v || r.cells[col].textContent); };
    rows.sort((a, b) => { const x = key(a), y = key(b); const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)); return asc ? c : -c; });
    for (const r of rows) body.appendChild(r);
  }));
}
function replicatesSection(run) {
  if (!run.replicate_rows) return;
  const rows = run.replicate_rows, sec = section(`Every replicate (${run.replicates})`, "replicates");
  h("p", {}, sec, "Each replicate is the same GAN with its own seed. The spread shows how much the outcome depends on luck: click a column to sort." +
    (rows.length < run.replicates ? ` Of ${run.replicates} replicates, the page holds the ${rows.length / 2} best and the ${rows.length / 2} worst by fit ratio (summary.json has them all).` : ""));
  const row = h("div", { class: "row" }, sec);
  const score = rows.map((r) => Math.max(r.ks_ratio === null ? Infinity : r.ks_ratio, r.w1_ratio === null ? Infinity : r.w1_ratio));
  const fin = finite(score), [lo, hi] = extent(fin.map((v) => Math.max(v, 0.05)));
  const nb = 24, l0 = Math.log10(Math.min(lo, 0.7)), l1 = Math.log10(Math.max(hi * 1.05, 2)), edges = linspace(l0, l1, nb + 1).map((e) => Math.pow(10, e));
  const counts = new Array(nb).fill(0);
  for (const v of fin) counts[Math.max(0, Math.min(nb - 1, Math.floor(nb * (Math.log10(Math.max(v, 0.05)) - l0) / (l1 - l0))))] += 1;
  const band = Math.max(run.curves.band.ks || 1, run.curves.band.w1 || 1);
  const c = new Chart(row, { w: 460, h: 260, x: [edges[0], edges[nb]], xlog: true, y: [0, Math.max(...counts) * 1.15 + 0.5], xlabel: "fit ratio (worse of KS and W1)", ylabel: "replicates",
    title: "final fit ratio of every replicate", caption: `Replicates left of the green line (${fmt(band, 3)}) score like a perfect generator would; ${score.length - fin.length} non-finite left out.` });
  c.bars(edges, counts, { fill: COL.g, "fill-opacity": 0.45, stroke: COL.g });
  c.vline(band, { stroke: COL.floor }, "floor p95");
  const cv = run.curves, means = rows.map((r) => r.mean), stds = rows.map((r) => r.std);
  const tm = cv.target.mean[0], ts = cv.target.std[0], nm = cv.noise.mean[0] || 0, ns = cv.noise.std[0] || 0;
  const sc = new Chart(row, { w: 420, h: 260, x: pad(extent(means, [tm - 2 * nm, tm + 2 * nm]), 0.1), y: pad(extent(stds, [ts - 2 * ns, ts + 2 * ns]), 0.1),
    xlabel: "final mean" + (run.dim > 1 ? ` (${run.names[0]})` : ""), ylabel: "final std", title: "where each replicate ended",
    caption: "Each dot a replicate's generated mean and std; the cross is the target's, the green box what sampling noise allows." });
  s("rect", { x: sc.x(tm - nm), y: sc.y(ts + ns), width: Math.max(1, sc.x(tm + nm) - sc.x(tm - nm)), height: Math.max(1, sc.y(ts - ns) - sc.y(ts + ns)), fill: COL.floor, "fill-opacity": 0.2 }, sc.g);
  sc.dots(means, stds, 2.6, { fill: COL.g, "fill-opacity": 0.6 });
  sc.dots([tm], [ts], 5, { fill: "none", stroke: COL.real, "stroke-width": 2 });
  const cols = Object.keys(rows[0]);
  const wrap = h("div", { class: "scroll" }, sec);
  const t = h("table", { class: "sortable", id: "replicate-table" }, wrap);
  const hr = h("tr", {}, h("thead", {}, t));
  for (const k of cols) h("th", { class: typeof rows[0][k] === "number" ? "num" : "" }, hr, k.replace(/_/g, " "));
  const tb = h("tbody", {}, t);
  for (const r of rows) {
    const tr = h("tr", {}, tb);
    for (const k of cols) {
      const v = r[k], td = h("td", { class: typeof v === "number" ? "num" : "", "data-v": v === null ? "" : String(v) }, tr, fmt(v));
      if (k === "verdict") td.className = v === "GOOD" ? "ok" : v === "FAILED" ? "bad" : "";
    }
  }
  sortable(t);
}

// --- the comparison, config, data, timing ---------------------------------------------------------------------
function compareSection(runs) {
  if (runs.length < 2) return;
  const sec = section(`${runs[0].preset} beside ${runs[1].preset}`, "compare");
  h("p", {}, sec, `The same target, steps, seeds and evaluation, trained with two presets (the animation above shows both).`);
  const grid = h("div", { class: "compare" }, sec);
  const ext = extent(...runs.flatMap((r) => Object.values(r.curves.ratios).map((x) => x.p50 || x.rep)), [0.5, 3]);
  for (const run of runs) {
    const col = h("div", {}, grid);
    h("h3", {}, col, `${run.preset} (${run.folder})`);
    h("p", { class: "verdict " + verdictClass(run.fit && run.fit.words) }, col, run.fit ? run.fit.words : "no evaluation yet");
    const cv = run.curves;
    if (cv.eval_steps.length) {
      const c = new Chart(col, { w: 500, h: 240, x: extent(cv.steps), y: [Math.min(0.5, ext[0]), Math.max(3, ext[1] * 1.2)], ylog: true, xlabel: "step", title: "fit ratios at each evaluation", legend: true });
      c.hband(1e-9, cv.band.ks || 1.3, { fill: COL.floor });
      c.hline(1, { stroke: COL.floor }, "floor");
      c.line(cv.eval_steps, cv.ratios.ks.p50 || cv.ratios.ks.rep, { stroke: COL.g });
      c.line(cv.eval_steps, cv.ratios.w1.p50 || cv.ratios.w1.rep, { stroke: COL.d });
      c.legend([["KS ratio", COL.g], ["W1 ratio", COL.d]]);
    }
  }
}
function configSection(run) {
  const sec = section("Config", "config");
  h("p", {}, sec, "Every field of the run's config (config.toml in the run folder). Bold: where this run differs from the seed's system, whose value is beside it.");
  const d = h("details", {}, sec);
  h("summary", {}, d, `${run.config.length} fields, ${run.config.filter((r) => r[2] !== null).length} different from the seed's`);
  const t = h("table", {}, d), hr = h("tr", {}, h("thead", {}, t));
  for (const c of ["field", "value", "the seed's", "what it is"]) h("th", {}, hr, c);
  const tb = h("tbody", {}, t);
  for (const [name, value, seed, doc] of run.config) {
    const tr = h("tr", {}, tb);
    h("td", {}, h("code", {}, tr), name);
    const v = h("td", {}, tr, JSON.stringify(value));
    if (seed !== null) v.style.fontWeight = "700";
    h("td", { class: "note" }, tr, seed === null ? "" : JSON.stringify(seed));
    h("td", { class: "note" }, tr, doc);
  }
}
function dataSection(run) {
  if (!run.data) return;
  const dd = run.data, sec = section("The data", "data");
  h("p", {}, sec, `${dd.path} (${dd.format}; sha256 ${String(dd.sha256).slice(0, 16)}…): ${dd.train_rows} training rows and ${dd.holdout_rows} held-out rows, ` +
    "the held-out rows being the fresh real sample of every evaluation. Training runs on each column standardised by its training rows' mean and std; samples come back in the data's units.");
  const t = h("table", { id: "columns" }, sec), hr = h("tr", {}, h("thead", {}, t));
  for (const c of ["column", "type", "training mean", "training std"]) h("th", {}, hr, c);
  const tb = h("tbody", {}, t);
  dd.columns.forEach((c, i) => {
    const tr = h("tr", {}, tb);
    h("td", {}, tr, c); h("td", {}, tr, (dd.kinds || [])[i] || "float");
    h("td", { class: "num" }, tr, fmt(dd.shift[i])); h("td", { class: "num" }, tr, fmt(dd.scale[i]));
  });
}
function timingSection(run) {
  const t = run.timing;
  if (!t) return;
  const sec = section("Timing", "timing");
  const steps = run.step - (t.resumed_at || 0);
  h("p", {}, sec, `${steps} steps × ${run.replicates} replicate(s) in ${fmt(t.train_s, 3)} s of training (+${fmt(t.compile_s, 3)} s compiling): ` +
    `${fmt(t.us_per_step, 4)} µs a step, ${fmt(t.replicate_steps_per_s, 3)} replicate-steps a second, on ${t.devices} ${t.platform} device(s)` +
    (t.resumed_at ? `; resumed at step ${t.resumed_at}.` : "."));
}

// --- the page ----------------------------------------------------------------------------------------------------
function main() {
  const run = RUNS[0];
  fitSection(run);
  filmSection(RUNS);
  finalSection(run);
  curvesSection(run);
  replicatesSection(run);
  compareSection(RUNS);
  dataSection(run);
  configSection(run);
  timingSection(run);
  if (!run.done) { // a run in progress: read the page again in 15 s, unless the animation is playing
    setTimeout(() => { if (!playing) location.reload(); }, 15000);
  }
}
main();
