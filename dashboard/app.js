// ferry's dashboard: plain ES module, no build step. It reads GET /api/v1/status, follows
// GET /api/v1/events, and sends actions with the bearer token the user typed once. The token
// lives in sessionStorage (gone when the tab closes), never in a cookie or a URL.
const TOKEN_KEY = "ferry.token";
const $ = (sel) => document.querySelector(sel);
const token = () => sessionStorage.getItem(TOKEN_KEY) ?? "";
const headers = () => (token() ? { authorization: `Bearer ${token()}` } : {});

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

function notice(text, isError = false) {
  const n = $("#notice");
  n.textContent = text;
  n.className = isError ? "error" : "";
}

const units = ["B", "KiB", "MiB", "GiB", "TiB"];
function bytes(n) {
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function when(iso) {
  if (!iso) return "—";
  const ms = Date.parse(iso) - Date.now();
  const abs = Math.abs(ms);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)} s` : abs < 7_200_000 ? `${Math.round(abs / 60_000)} min` : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)} h` : `${Math.round(abs / 86_400_000)} d`;
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

const STATE_CLASS = { ok: "ok", dead: "bad", retrying: "warn", running: "", queued: "muted", idle: "muted" };

async function act(path, label) {
  notice(`${label}…`);
  try {
    const res = await fetch(path, { method: "POST", headers: headers() });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      notice(`${label}: refused (${res.status}): ${body.error ?? res.statusText}`, true);
      return;
    }
    notice(`${label}: ${body.message ?? "done"}`);
  } catch (err) {
    notice(`${label}: ${err.message}`, true);
  }
  refreshSoon();
}

function renderJobs(s) {
  const tbody = $("#jobs tbody");
  tbody.replaceChildren(...s.jobs.map((j) => {
    const name = encodeURIComponent(j.name);
    const state = j.paused ? "paused" : j.state;
    const why = j.remoteDown ? ` (remote ${j.remoteDown.reason})` : j.localProblem ? ` (${j.localProblem.summary})` : "";
    return el("tr", { "data-job": j.name },
      el("td", {}, el("strong", {}, j.name), el("br"), el("span", { class: "muted" }, `${j.kind}: ${j.target}`)),
      el("td", { class: `state ${STATE_CLASS[j.state] ?? ""}` }, state + why, j.lastError && j.state !== "ok" ? el("div", { class: "muted" }, j.lastError) : ""),
      el("td", {}, when(j.lastSuccessAt)),
      el("td", {}, when(j.nextRunAt)),
      el("td", { class: "actions" },
        el("button", { type: "button", "data-action": "run", onclick: () => act(`/api/v1/jobs/${name}/run`, `run ${j.name}`) }, "Run now"), " ",
        j.paused
          ? el("button", { type: "button", "data-action": "resume", onclick: () => act(`/api/v1/jobs/${name}/resume`, `resume ${j.name}`) }, "Resume")
          : el("button", { type: "button", "data-action": "pause", onclick: () => act(`/api/v1/jobs/${name}/pause`, `pause ${j.name}`) }, "Pause")));
  }));
}

function renderRunning(running) {
  const box = $("#running");
  if (running.length === 0) {
    box.replaceChildren(el("p", { class: "muted" }, "nothing running"));
    return;
  }
  box.replaceChildren(...running.map((r) => {
    const total = r.totalBytes ?? 0;
    const eta = r.etaSeconds === null ? "" : `, ${r.etaSeconds} s left`;
    return el("div", { class: "run", "data-run": r.id },
      el("div", {}, el("strong", {}, r.job), ` run ${r.id} (${r.direction} ${r.remote}): ${bytes(r.bytes)}${total ? ` of ${bytes(total)}` : ""}, ${bytes(r.rate)}/s${eta}`),
      total ? el("progress", { max: total, value: Math.min(r.bytes, total) }) : "",
      ...r.files.map((f) => el("div", { class: "muted path" }, `${f.path} (${bytes(f.size)})`)));
  }));
}

function renderDead(dead) {
  $("#dead tbody").replaceChildren(...dead.map((d) => el("tr", { "data-dead": d.id },
    el("td", {}, `#${d.id}`), el("td", {}, d.job, d.path ? el("div", { class: "muted path" }, d.path) : ""),
    el("td", {}, d.lastError ?? ""),
    el("td", {}, el("button", { type: "button", onclick: () => act(`/api/v1/dead/retry?id=${d.id}`, `retry run ${d.id}`) }, "Retry")))));
  if (dead.length === 0) $("#dead tbody").replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "none")));
  $("#retry-all").hidden = dead.length === 0;
}

function renderTransfers(s) {
  const all = s.jobs.flatMap((j) => j.recentTransfers.map((t) => ({ ...t, job: j.name })))
    .sort((a, b) => b.finishedAt.localeCompare(a.finishedAt)).slice(0, 20);
  $("#transfers tbody").replaceChildren(...all.map((t) => el("tr", {},
    el("td", {}, when(t.finishedAt)), el("td", {}, t.job), el("td", { class: "path" }, t.path), el("td", {}, bytes(t.bytes)), el("td", {}, t.verified))));
}

function renderRemotes(remotes) {
  $("#remotes tbody").replaceChildren(...remotes.map((r) => el("tr", {},
    el("td", {}, el("strong", {}, r.name), el("br"), el("span", { class: "muted" }, r.url)),
    el("td", { class: r.reachable ? "ok" : "bad" }, r.loginRefused ? "login refused" : r.reachable ? "reachable" : "unreachable", r.lastError ? el("div", { class: "muted" }, r.lastError) : ""),
    el("td", {}, `${r.connections} of ${r.maxConnections}`))));
}

async function refresh() {
  try {
    const res = await fetch("/api/v1/status", { headers: headers() });
    if (res.status === 401) {
      notice("This daemon needs the bearer token to show its status: type it above.", true);
      return;
    }
    const s = await res.json();
    $("#daemon").textContent = s.ready?.ready ? `ready · pid ${s.daemonPid ?? "?"}` : `not ready: ${s.ready?.reason ?? "?"}`;
    renderJobs(s);
    renderRunning(s.running);
    renderDead(s.dead);
    renderTransfers(s);
    renderRemotes(s.remotes);
  } catch (err) {
    $("#daemon").textContent = `unreachable: ${err.message}`;
  }
}

let timer;
function refreshSoon() {
  clearTimeout(timer);
  timer = setTimeout(refresh, 200);
}

// Server-Sent Events read through fetch: EventSource cannot send the Authorization header.
async function follow() {
  for (;;) {
    try {
      const res = await fetch("/api/v1/events", { headers: headers() });
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      $("#live").textContent = "live";
      $("#live").classList.remove("muted");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!type || !data) continue;
          if (type === "progress") renderRunning(JSON.parse(data).running);
          else refreshSoon();
        }
      }
    } catch {
      // fall through to the retry below
    }
    $("#live").textContent = "offline";
    $("#live").classList.add("muted");
    await new Promise((r) => setTimeout(r, 3000));
  }
}

$("#token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("#token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  $("#token").value = "";
  notice(value ? "token kept for this tab" : "");
  refresh();
});
$("#forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  notice("token forgotten");
});
$("#retry-all").addEventListener("click", () => act("/api/v1/dead/retry", "retry all dead runs"));

refresh();
setInterval(refresh, 15_000);
follow();
