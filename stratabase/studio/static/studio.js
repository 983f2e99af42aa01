// Stratabase studio: draws every page from the studio's JSON APIs. No dependencies.
"use strict";

const POLL_MS = 3000;
const app = document.getElementById("app");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("sb_studio_csrf="));
  if (found) return decodeURIComponent(found.split("=")[1]);
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function call(method, path) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch(path, { method, headers, credentials: "same-origin" });
  if (response.status === 401) {
    location.href = "/studio/login?next=" + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, null);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

const get = (path) => call("GET", path);
const post = (path) => call("POST", path);

function fmtTime(value) {
  if (!value) return "–";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toLocaleString();
}

function notice(text, kind) {
  const box = el("div", { class: `notice ${kind || "info"}`, role: "status", "data-testid": "notice" }, text);
  const holder = document.getElementById("notices");
  holder.replaceChildren(box);
  return box;
}

function errorBox(error) {
  return el("div", { class: "notice error", role: "alert" }, error.message || String(error));
}

function badge(text, kind) {
  return el("span", { class: `badge ${kind || text}` }, text);
}

function setTitle(text) {
  document.title = `${text} · Stratabase studio`;
  for (const link of document.querySelectorAll("nav.main a")) {
    const section = link.getAttribute("data-section");
    const here = section === "overview" ? location.pathname === "/studio" : location.pathname.startsWith(`/studio/${section}`);
    link.classList.toggle("active", here);
    if (here) link.setAttribute("aria-current", "page");
  }
}

// --- overview ----------------------------------------------------------------------------

function tile(label, value, hint, testid) {
  return el("div", { class: "tile", "data-testid": testid || null },
    el("div", { class: "tile-label" }, label),
    el("div", { class: "tile-value" }, value),
    hint ? el("div", { class: "tile-hint" }, hint) : null);
}

function deltas(series, key, seconds) {
  // Per-second rate of a cumulative gauge between consecutive samples.
  const out = [];
  let previous = null;
  for (const bucket of series) {
    const value = bucket.gauges[key];
    if (value === undefined) {
      out.push([bucket.t, null]);
      continue;
    }
    out.push([bucket.t, previous === null || value < previous ? null : (value - previous) / seconds]);
    previous = value;
  }
  return out;
}

function gauge(series, key) {
  return series.map((b) => [b.t, b.gauges[key] === undefined ? null : b.gauges[key]]);
}

function hitRates(series, namespace) {
  const out = [];
  let prev = null;
  for (const b of series) {
    const hits = b.gauges[`cache.${namespace}.hits`];
    const lookups = b.gauges[`cache.${namespace}.lookups`];
    if (hits === undefined || lookups === undefined) {
      out.push([b.t, null]);
      continue;
    }
    if (prev && lookups > prev.lookups) out.push([b.t, (hits - prev.hits) / (lookups - prev.lookups)]);
    else out.push([b.t, null]);
    prev = { hits, lookups };
  }
  return out;
}

function renderOverview(data, root) {
  const { lineChart, formatValue } = window.StudioCharts;
  const series = data.series;
  const end = series.length ? series[series.length - 1].t + 10 : data.now;
  const range = { start: end - 900, end };
  const req = data.requests;
  const jobs = data.jobs;
  const verify = data.ledger.verify;
  const tiles = el("section", { class: "tiles", "aria-label": "Now" },
    tile("Requests / s (1 min)", formatValue(req.rate), `${req.total_15m} in 15 min`, "tile-rate"),
    tile("p99 latency (1 min)", req.p99_ms === null ? "–" : `≤ ${formatValue(req.p99_ms, "ms")}`, "request time, this process", "tile-p99"),
    tile("Errors (1 min)", formatValue(req.error_rate, "%"), "5xx answers", "tile-errors"),
    tile("DB pool", `${data.pool.checked_out} / ${data.pool.size}`, `${data.pool.waiting} waiting · ${data.backend}`, "tile-pool"),
    tile("Queue depth", String(jobs.depth), `${Object.values(jobs.finished_1m).reduce((a, b) => a + b, 0)} finished in 1 min`, "tile-queue"),
    tile("SQL statements", formatValue(data.queries.count), `${data.queries.slow} slow · avg ${formatValue(data.queries.avg_ms, "ms")}`, "tile-sql"),
    el("div", { class: `tile ${verify.ok ? "good" : "bad"}`, "data-testid": "tile-ledger" },
      el("div", { class: "tile-label" }, "Ledger verify"),
      el("div", { class: "tile-value" }, verify.ok ? "OK" : `${verify.violations.length} violation(s)`),
      el("div", { class: "tile-hint" }, `checked ${fmtTime(verify.checked_at)} · ${verify.took_ms} ms`)));

  const charts = el("section", { class: "charts", "aria-label": "Last 15 minutes" });
  lineChart(charts, "Requests / s", [{ name: "rate", points: series.map((b) => [b.t, b.rate]) }], range);
  lineChart(charts, "Latency (ms)", [
    { name: "p99", points: series.map((b) => [b.t, b.p99_ms]) },
    { name: "p50", points: series.map((b) => [b.t, b.p50_ms]) },
  ], { ...range, unit: "ms" });
  lineChart(charts, "5xx error rate", [{ name: "errors", points: series.map((b) => [b.t, b.requests ? b.error_rate : null]) }], { ...range, unit: "%", max: 1 });
  lineChart(charts, "SQL statements / s", [
    { name: "all", points: deltas(series, "sql", 10) },
    { name: "slow", points: deltas(series, "sql_slow", 10) },
  ], range);
  lineChart(charts, "DB pool", [
    { name: "checked out", points: gauge(series, "pool_checked_out") },
    { name: "waiting", points: gauge(series, "pool_waiting") },
  ], range);
  lineChart(charts, "Jobs", [
    { name: "queue depth", points: gauge(series, "jobs_depth") },
    { name: "finished / min", points: gauge(series, "jobs_finished_1m") },
  ], range);
  const namespaces = data.cache.map((c) => c.namespace);
  lineChart(charts, "Cache hit rate", namespaces.map((ns) => ({ name: ns, points: hitRates(series, ns) })), { ...range, unit: "%", max: 1 });

  const cacheTable = table(["Namespace", "Hit rate", "Hits", "Lookups", "Stale", "Errors"],
    data.cache.map((c) => [c.namespace, formatValue(c.hit_rate, "%"), c.hits, c.lookups, c.stale, c.errors]), "cache-table");
  const queueRows = Object.entries(jobs.queues).map(([name, q]) => [name, q.queued, q.running, q.succeeded, q.failed, q.dead, q.cancelled, q.oldest_queued_run_at ? fmtTime(q.oldest_queued_run_at) : "–"]);
  const queueTable = table(["Queue", "Queued", "Running", "Succeeded", "Failed", "Dead", "Cancelled", "Oldest queued"], queueRows, "queue-table");
  const slow = data.slow_queries;
  const slowTable = table(["Total ms", "Count", "Mean ms", "Max ms", "Statement"],
    slow.top.map((s) => [s.total_ms, s.count, s.mean_ms, s.max_ms, el("code", { class: "sql" }, s.sql)]), "slow-table");
  const ledgerTable = table(["Currency", "Kind", "Accounts", "Balance", "Held"],
    data.ledger.totals.map((t) => [t.currency, t.kind, t.accounts, t.balance, t.held]), "ledger-table");
  const transfers = Object.entries(data.ledger.transfers).map(([s, n]) => `${s}: ${n}`).join(" · ") || "none";

  root.replaceChildren(
    el("div", { class: "page-head" },
      el("h1", {}, "Overview"),
      el("p", { class: "muted" }, `Process ${data.process} · ${data.backend} · cache ${data.cache_mode} · updated ${new Date(data.now * 1000).toLocaleTimeString()}`)),
    tiles, charts,
    el("div", { class: "panels" },
      panel("Cache by namespace", cacheTable),
      panel("Queues", queueTable),
      panel(`Slow statements (≥ ${slow.threshold_ms} ms, this process)`, slow.top.length ? slowTable : el("p", { class: "muted" }, "None recorded.")),
      panel("Ledger", ledgerTable, el("p", { class: "muted" }, `Transfers — ${transfers}`),
        verify.ok ? null : el("ul", { class: "violations" }, verify.violations.map((v) => el("li", {}, v))))));
}

function panel(title, ...body) {
  return el("section", { class: "panel" }, el("h2", {}, title), ...body);
}

function table(headers, rows, testid) {
  return el("div", { class: "table-wrap" },
    el("table", { "data-testid": testid || null },
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c)))))));
}

async function overviewPage() {
  setTitle("Overview");
  const root = el("div", { class: "overview", "data-testid": "overview" }, el("p", { class: "muted" }, "Loading…"));
  app.replaceChildren(root);
  let failures = 0;
  const tick = async () => {
    try {
      renderOverview(await get("/studio/api/overview"), root);
      root.setAttribute("data-ready", "1");
      failures = 0;
    } catch (error) {
      failures += 1;
      if (failures > 2) root.prepend(errorBox(error));
    }
    setTimeout(tick, POLL_MS);
  };
  await tick();
}

// --- data browser ------------------------------------------------------------------------

function rowLink(table, info, row) {
  const params = new URLSearchParams();
  for (const key of info.primary_key) params.set(key, row[key]);
  return `/studio/data/${table}/row?${params}`;
}

function cell(column, value) {
  if (value === null) return el("span", { class: "null" }, "null");
  if (column.secret) return el("span", { class: "masked", title: "secret: never shown" }, String(value));
  if (column.references && value !== null) {
    const [target, targetColumn] = column.references.split(".");
    return el("a", { href: `/studio/data/${target}/row?${targetColumn}=${encodeURIComponent(value)}`, class: "fk" }, String(value));
  }
  if (typeof value === "object") return el("code", { class: "json" }, truncate(JSON.stringify(value), 80));
  return truncate(String(value), 80);
}

function truncate(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

async function tablesPage() {
  setTitle("Data");
  const { items } = await get("/studio/api/tables");
  const search = el("input", { type: "search", placeholder: "Filter tables…", "aria-label": "Filter tables", class: "search" });
  const list = el("ul", { class: "table-list", "data-testid": "tables" });
  const draw = () => {
    const q = search.value.toLowerCase();
    list.replaceChildren(...items.filter((t) => t.name.includes(q)).map((t) =>
      el("li", {}, el("a", { href: `/studio/data/${t.name}` },
        el("strong", {}, t.name),
        el("span", { class: "muted" }, `${t.columns.length} columns · key ${t.primary_key.join(", ")}`)))));
  };
  search.addEventListener("input", draw);
  draw();
  app.replaceChildren(el("div", { class: "page-head" }, el("h1", {}, "Data"), el("p", { class: "muted" }, "Every table, read-only. Secrets are masked.")), search, list);
}

async function tablePage(name) {
  setTitle(name);
  const params = new URLSearchParams(location.search);
  const page = await get(`/studio/api/tables/${name}/rows?${params}`);
  const info = page.table;
  const filters = el("form", { class: "filters", "data-testid": "filters" });
  for (const column of info.columns.filter((c) => c.filterable)) {
    filters.append(el("label", {}, column.name,
      el("input", { name: column.name, value: params.get(column.name) || "", placeholder: column.type, size: 10 })));
  }
  filters.append(el("button", { type: "submit" }, "Filter"), el("a", { href: `/studio/data/${name}`, class: "button ghost" }, "Clear"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(filters)) if (value) next.set(key, value);
    location.href = `/studio/data/${name}?${next}`;
  });
  const head = el("tr", {}, el("th", {}, ""), info.columns.map((c) => el("th", { scope: "col", title: c.type }, c.name, c.primary_key ? el("span", { class: "pk", title: "primary key" }, "PK") : null)));
  const body = el("tbody", {}, page.items.map((row) =>
    el("tr", {}, el("td", {}, el("a", { href: rowLink(name, info, row), class: "open", "data-testid": "open-row" }, "open")),
      info.columns.map((c) => el("td", {}, cell(c, row[c.name]))))));
  const pager = el("div", { class: "pager" });
  if (params.get("cursor")) {
    const first = new URLSearchParams(params);
    first.delete("cursor");
    pager.append(el("a", { class: "button ghost", href: `/studio/data/${name}?${first}` }, "⟵ First page"));
  }
  if (page.has_more) {
    const next = new URLSearchParams(params);
    next.set("cursor", page.next_cursor);
    pager.append(el("a", { class: "button", href: `/studio/data/${name}?${next}`, "data-testid": "next-page" }, "Next page ⟶"));
  }
  app.replaceChildren(
    el("div", { class: "page-head" }, el("h1", {}, el("a", { href: "/studio/data" }, "Data"), " / ", name),
      el("p", { class: "muted" }, `${page.items.length} rows shown, newest first${page.has_more ? "" : " (end)"}`)),
    filters,
    el("div", { class: "table-wrap" }, el("table", { class: "rows", "data-testid": "rows" }, el("thead", {}, head), body)),
    pager);
}

const ROW_ACTIONS = {
  posts: [["hide", "Hide post", (row) => row.status !== "hidden"]],
  users: [["suspend", "Suspend user", (row) => row.status === "active" && row.role === "user"]],
  jobs: [["retry", "Retry job", (row) => ["dead", "failed", "cancelled"].includes(row.status)],
         ["cancel", "Cancel job", (row) => ["queued", "running"].includes(row.status)]],
};

function actionButtons(resource, id, row, after) {
  const specs = ROW_ACTIONS[resource === "jobs" ? "jobs" : resource] || [];
  return specs.filter(([, , allowed]) => allowed(row)).map(([verb, label]) =>
    el("button", {
      class: verb === "retry" ? "" : "danger",
      "data-testid": `action-${verb}`,
      onclick: async (event) => {
        if (verb !== "retry" && !confirm(`${label} ${id}?`)) return;
        event.target.disabled = true;
        try {
          const done = await post(`/studio/api/${resource}/${id}/${verb}`);
          notice(`${label}: done (now ${done.state.status}).`, "good");
          after();
        } catch (error) {
          notice(error.message, "error");
          event.target.disabled = false;
        }
      },
    }, label));
}

async function rowPage(name) {
  setTitle(`${name} row`);
  const params = new URLSearchParams(location.search);
  const found = await get(`/studio/api/tables/${name}/row?${params}`);
  const info = found.table;
  const row = found.row;
  const fields = el("dl", { class: "fields", "data-testid": "row" },
    info.columns.map((c) => [el("dt", {}, c.name), el("dd", {}, typeof row[c.name] === "object" && row[c.name] !== null && !c.secret ? el("pre", {}, JSON.stringify(row[c.name], null, 2)) : cell(c, row[c.name]))]));
  const outgoing = found.outgoing.map((r) =>
    el("li", {}, el("a", { href: `/studio/data/${r.table}/row?${r.target_column}=${encodeURIComponent(r.value)}`, "data-testid": "relation-out" }, `${r.column} → ${r.table} ${r.value}`)));
  const incoming = found.incoming.map((r) =>
    el("li", {}, el("a", { href: `/studio/data/${r.table}?${r.column}=${encodeURIComponent(r.value)}`, "data-testid": "relation-in", class: r.count ? "" : "empty" },
      `${r.table}.${r.column}`), el("span", { class: "count" }, r.capped ? `${r.count}+` : String(r.count))));
  const key = info.primary_key.length === 1 ? row[info.primary_key[0]] : null;
  const resource = { jobs: "jobs", posts: "posts", users: "users" }[name];
  const buttons = resource && key !== null ? actionButtons(resource, key, row, () => rowPage(name)) : [];
  const extra = name === "jobs" && key !== null ? el("a", { class: "button ghost", href: `/studio/jobs/${key}` }, "Open in Jobs") : null;
  app.replaceChildren(
    el("div", { class: "page-head" },
      el("h1", {}, el("a", { href: "/studio/data" }, "Data"), " / ", el("a", { href: `/studio/data/${name}` }, name), " / ", info.primary_key.map((k) => row[k]).join(", ")),
      el("div", { class: "actions" }, buttons, extra)),
    el("div", { class: "row-layout" },
      panel("Fields", fields),
      el("div", {},
        panel("Points to", outgoing.length ? el("ul", { class: "relations" }, outgoing) : el("p", { class: "muted" }, "No foreign keys set.")),
        panel("Pointed at by", incoming.length ? el("ul", { class: "relations" }, incoming) : el("p", { class: "muted" }, "Nothing references this table.")))));
}

// --- jobs --------------------------------------------------------------------------------

const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "dead", "cancelled"];

async function jobsPage() {
  setTitle("Jobs");
  const params = new URLSearchParams(location.search);
  const data = await get(`/studio/api/jobs?${params}`);
  const stats = data.stats;
  const queueRows = Object.entries(stats.queues).map(([name, q]) => [
    el("a", { href: `/studio/jobs?queue=${encodeURIComponent(name)}` }, name),
    ...JOB_STATUSES.map((s) => q[s] ? el("a", { href: `/studio/jobs?queue=${encodeURIComponent(name)}&status=${s}` }, String(q[s])) : "0")]);
  const filters = el("form", { class: "filters" },
    el("label", {}, "Status", el("select", { name: "status" }, el("option", { value: "" }, "any"),
      JOB_STATUSES.map((s) => el("option", { value: s, selected: params.get("status") === s }, s)))),
    el("label", {}, "Queue", el("input", { name: "queue", value: params.get("queue") || "", size: 10 })),
    el("label", {}, "Task", el("input", { name: "task", value: params.get("task") || "", size: 14 })),
    el("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(filters)) if (value) next.set(key, value);
    location.href = `/studio/jobs?${next}`;
  });
  const rows = data.items.map((j) => [
    el("a", { href: `/studio/jobs/${j.id}`, "data-testid": "job-link" }, `#${j.id}`),
    j.task, j.queue, badge(j.status), `${j.attempts}/${j.max_attempts}`, fmtTime(j.run_at),
    j.error ? el("span", { class: "error-text" }, truncate(j.error.split("\n")[0], 60)) : ""]);
  const pager = el("div", { class: "pager" });
  if (data.has_more) {
    const next = new URLSearchParams(params);
    next.set("cursor", data.next_cursor);
    pager.append(el("a", { class: "button", href: `/studio/jobs?${next}` }, "Older ⟶"));
  }
  app.replaceChildren(
    el("div", { class: "page-head" }, el("h1", {}, "Jobs")),
    panel("Queues", table(["Queue", ...JOB_STATUSES], queueRows, "queues")),
    filters,
    table(["Job", "Task", "Queue", "Status", "Attempts", "Run at", "Last error"], rows, "jobs"),
    pager);
}

async function jobPage(id) {
  setTitle(`Job ${id}`);
  const job = await get(`/studio/api/jobs/${id}`);
  const facts = [["Task", job.task], ["Queue", job.queue], ["Status", badge(job.status)],
    ["Attempts", `${job.attempts} of ${job.max_attempts}`], ["Priority", job.priority],
    ["Run at", fmtTime(job.run_at)], ["Started", fmtTime(job.started_at)], ["Finished", fmtTime(job.finished_at)],
    ["Lease", job.lease_owner ? `${job.lease_owner} until ${fmtTime(job.lease_expires_at)}` : "–"],
    ["Unique key", job.unique_key || "–"], ["Row", el("a", { href: `/studio/data/jobs/row?id=${job.id}` }, "jobs / " + job.id)]];
  app.replaceChildren(
    el("div", { class: "page-head" },
      el("h1", {}, el("a", { href: "/studio/jobs" }, "Jobs"), ` / #${job.id}`),
      el("div", { class: "actions" }, actionButtons("jobs", job.id, job, () => jobPage(id)))),
    el("div", { class: "row-layout" },
      panel("Job", el("dl", { class: "fields", "data-testid": "job" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k.toLowerCase() }, v)]))),
      el("div", {},
        panel("Payload", el("pre", {}, JSON.stringify(job.payload, null, 2))),
        panel("Result", el("pre", {}, job.result ? JSON.stringify(job.result, null, 2) : "–")),
        panel("Last error", el("pre", { class: "error-text" }, job.error || "–")))));
}

// --- router ------------------------------------------------------------------------------

async function route() {
  const path = location.pathname.replace(/\/+$/, "");
  const parts = path.split("/").slice(2).map(decodeURIComponent);
  try {
    if (parts.length === 0) await overviewPage();
    else if (parts[0] === "data" && parts.length === 1) await tablesPage();
    else if (parts[0] === "data" && parts.length === 2) await tablePage(parts[1]);
    else if (parts[0] === "data" && parts[2] === "row") await rowPage(parts[1]);
    else if (parts[0] === "jobs" && parts.length === 1) await jobsPage();
    else if (parts[0] === "jobs") await jobPage(parts[1]);
    else app.replaceChildren(el("h1", {}, "Not found"));
  } catch (error) {
    if (error.status !== 401) app.replaceChildren(el("h1", {}, "Could not load this page"), errorBox(error));
  }
}

document.getElementById("logout-token").value = csrfToken();
get("/studio/api/me").then((me) => {
  document.getElementById("whoami").textContent = `${me.role} #${me.id}`;
  if (me.role !== "admin") {
    // The job service is for admins: moderators are not offered a page they cannot use.
    const jobs = document.querySelector("nav.main a[data-section=jobs]");
    if (jobs) jobs.hidden = true;
  }
}).catch(() => {});
route();
