/**
 * The admin dashboard (`GET /ui`): one self-contained page, no build step, no CDN, so it works offline
 * and inside the compiled binary (it is a module, embedded like the rest of the code). It reads
 * /control/status, follows /api/events and /api/logs/stream with the admin token (asked once, kept in
 * sessionStorage) and calls the admin actions.
 */
export const UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>llmux</title>
<style>
  :root { --fg: #1d2330; --muted: #667085; --line: #d9dde5; --bg: #f7f8fa; --ok: #137333; --warn: #b06000;
          --bad: #b3261e; --accent: #1a56db; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1rem; background: #fff;
           border-bottom: 1px solid var(--line); }
  header h1 { font-size: 1.1rem; margin: 0; }
  main { padding: 1rem; display: grid; gap: 1rem; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; }
  h2 { font-size: 1rem; margin: 0 0 .5rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { color: var(--muted); font-weight: 600; }
  .muted { color: var(--muted); }
  .state-awake { color: var(--ok); font-weight: 600; }
  .state-busy { color: var(--warn); font-weight: 600; }
  .state-down { color: var(--muted); }
  .state-bad { color: var(--bad); font-weight: 600; }
  button, select, input { font: inherit; padding: .15rem .45rem; }
  .bar { display: flex; height: 14px; border: 1px solid var(--line); border-radius: 3px; overflow: hidden;
         max-width: 480px; }
  .bar span { display: block; height: 100%; }
  .awake-b { background: #3b82f6; } .sleeping-b { background: #a5b4fc; } .reserved-b { background: #f59e0b; }
  #logs { height: 18rem; overflow: auto; background: #111827; color: #e5e7eb; padding: .5rem;
          font: 12px/1.4 ui-monospace, monospace; white-space: pre-wrap; margin: .5rem 0 0; }
  #timeline { max-height: 14rem; overflow: auto; }
  #token-form[hidden], #error[hidden] { display: none; }
  #error { color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1>llmux</h1>
  <span id="mode" class="muted"></span>
  <span id="error" hidden></span>
  <form id="token-form" hidden>
    <label>Admin token <input id="token" type="password" autocomplete="off"></label>
    <button type="submit">Use</button>
  </form>
</header>
<main>
  <div id="domains"></div>
  <section><h2>Switch costs (measured)</h2><table id="costs"></table></section>
  <section><h2>Timeline</h2><table id="timeline"></table></section>
  <section>
    <h2>Logs</h2>
    <label>Model <select id="log-model"><option value="">all</option></select></label>
    <pre id="logs"></pre>
  </section>
</main>
<script>
"use strict";
const KEY = "llmux-admin-token";
const EVICTIONS = ["offload+keep_running", "discard+keep_running", "retain+stop", "retain+cuda_suspend",
  "discard+checkpoint"];
let token = sessionStorage.getItem(KEY) || "";
let status = null;
const timeline = [];
const logLines = [];
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function showError(text) {
  $("error").hidden = !text;
  $("error").textContent = text || "";
}

async function api(path, body) {
  const headers = body === undefined ? {} : { "content-type": "application/json" };
  if (token) headers.authorization = "Bearer " + token;
  const res = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    $("token-form").hidden = false;
    throw new Error("the admin API needs its token");
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function stateOf(name, m, domain) {
  if (domain.state.startsWith("switching:") && domain.state.endsWith("->" + name)) return ["switching", "busy"];
  const p = m.process_state;
  if (p === "running") return ["awake", "awake"];
  if (p === "not_started") return ["stopped", "down"];
  if (p.startsWith("sleeping")) {
    if (p.includes("CudaSuspend")) return ["suspended", "down"];
    if (p.includes("Offload")) return ["sleeping L1", "down"];
    if (p.includes("Discard")) return ["sleeping L2", "down"];
    return ["sleeping", "down"];
  }
  if (p === "checkpointed") return ["checkpointed", "down"];
  return [p, "busy"];
}

const ago = (s) => s === null ? "never" : s < 60 ? s + " s ago" : Math.round(s / 60) + " min ago";

function act(label, path, body) {
  return el("button", {
    "data-action": label,
    onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await api(path, body());
        showError("");
      } catch (err) {
        showError(label + ": " + err.message);
      } finally {
        ev.target.disabled = false;
        refresh();
      }
    },
  }, label);
}

function memoryRow(r) {
  const pct = (gb) => (100 * gb / r.total_gb).toFixed(1) + "%";
  const measured = r.measured_gb === null ? "" : ", measured " + r.measured_gb + " GB";
  return el("div", {},
    el("div", {}, "gpu " + r.gpu + ": planned " + (r.awake_gb + r.sleeping_gb + r.reserved_gb).toFixed(1) +
      " of " + r.total_gb + " GB (awake " + r.awake_gb + ", sleeping " + r.sleeping_gb + ", reserved " +
      r.reserved_gb + ")" + measured),
    el("div", { class: "bar" },
      el("span", { class: "awake-b", style: "width:" + pct(r.awake_gb) }),
      el("span", { class: "sleeping-b", style: "width:" + pct(r.sleeping_gb) }),
      el("span", { class: "reserved-b", style: "width:" + pct(r.reserved_gb) })));
}

function renderDomain(d) {
  const rows = d.models.map((name) => {
    const m = status.models[name];
    const [text, cls] = stateOf(name, m, d);
    const eviction = el("select", { "data-eviction": name },
      ...EVICTIONS.map((e) => el("option", { value: e }, e)));
    const chosen = () => {
      const [weights, process] = eviction.value.split("+");
      return { model: name, eviction: { weights, process } };
    };
    return el("tr", { "data-model": name },
      el("td", {}, name),
      el("td", { class: "state state-" + cls }, text),
      el("td", {}, m.in_flight),
      el("td", {}, m.queue_depth),
      el("td", {}, ago(m.last_used_secs)),
      el("td", {}, m.ttl_left_secs === null ? "—" : m.ttl_left_secs + " s"),
      el("td", {}, m.pinned ? "pinned" : ""),
      el("td", {},
        act("wake", "/control/wake", () => ({ model: name })), " ",
        eviction, act("sleep", "/control/sleep", chosen), " ",
        act("evict", "/control/sleep", () => ({ model: name })), " ",
        act("pin", "/control/pin", () => ({ model: name })), " ",
        act("unpin", "/control/unpin", () => undefined)));
  });
  const mode = d.mode.mode === "manual" ? "manual" + (d.mode.pinned ? " (pinned " + d.mode.pinned + ")" : "") : "auto";
  return el("section", { "data-domain": d.gpus.join("+") },
    el("h2", {}, "GPU " + d.gpus.join("+") + " · " + d.state + " · " + mode),
    ...(d.memory || []).map(memoryRow),
    el("table", {},
      el("tr", {}, ...["model", "state", "in flight", "queue", "last used", "TTL left", "", "actions"]
        .map((h) => el("th", {}, h))),
      ...rows));
}

function render() {
  if (!status) return;
  $("mode").textContent = "mode " + status.mode.mode + " · " + Object.keys(status.models).length + " models";
  $("domains").replaceChildren(...status.domains.map(renderDomain));
  $("costs").replaceChildren(el("tr", {}, el("th", {}, "from"), el("th", {}, "to"), el("th", {}, "seconds")),
    ...status.switch_costs.map((c) => el("tr", {}, el("td", {}, c.from), el("td", {}, c.to),
      el("td", {}, c.seconds.toFixed(2)))));
  const select = $("log-model");
  if (select.options.length === 1) {
    for (const name of Object.keys(status.models)) select.append(el("option", { value: name }, name));
  }
}

function renderTimeline() {
  $("timeline").replaceChildren(
    el("tr", {}, ...["time", "event", "model", "detail"].map((h) => el("th", {}, h))),
    ...timeline.slice(-60).reverse().map((e) => el("tr", {},
      el("td", {}, e.time.slice(11, 23)), el("td", {}, e.type), el("td", {}, e.model || e.to || ""),
      el("td", {}, detail(e)))));
}

function detail(e) {
  switch (e.type) {
    case "switch_started": return (e.from || "idle") + " → " + e.to;
    case "switch_phase": return e.phase + " " + e.seconds.toFixed(2) + " s";
    case "model_activated": return "in " + e.seconds.toFixed(2) + " s from " + (e.from || "idle");
    case "model_evicted": return e.weights + "+" + e.process + " (" + e.reason + ")";
    case "switch_failed": return e.error;
    case "engine_exited": return e.detail;
    default: return "";
  }
}

function renderLogs() {
  const model = $("log-model").value;
  const shown = logLines.filter((l) => !model || l.model === model).slice(-300);
  const pre = $("logs");
  pre.textContent = shown.map((l) => l.time.slice(11, 23) + " " + l.level.padEnd(7) + " " + l.category +
    " " + l.message).join("\\n");
  pre.scrollTop = pre.scrollHeight;
}

let pending = null;
function refresh() {
  if (pending) return;
  pending = setTimeout(async () => {
    pending = null;
    try {
      status = await api("/control/status");
      showError("");
      render();
    } catch (err) {
      showError(err.message);
    }
  }, 100);
}

const TIMELINE = new Set(["switch_started", "switch_phase", "model_activated", "model_evicted",
  "switch_failed", "engine_exited"]);

/** Follows a server-sent event stream with the token (EventSource cannot send one); reconnects. */
async function follow(path, onItem) {
  for (;;) {
    try {
      const res = await fetch(path, { headers: token ? { authorization: "Bearer " + token } : {} });
      if (res.status === 401) {
        $("token-form").hidden = false;
        return;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\\n\\n")) >= 0) {
          const chunk = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (chunk.startsWith("data: ")) onItem(JSON.parse(chunk.slice(6)));
        }
      }
    } catch (_) { /* reconnect below */ }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function start() {
  refresh();
  follow("/api/events?history=60", (e) => {
    if (TIMELINE.has(e.type)) {
      timeline.push(e);
      renderTimeline();
    }
    refresh();
  });
  follow("/api/logs/stream?history=300", (l) => {
    logLines.push(l);
    if (logLines.length > 2000) logLines.shift();
    renderLogs();
  });
  // Counters (last used, TTL left) move without events.
  if (!ticking) ticking = setInterval(refresh, 5000);
}
let ticking = 0;

$("log-model").addEventListener("change", renderLogs);
$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value;
  sessionStorage.setItem(KEY, token);
  $("token-form").hidden = true;
  start();
});
start();
</script>
</body>
</html>
`;
