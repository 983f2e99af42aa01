// Stratabase studio: small SVG line charts, no dependencies.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#4f7cff", "#f08c2e", "#2bb673", "#d6457a", "#8c6cf0", "#20a8c4", "#c9a227"];

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exponent = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * exponent) return step * exponent;
  }
  return 10 * exponent;
}

function formatValue(value, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (unit === "%") return (value * 100).toFixed(value < 0.1 ? 1 : 0) + " %";
  const abs = Math.abs(value);
  let text;
  if (abs >= 1e6) text = (value / 1e6).toFixed(1) + "M";
  else if (abs >= 1e4) text = (value / 1e3).toFixed(1) + "k";
  else if (abs >= 100 || Number.isInteger(value)) text = String(Math.round(value));
  else if (abs >= 10) text = value.toFixed(1);
  else text = value.toFixed(2);
  return unit ? text + " " + unit : text;
}

// series: [{name, points: [[t, v|null], ...]}]; opts: {unit, start, end, max}
function lineChart(container, title, series, opts) {
  opts = opts || {};
  const width = 480, height = 170, left = 46, right = 10, top = 12, bottom = 24;
  const plotW = width - left - right, plotH = height - top - bottom;
  const start = opts.start, end = opts.end;
  let maxValue = 0;
  let last = null;
  let points = 0;
  for (const s of series) {
    for (const [, v] of s.points) {
      if (v !== null && v !== undefined) {
        maxValue = Math.max(maxValue, v);
        points += 1;
      }
    }
  }
  const yMax = opts.max !== undefined ? opts.max : niceMax(maxValue * 1.1);
  const x = (t) => left + ((t - start) / Math.max(1, end - start)) * plotW;
  const y = (v) => top + plotH - (Math.min(v, yMax) / yMax) * plotH;

  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.testid = "chart";
  figure.dataset.title = title;
  const caption = document.createElement("figcaption");
  const heading = document.createElement("span");
  heading.className = "chart-title";
  heading.textContent = title;
  const current = document.createElement("span");
  current.className = "chart-value";
  caption.append(heading, current);
  figure.append(caption);

  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": title,
    preserveAspectRatio: "none",
  });
  for (let i = 0; i <= 4; i++) {
    const value = (yMax * i) / 4;
    const gy = y(value);
    root.append(svg("line", { x1: left, x2: width - right, y1: gy, y2: gy, class: "grid" }));
    const label = svg("text", { x: left - 6, y: gy + 4, class: "axis", "text-anchor": "end" });
    label.textContent = formatValue(value, opts.unit === "%" ? "%" : "");
    root.append(label);
  }
  for (const minutes of [15, 10, 5, 0]) {
    const t = end - minutes * 60;
    const label = svg("text", { x: x(t), y: height - 6, class: "axis", "text-anchor": minutes === 0 ? "end" : "middle" });
    label.textContent = minutes === 0 ? "now" : `−${minutes}m`;
    root.append(label);
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  series.forEach((s, index) => {
    const color = s.color || PALETTE[index % PALETTE.length];
    let path = "";
    let pen = false;
    let lastOfSeries = null;
    for (const [t, v] of s.points) {
      if (v === null || v === undefined) {
        pen = false;
        continue;
      }
      path += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
      pen = true;
      lastOfSeries = v;
    }
    if (path) {
      root.append(svg("path", { d: path, class: "line", stroke: color }));
      const dots = s.points.filter(([, v]) => v !== null && v !== undefined);
      if (dots.length === 1) {
        const [t, v] = dots[0];
        root.append(svg("circle", { cx: x(t), cy: y(v), r: 3, fill: color }));
      }
    }
    if (index === 0) last = lastOfSeries;
    if (series.length > 1) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.className = "swatch";
      swatch.dataset.color = String(index % PALETTE.length);
      item.append(swatch, `${s.name} ${formatValue(lastOfSeries, opts.unit)}`);
      legend.append(item);
    }
  });
  current.textContent = formatValue(last, opts.unit);
  figure.dataset.points = String(points);
  figure.dataset.max = String(maxValue);
  figure.dataset.last = last === null ? "" : String(last);
  figure.append(root);
  if (series.length > 1) figure.append(legend);
  if (!points) {
    const empty = document.createElement("p");
    empty.className = "chart-empty";
    empty.textContent = "no data yet";
    figure.append(empty);
  }
  container.append(figure);
  return figure;
}

window.StudioCharts = { lineChart, formatValue };
