// Parley console. Plain JavaScript, no build step. The page shows one snapshot of the account
// (GET /console/api/snapshot) and keeps it current with server-sent events (/console/events):
// a talking change is applied in place, anything else re-reads the snapshot. Every
// (re)connection of the event stream starts with "hello", which re-reads the snapshot, so the
// page is correct after a dropped connection. Values from the server only ever reach the page
// as text (textContent), never as HTML.
"use strict";

const state = { csrf: "", events: null, refreshTimer: 0, clockSkew: 0, snapshot: null };

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function show(view) {
  $("#signin-view").classList.toggle("hidden", view !== "signin");
  $("#console-view").classList.toggle("hidden", view !== "console");
  $("#logout").classList.toggle("hidden", view !== "console");
}

function setConn(on) {
  const c = $("#conn");
  c.textContent = on ? "live" : "offline";
  c.className = "conn " + (on ? "on" : "off");
}

function signedOut() {
  if (state.events) { state.events.close(); state.events = null; }
  state.csrf = "";
  $("#who").textContent = "";
  setConn(false);
  show("signin");
}

async function signIn(ev) {
  ev.preventDefault();
  $("#signin-error").textContent = "";
  const body = new URLSearchParams({ auth_id: $("#auth_id").value.trim(), auth_token: $("#auth_token").value });
  let res;
  try {
    res = await fetch("/console/login", { method: "POST", body, credentials: "same-origin" });
  } catch (e) {
    $("#signin-error").textContent = "The server cannot be reached.";
    return;
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    $("#signin-error").textContent = data.error || ("Sign-in failed (" + res.status + ")");
    return;
  }
  $("#auth_token").value = "";
  state.csrf = data.csrf;
  await start();
}

async function signOut() {
  await post("/console/logout", {});
  signedOut();
}

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.csrf },
    body: JSON.stringify(body),
  });
  if (res.status === 401) { signedOut(); return false; }
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    $("#errors").textContent = data.error || ("The action failed (" + res.status + ")");
    return false;
  }
  $("#errors").textContent = "";
  return true;
}

async function act(body) {
  if (await post("/console/api/action", body)) refreshSoon();
}

// load reads a snapshot and renders it (only the calls' table with callsOnly); false when not
// signed in.
async function load(callsOnly) {
  let res;
  try {
    res = await fetch("/console/api/snapshot", { credentials: "same-origin" });
  } catch (e) {
    setConn(false);
    return true;
  }
  if (res.status === 401) { signedOut(); return false; }
  if (!res.ok) return true;
  const snap = await res.json();
  state.csrf = snap.csrf;
  state.clockSkew = Date.parse(snap.now) - Date.now();
  state.snapshot = snap;
  $("#who").textContent = snap.auth_id;
  $("#errors").textContent = (snap.errors || []).join("; ");
  if (callsOnly === true) renderCalls(snap.calls); else render(snap);
  show("console");
  return true;
}

function refreshSoon() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(load, 150);
}

function connect() {
  if (state.events) state.events.close();
  const es = new EventSource("/console/events");
  state.events = es;
  es.addEventListener("hello", () => { setConn(true); load(); });
  es.addEventListener("signedout", signedOut);
  es.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    if (ev.kind === "talking" && markTalking(ev.room, ev.member, !!ev.talking)) return;
    refreshSoon();
  };
  es.onerror = () => {
    setConn(false);
    // EventSource reconnects by itself after a network error, but gives up on a refused
    // stream (signed out, too many consoles): check the session, and while it holds, open
    // a new stream a little later.
    load().then((signedIn) => {
      if (signedIn && es.readyState === EventSource.CLOSED && state.events === es) setTimeout(() => { if (state.events === es) connect(); }, 5000);
    });
  };
}

async function start() {
  if (await load()) connect();
}

function markTalking(room, member, talking) {
  const row = document.querySelector('tr.member[data-member="' + Number(member) + '"]');
  if (!row || row.dataset.room !== room) return false;
  row.classList.toggle("talking", talking);
  row.dataset.talking = talking ? "true" : "false";
  return true;
}

function since(iso) {
  const t = Date.parse(iso);
  if (!t) return "";
  let s = Math.max(0, Math.floor((Date.now() + state.clockSkew - t) / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const two = (n) => String(n).padStart(2, "0");
  return (h ? h + ":" + two(m) : String(m)) + ":" + two(s);
}

function clock(iso) {
  const t = Date.parse(iso);
  return t ? new Date(t).toLocaleTimeString() : "";
}

function ticker(iso) {
  return el("span", { "data-since": iso, text: since(iso) });
}

function flag(name, on) {
  return on ? el("span", { class: "flag on", text: name }) : null;
}

function render(snap) {
  renderRooms(snap.rooms);
  renderCalls(snap.calls);
  renderDeliveries(snap.deliveries);
  renderRecordings(snap.recordings);
}

function renderRooms(rooms) {
  const box = $("#rooms");
  box.replaceChildren();
  if (!rooms.length) { box.append(el("p", { class: "empty", text: "No live conference." })); return; }
  for (const r of rooms) {
    const room = r.name;
    const ask = (what, field, extra) => () => {
      const v = prompt(what);
      if (v) act(Object.assign({ room, [field]: v }, extra));
    };
    const head = el("div", { class: "room-head" },
      el("h3", { text: room }),
      el("span", { class: "empty" }, r.members.length + " members · ", ticker(r.started)),
      el("button", { type: "button", "data-act": "play-all", onclick: ask("URL of the audio to play to everyone", "url", { do: "play" }) }, "Play to all"),
      el("button", { type: "button", "data-act": "speak-all", onclick: ask("Text to speak to everyone", "text", { do: "speak" }) }, "Speak to all"),
      el("button", { type: "button", "data-act": "record", onclick: () => act({ do: "record", room }) }, "Record"),
      el("button", { type: "button", "data-act": "stop-record", onclick: () => act({ do: "stop-record", room }) }, "Stop recording"),
      el("button", { type: "button", class: "danger", "data-act": "hangup-room",
        onclick: () => confirm("Hang up every call in " + room + "?") && act({ do: "hangup-member", room, member: 0 }) }, "Hang up all"));
    const body = el("tbody");
    for (const m of r.members) {
      const member = m.id;
      const btn = (label, act1, extra) => el("button", Object.assign({ type: "button", "data-act": act1, "data-member": member,
        onclick: () => act({ do: act1, room, member }) }, extra || {}), label);
      body.append(el("tr", {
        class: "member" + (m.talking ? " talking" : ""), "data-member": member, "data-room": room, "data-call": m.call_uuid,
        "data-from": m.from, "data-talking": m.talking ? "true" : "false",
      },
        el("td", { class: "who" }, el("span", { class: "dot", title: m.talking ? "talking" : "quiet" }), m.from,
          el("span", { class: "id", text: " #" + member })),
        el("td", { text: m.caller_name }),
        el("td", { text: m.direction }),
        el("td", {}, clock(m.joined), " (", ticker(m.joined), ")"),
        el("td", {}, flag("muted", m.muted), flag("deaf", m.deaf), flag("waiting", m.waiting)),
        el("td", {},
          btn("Kick", "kick"),
          m.muted ? btn("Unmute", "unmute") : btn("Mute", "mute"),
          m.deaf ? btn("Undeaf", "undeaf") : btn("Deaf", "deaf"),
          el("button", { type: "button", "data-act": "play", "data-member": member, onclick: ask("URL of the audio to play", "url", { do: "play", member }) }, "Play"),
          el("button", { type: "button", "data-act": "speak", "data-member": member, onclick: ask("Text to speak", "text", { do: "speak", member }) }, "Speak"),
          btn("Hang up", "hangup-member", { class: "danger" }))));
    }
    box.append(el("div", { class: "room", "data-room": room }, head,
      el("table", {}, el("thead", {}, el("tr", {},
        el("th", { text: "Member" }), el("th", { text: "Name" }), el("th", { text: "Direction" }),
        el("th", { text: "Joined" }), el("th", { text: "Flags" }), el("th", { text: "" }))), body)));
  }
}

function emptyRow(tbody, cols, text) {
  tbody.append(el("tr", {}, el("td", { colspan: cols, class: "empty", text })));
}

function renderCalls(calls) {
  const tb = $("#calls tbody");
  tb.replaceChildren();
  if (!calls.length) { emptyRow(tb, 10, "No live call."); return; }
  for (const c of calls) {
    const call = c.call_uuid;
    tb.append(el("tr", { "data-call": call },
      el("td", { text: c.from }), el("td", { text: c.to }), el("td", { text: c.direction }),
      el("td", { text: c.state }), el("td", {}, ticker(c.answered || c.started)),
      el("td", { text: c.codec }), el("td", { text: c.packets_in + " / " + c.packets_out }),
      el("td", { text: c.packets_lost }), el("td", { text: c.jitter_ms.toFixed(1) + " ms" }),
      el("td", {},
        el("button", { type: "button", "data-act": "transfer", onclick: () => {
          const url = prompt("Transfer to the document at URL");
          if (url) act({ do: "transfer", call, url });
        } }, "Transfer"),
        el("button", { type: "button", class: "danger", "data-act": "hangup-call", onclick: () => act({ do: "hangup-call", call }) }, "Hang up"))));
  }
}

function renderDeliveries(ds) {
  const tb = $("#deliveries tbody");
  tb.replaceChildren();
  if (!ds.length) { emptyRow(tb, 7, "No webhook sent yet."); return; }
  for (const d of ds) {
    tb.append(el("tr", {},
      el("td", { text: clock(d.created) }), el("td", { text: d.event }),
      el("td", { class: "url", title: d.url, text: d.method + " " + d.url }),
      el("td", { class: "state-" + d.state, text: d.state }), el("td", { text: d.attempts }),
      el("td", { text: d.last_error }),
      el("td", { text: d.state === "pending" ? clock(d.next_attempt) : "" })));
  }
}

function renderRecordings(rs) {
  const tb = $("#recordings tbody");
  tb.replaceChildren();
  if (!rs.length) { emptyRow(tb, 6, "No recording."); return; }
  for (const r of rs) {
    const src = "/console/recording?id=" + encodeURIComponent(r.id);
    tb.append(el("tr", { "data-recording": r.id },
      el("td", { text: clock(r.added) }), el("td", { text: r.type + " · " + r.format }),
      el("td", { text: r.conference_name || r.call_uuid }),
      el("td", { text: (r.duration_ms / 1000).toFixed(1) + " s" }),
      el("td", {}, el("audio", { controls: true, preload: "none", src })),
      el("td", {},
        el("a", { href: src + "&download=1", text: "Download" }), " ",
        el("button", { type: "button", class: "danger", "data-act": "delete-recording",
          onclick: () => confirm("Delete this recording?") && act({ do: "delete-recording", recording: r.id }) }, "Delete"))));
  }
}

// Durations count on the page; the server is asked again only when something changes, and
// every ten seconds while calls are live, for their media figures (the calls' table only:
// rooms change by events).
setInterval(() => {
  for (const e of document.querySelectorAll("[data-since]")) e.textContent = since(e.dataset.since);
}, 1000);
setInterval(() => {
  if (state.csrf && state.snapshot && state.snapshot.calls.length) load(true);
}, 10000);

document.addEventListener("DOMContentLoaded", () => {
  $("#signin").addEventListener("submit", signIn);
  $("#logout").addEventListener("click", signOut);
  start();
});
