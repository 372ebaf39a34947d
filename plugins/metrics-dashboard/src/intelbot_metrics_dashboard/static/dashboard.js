// intelbot dashboard: polls /api/summary (same origin) and renders it. No other request is made.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function byId(id) { return document.getElementById(id); }
function setText(id, value) { byId(id).textContent = value; }
function count(value) { return value === null || value === undefined ? "n/a" : Number(value).toLocaleString("en-US"); }
function usd(value) { return value === null || value === undefined ? "n/a" : "$" + Number(value).toFixed(4); }
function percent(value) { return (Number(value) * 100).toFixed(1) + "%"; }

function rows(tbodyId, items, cells, empty) {
  const body = byId(tbodyId);
  body.replaceChildren();
  if (items.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 3;
    td.textContent = empty;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const item of items) {
    const tr = document.createElement("tr");
    for (const [text, className] of cells(item)) {
      const td = document.createElement("td");
      td.textContent = text;
      if (className) td.className = className;
      tr.append(td);
    }
    body.append(tr);
  }
}

function chart(id, points, key, format) {
  const holder = byId(id);
  const max = Math.max(0, ...points.map((p) => p[key]));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${points.length * 10} 100`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  points.forEach((point, index) => {
    const height = max > 0 ? (point[key] / max) * 96 : 0;
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", String(index * 10 + 1));
    rect.setAttribute("y", String(100 - height));
    rect.setAttribute("width", "8");
    rect.setAttribute("height", String(Math.max(height, 0)));
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${point.t}: ${format(point[key])}`;
    rect.append(title);
    svg.append(rect);
  });
  const total = points.reduce((sum, p) => sum + p[key], 0);
  const caption = document.createElement("div");
  caption.className = "caption";
  caption.textContent = `${holder.dataset.label}: ${format(total)} in all, peak ${format(max)}`;
  holder.replaceChildren(svg, caption);
}

function render(summary) {
  if (summary.turns) {
    setText("turns-today", count(summary.turns.today));
    setText("turns-total", count(summary.turns.total));
    setText("cost-today", usd(summary.cost_usd.today));
    setText("cost-total", usd(summary.cost_usd.total));
    setText("cache-hit-rate", percent(summary.cache.hit_rate));
    setText("cache-hits", count(summary.cache.hits));
    setText("tokens-today", count(summary.tokens.today));
    setText("tokens-total", count(summary.tokens.total));
    chart("chart-hour-turns", summary.series.hour, "turns", count);
    chart("chart-hour-cost", summary.series.hour, "cost_usd", usd);
    chart("chart-day-turns", summary.series.day, "turns", count);
    chart("chart-day-cost", summary.series.day, "cost_usd", usd);
    rows("guilds", summary.guilds, (g) => [[g.guild_id], [usd(g.cost_usd_today)], [count(g.calls_today)]], "no spend today");
  }
  rows("breakers", Object.entries(summary.breakers), ([name, state]) => [[name], [state, "state-" + state]], "no breakers");
  rows("errors", Object.entries(summary.errors.by_category),
    ([category, n]) => [[category], [count(n)], [percent(summary.errors.rate_by_category[category])]], "no errors");
  rows("plugins", summary.plugins, (p) => [[p.name], [p.status, "status-" + p.status]], "no plugins");
  const db = byId("database");
  db.textContent = summary.database.ok ? `ok (${summary.database.dialect})` : `unreachable (${summary.database.dialect})`;
  db.className = summary.database.ok ? "db-ok" : "db-down";
}

async function refresh() {
  const status = byId("status");
  try {
    const response = await fetch("/api/summary", { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const summary = await response.json();
    render(summary);
    status.textContent = `updated ${summary.generated_at}`;
    status.className = "status";
    document.body.dataset.updates = String(Number(document.body.dataset.updates || "0") + 1);
  } catch (error) {
    status.textContent = `cannot reach the bot (${error.message}); retrying`;
    status.className = "status error";
  }
}

function start() {
  const seconds = Number(document.body.dataset.refreshSeconds) || 5;
  refresh();
  setInterval(refresh, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", start);
