// app.js: the small amount of script berth serve's pages need. Pages are
// rendered on the server and work as documents; this adds live updates
// (server-sent events), actions without a reload (fetch), streamed output
// (NDJSON read as it arrives), the terminal (WebSocket) and the chat.
// Everything written into the page goes in as text, never as HTML, except
// the overview rows, which the server renders with the page's own template.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// announce tells screen readers about something that happened elsewhere.
function announce(text) {
  const a = $("#announce");
  if (a) a.textContent = text;
}

// confirmAction shows the confirmation dialog; resolves true on Confirm.
function confirmAction(text) {
  const d = $("#confirm");
  $("#confirm-text").textContent = text;
  d.returnValue = "";
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
  });
}

// post sends JSON and returns the response. Same-origin fetches carry the
// cookie and the Origin header the server checks.
function post(path, body, accept) {
  const headers = { "Content-Type": "application/json" };
  if (accept) headers.Accept = accept;
  return fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}), credentials: "same-origin" });
}

// readLines calls fn with each JSON value of an NDJSON response as it arrives.
async function readLines(resp, fn) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) fn(JSON.parse(line));
    }
  }
  if (buf.trim()) fn(JSON.parse(buf));
}

async function errorText(resp) {
  try {
    const e = await resp.json();
    return e.error + (e.hint ? " — " + e.hint : "");
  } catch {
    return resp.status + " " + resp.statusText;
  }
}

// ---- overview -------------------------------------------------------------

function overview() {
  const live = $("#live");
  const es = new EventSource("/events");
  es.addEventListener("open", () => { live.textContent = "live"; });
  es.addEventListener("error", () => { live.textContent = "reconnecting…"; });
  es.addEventListener("ok", () => { live.textContent = "live"; live.className = "muted"; });
  es.addEventListener("problem", (e) => {
    const p = JSON.parse(e.data);
    live.textContent = p.error + (p.hint ? " — " + p.hint : "");
    live.className = "bad";
  });
  es.addEventListener("row", (e) => updateRow(JSON.parse(e.data)));

  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-action]");
    if (!b) return;
    const action = b.dataset.action, target = b.dataset.target;
    const result = $(`[data-result="${CSS.escape(target)}"]`);
    b.disabled = true;
    if (result) { result.textContent = action + "…"; result.className = "result muted"; }
    try {
      const resp = await post("/api/" + action, { targets: target ? [target] : [] });
      const text = resp.ok ? (await resp.json()).summary || "done" : await errorText(resp);
      // The row may have been replaced meanwhile: find the result cell again.
      const r = $(`[data-result="${CSS.escape(target)}"]`);
      if (r) { r.textContent = text; r.className = "result " + (resp.ok ? "ok" : "bad"); }
      announce(`${action} ${target || "all"}: ${text}`);
    } catch (err) {
      if (result) { result.textContent = String(err); result.className = "result bad"; }
    } finally {
      b.disabled = false;
    }
  });
}

// updateRow brings a container's row up to the server's new rendering. Only
// the cells that changed are replaced, so a button is not swapped out
// under the pointer or the keyboard focus when the uptime ticks.
function updateRow(ev) {
  const old = document.getElementById("c-" + ev.name);
  if (ev.gone) { if (old) old.remove(); return; }
  const tmp = document.createElement("tbody");
  tmp.innerHTML = ev.html; // rendered by the server's html/template, escaped there
  const row = tmp.firstElementChild;
  if (!old) {
    const body = document.getElementById("kit-" + ev.kit);
    if (!body) { location.reload(); return; }
    const next = $$("tr[data-name]", body).find((r) => r.dataset.name > ev.name);
    body.insertBefore(row, next || null);
    return;
  }
  const cells = [...row.children];
  if (cells.length !== old.children.length) { old.replaceWith(row); return; }
  cells.forEach((cell, i) => {
    const was = old.children[i];
    if (was.outerHTML === cell.outerHTML) return;
    const msg = $(".result", was);
    if (msg && msg.textContent) {
      // The result of the last action stays until the next one.
      const m = $(".result", cell);
      if (m) { m.textContent = msg.textContent; m.className = msg.className; }
      if (was.outerHTML === cell.outerHTML) return;
    }
    const focused = was.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    was.replaceWith(cell);
    if (focused) {
      const b = $(`button[data-action="${focused}"]`, cell) || $("button", cell);
      if (b) b.focus();
    }
  });
}

// ---- plan and apply -------------------------------------------------------

function planPage() {
  const events = $("#events");
  const addEvent = (text, cls) => {
    const li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    events.appendChild(li);
    events.scrollTop = events.scrollHeight;
  };
  async function refresh() {
    $("#plan-summary").textContent = "asking the engine…";
    const resp = await fetch("/api/plan");
    const steps = $("#steps");
    steps.replaceChildren();
    if (!resp.ok) { addEvent(await errorText(resp), "bad"); return; }
    const pl = await resp.json();
    const ops = pl.ops || [];
    for (const op of ops) {
      const li = document.createElement("li");
      const k = document.createElement("span"); k.className = "op"; k.textContent = op.kind;
      const t = document.createElement("span"); t.className = "mono"; t.textContent = " " + op.target;
      const c = document.createElement("span"); c.className = "cause"; c.textContent = " — " + op.cause;
      li.append(k, t, c);
      steps.appendChild(li);
    }
    if (!ops.length) {
      const li = document.createElement("li"); li.className = "muted";
      li.textContent = "nothing to do: the engine matches the config";
      steps.appendChild(li);
    }
    $("#apply").disabled = !ops.length;
    $("#plan-summary").textContent = ops.length ? ops.length + " step(s)" : "nothing to do";
  }
  // refreshGenerations redraws the generations table and the diff pickers.
  async function refreshGenerations() {
    const resp = await fetch("/api/generations");
    if (!resp.ok) return;
    const gens = (await resp.json()).reverse();
    const body = $("#generations");
    body.replaceChildren();
    for (const [i, g] of gens.entries()) {
      const tr = document.createElement("tr");
      const th = document.createElement("th"); th.scope = "row"; th.textContent = g.number + (i === 0 ? " (current)" : "");
      const cells = [new Date(g.time).toLocaleString(), g.command, String(g.containers)].map((v) => { const td = document.createElement("td"); td.textContent = v; return td; });
      cells[1].className = "mono";
      const act = document.createElement("td");
      if (i > 0) { const b = document.createElement("button"); b.className = "danger"; b.dataset.rollback = g.number; b.textContent = "Roll back to " + g.number; act.appendChild(b); }
      tr.append(th, ...cells, act);
      body.appendChild(tr);
    }
    for (const [sel, pick] of [["#diff-a", 1], ["#diff-b", 0]]) {
      const s = $(sel);
      s.replaceChildren(...gens.map((g) => { const o = document.createElement("option"); o.value = o.textContent = g.number; return o; }));
      if (gens[pick]) s.value = gens[pick].number;
    }
  }
  refreshGenerations();
  $("#refresh-plan").addEventListener("click", refresh);
  $("#apply").addEventListener("click", async () => {
    $("#apply").disabled = true;
    events.replaceChildren();
    addEvent("applying…");
    const resp = await post("/api/up", {}, "application/x-ndjson");
    if (!resp.ok) { addEvent(await errorText(resp), "bad"); return; }
    await readLines(resp, (l) => {
      if (l.event) {
        const ev = l.event;
        const what = ev.op ? `${ev.op.kind} ${ev.op.target}` : ev.container || ev.image || "";
        addEvent(`${ev.kind}${ev.phase ? " " + ev.phase : ""} ${what}${ev.message ? ": " + ev.message : ""}${ev.error ? " — " + ev.error : ""}`, ev.error ? "bad" : "");
      } else if (l.result) {
        addEvent("done: " + (l.result.summary || "nothing to do") + (l.result.generation ? ` (generation ${l.result.generation})` : ""), "ok");
        announce("apply done");
      } else if (l.error) {
        addEvent("failed: " + l.error + (l.hint ? " — " + l.hint : ""), "bad");
        announce("apply failed");
      }
    });
    await refresh();
    await refreshGenerations();
  });
  $("#diff").addEventListener("click", async () => {
    const out = $("#diff-out");
    const resp = await fetch(`/api/diff?from=${$("#diff-a").value}&to=${$("#diff-b").value}`);
    out.replaceChildren();
    if (!resp.ok) { out.textContent = await errorText(resp); return; }
    const d = await resp.json();
    if (d.equal) { out.textContent = "the two configurations are the same"; return; }
    for (const line of d.diff.split("\n")) {
      const s = document.createElement("span");
      s.className = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
      s.textContent = line + "\n";
      out.appendChild(s);
    }
  });
  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-rollback]");
    if (!b) return;
    const n = b.dataset.rollback;
    if (!(await confirmAction(`Roll the project back to generation ${n}? Containers whose config differs are recreated; data paths are kept.`))) return;
    events.replaceChildren();
    addEvent(`rolling back to ${n}…`);
    const resp = await post("/api/rollback", { generation: Number(n), confirm: n }, "application/x-ndjson");
    if (!resp.ok) { addEvent(await errorText(resp), "bad"); return; }
    await readLines(resp, (l) => {
      if (l.event) addEvent(`${l.event.kind} ${l.event.op ? l.event.op.kind + " " + l.event.op.target : ""}`);
      if (l.result) { addEvent("done: " + (l.result.summary || "nothing to do"), "ok"); refresh(); refreshGenerations(); }
      if (l.error) addEvent("failed: " + l.error + (l.hint ? " — " + l.hint : ""), "bad");
    });
  });
}

// ---- logs -------------------------------------------------------------------

function logsPage() {
  const log = $("#log"), search = $("#log-search"), count = $("#log-count");
  let es = null;
  const hues = {};
  const hue = (name) => {
    if (!(name in hues)) {
      let h = 0;
      for (const c of name) h = (h * 31 + c.codePointAt(0)) % 360;
      hues[name] = h;
    }
    return hues[name];
  };
  const matches = (line) => !search.value || line.textContent.toLowerCase().includes(search.value.toLowerCase());
  const counter = () => {
    const all = log.children.length, shown = $$(".line:not([hidden])", log).length;
    count.textContent = search.value ? `${shown} of ${all} lines` : `${all} lines`;
  };
  function start() {
    if (es) es.close();
    log.replaceChildren();
    const q = new URLSearchParams();
    for (const c of $$("#log-targets input:checked")) q.append("target", c.value);
    if ($("#log-since").value) q.set("since", $("#log-since").value);
    if ($("#log-tail").value !== "") q.set("tail", $("#log-tail").value);
    if ($("#log-follow").checked) q.set("follow", "1");
    es = new EventSource("/api/logs?" + q);
    es.addEventListener("line", (e) => {
      const l = JSON.parse(e.data);
      const div = document.createElement("div");
      div.className = "line";
      const who = document.createElement("span");
      who.className = "who";
      who.style.setProperty("--hue", hue(l.container));
      who.textContent = l.container + (l.stderr ? "!" : "") + " | ";
      div.append(who, document.createTextNode(l.text.replace(/\n$/, "")));
      div.hidden = !matches(div);
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.appendChild(div);
      if (atEnd) log.scrollTop = log.scrollHeight;
      counter();
    });
    es.addEventListener("notice", (e) => { count.textContent = JSON.parse(e.data).message; });
    es.addEventListener("problem", (e) => {
      const p = JSON.parse(e.data);
      count.textContent = p.error + (p.hint ? " — " + p.hint : "");
      es.close();
    });
    es.addEventListener("end", () => { es.close(); counter(); });
  }
  $("#log-form").addEventListener("submit", (e) => { e.preventDefault(); start(); });
  search.addEventListener("input", () => {
    for (const line of log.children) line.hidden = !matches(line);
    counter();
  });
  start();
}

// ---- terminal ---------------------------------------------------------------

function terminalPage() {
  const el = $("#term"), status = $("#term-status"), close = $("#term-close");
  let ws = null;
  const enc = new TextEncoder();
  const term = new Term(el, (s) => { if (ws && ws.readyState === 1) ws.send(enc.encode(s)); });
  term.fit();
  term.write("Pick a container and open a shell.\r\n");
  const sendSize = () => {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "resize", rows: term.rows, cols: term.cols }));
  };
  new ResizeObserver(() => { if (term.fit()) sendSize(); }).observe(el);
  $("#term-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const target = $("#term-target").value;
    if (!target) return;
    if (!(await confirmAction(`Open a shell in ${target}? It runs with the container's privileges.`))) return;
    if (ws) ws.close();
    const q = new URLSearchParams({ target, confirm: target });
    if ($("#term-user").value) q.set("user", $("#term-user").value);
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/terminal?${q}`);
    ws.binaryType = "arraybuffer";
    status.textContent = "connecting…";
    ws.addEventListener("open", () => {
      status.textContent = "connected to " + target;
      close.disabled = false;
      term.write("\x1b[2J\x1b[H");
      sendSize();
      el.focus();
    });
    ws.addEventListener("message", (m) => term.write(typeof m.data === "string" ? m.data : new Uint8Array(m.data)));
    ws.addEventListener("close", (c) => {
      const why = c.reason || (c.code === 1000 ? "closed" : "connection lost (" + c.code + ")");
      status.textContent = "session ended: " + why;
      term.write(`\r\n[${why}]\r\n`);
      close.disabled = true;
      announce("terminal session ended: " + why);
      ws = null;
    });
  });
  close.addEventListener("click", () => { if (ws) ws.close(1000, "closed by the user"); });
}

// ---- chat -------------------------------------------------------------------

function chatPage() {
  const list = $("#chat-log"), input = $("#chat-input"), model = $("#chat-model");
  const stop = $("#chat-stop"), send = $("#chat-send");
  const key = "berth-chat:" + document.title;
  let history = [];
  try { history = JSON.parse(localStorage.getItem(key) || "[]"); } catch { history = []; }
  let abort = null;
  const show = (m) => {
    const li = document.createElement("li");
    li.className = m.role;
    li.textContent = m.content;
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    return li;
  };
  history.forEach(show);
  const save = () => localStorage.setItem(key, JSON.stringify(history));
  $("#chat-new").addEventListener("click", () => { history = []; save(); list.replaceChildren(); input.focus(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("#chat-form").requestSubmit(); }
  });
  stop.addEventListener("click", () => { if (abort) abort.abort(); });
  $("#chat-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || !model.value) return;
    const [service, name] = model.value.split("|");
    input.value = "";
    history.push({ role: "user", content: text });
    show(history[history.length - 1]);
    const answer = { role: "assistant", content: "" };
    const li = show(answer);
    li.setAttribute("aria-busy", "true");
    abort = new AbortController();
    stop.disabled = false; send.disabled = true;
    try {
      const resp = await fetch(`/api/chat/${encodeURIComponent(service)}/chat`, {
        method: "POST", headers: { "Content-Type": "application/json" }, signal: abort.signal,
        body: JSON.stringify({ model: name, messages: history }),
      });
      if (!resp.ok) throw new Error(await errorText(resp));
      await readLines(resp, (l) => {
        if (l.token) { answer.content += l.token; li.textContent = answer.content; list.scrollTop = list.scrollHeight; }
        if (l.error) throw new Error(l.error);
      });
    } catch (err) {
      if (err.name !== "AbortError") { li.textContent = answer.content + " [" + err.message + "]"; li.classList.add("bad"); }
      else li.textContent = answer.content + " [stopped]";
    } finally {
      li.removeAttribute("aria-busy");
      history.push(answer);
      save();
      stop.disabled = true; send.disabled = false; abort = null;
      announce("answer complete");
    }
  });
  const status = $("#model-status");
  $("#model-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const svc = $("#model-service").value, name = $("#model-name").value;
    status.textContent = "pulling " + name + "…";
    const resp = await post(`/api/chat/${encodeURIComponent(svc)}/pull`, { model: name });
    if (!resp.ok) { status.textContent = await errorText(resp); return; }
    await readLines(resp, (l) => {
      if (l.error) status.textContent = l.error + (l.hint ? " — " + l.hint : "");
      else if (l.done) { status.textContent = name + " pulled"; setTimeout(() => location.reload(), 500); }
      else status.textContent = l.status + (l.total ? ` ${Math.round((100 * (l.completed || 0)) / l.total)}%` : "");
    });
  });
  $("#model-delete").addEventListener("click", async () => {
    const svc = $("#model-service").value, name = $("#model-name").value;
    if (!name || !(await confirmAction(`Delete the model ${name} from ${svc}?`))) return;
    const resp = await post(`/api/chat/${encodeURIComponent(svc)}/delete`, { model: name, confirm: name });
    status.textContent = resp.ok ? name + " deleted" : await errorText(resp);
    if (resp.ok) setTimeout(() => location.reload(), 500);
  });
}

// ---- generic actions (tables) ----------------------------------------------

function tablePage() {
  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-post]");
    if (!b) return;
    if (b.dataset.confirm && !(await confirmAction(b.dataset.confirm))) return;
    const out = b.parentElement.querySelector(".result");
    b.disabled = true;
    out.textContent = "working…";
    const resp = await post(b.dataset.post, b.dataset.body ? JSON.parse(b.dataset.body) : {}, "application/x-ndjson");
    if (!resp.ok) { out.textContent = await errorText(resp); b.disabled = false; return; }
    await readLines(resp, (l) => {
      if (l.event) {
        const b = l.event.build;
        out.textContent = l.event.message || (b ? `${b.Stage} ${b.Item || ""}${b.Total ? ` ${b.Done}/${b.Total}` : ""}` : l.event.kind);
      }
      if (l.result) { out.textContent = "done"; setTimeout(() => location.reload(), 800); }
      if (l.error) out.textContent = l.error + (l.hint ? " — " + l.hint : "");
    });
    b.disabled = false;
  });
}

const pages = { overview, plan: planPage, logs: logsPage, terminal: terminalPage, chat: chatPage,
  images: tablePage, backups: tablePage, gpus: tablePage, doctor: tablePage };
const init = pages[document.body.dataset.page];
if (init) init();
