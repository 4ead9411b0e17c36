// Tailor's user page: see and steer what was learned (service/routes/ui.py).
//
// Plain JavaScript, no build step, no dependency. Rules this file keeps:
// - the API key lives in sessionStorage only: never in the URL, localStorage or a cookie;
// - every text from the API reaches the page through textContent (el() below), never
//   as HTML;
// - calls go to this origin only (the Content-Security-Policy allows nothing else).
"use strict";

(function () {
  const ROOT = document.body.dataset.root || "";
  const KEY = "tailor.key";
  const USER = "tailor.user";
  const SOURCES = {
    rule: "Verified rewrite rules",
    edit: "From your edits",
    feedback: "From your feedback",
    cipher: "Inferred by an LLM (CIPHER)",
    principle: "Principles",
  };
  let preferences = [];

  // -- small helpers ---------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  // An element with attributes and children; strings become text nodes, never HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  let statusTimer = null;
  function say(message, isError) {
    const box = $("status");
    box.textContent = message;
    box.classList.toggle("error", Boolean(isError));
    box.hidden = false;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 3000);
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY) };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(ROOT + path, init);
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      if (response.ok) throw new ApiError(response.status, "bad_response", "not a JSON answer");
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || "http_error",
        error.message || "request failed with status " + response.status);
    }
    return data;
  }

  const userPath = (rest) =>
    "/v1/users/" + encodeURIComponent(sessionStorage.getItem(USER)) + rest;

  // Runs an action, reporting its failure; a 401 (a revoked key) signs out.
  async function run(action) {
    try {
      return await action();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) forget();
      say(err instanceof ApiError ? err.message + " (" + err.code + ")" : String(err), true);
      return undefined;
    }
  }

  // -- connecting ------------------------------------------------------------------

  async function connect(event) {
    event.preventDefault();
    const key = $("key").value.trim();
    const typed = $("user").value.trim();
    sessionStorage.setItem(KEY, key);
    const auth = await run(() => api("GET", "/v1/key"));
    if (!auth) {
      sessionStorage.removeItem(KEY);
      return;
    }
    if (auth.user && typed && typed !== auth.user) {
      sessionStorage.removeItem(KEY);
      say("this key belongs to user " + auth.user + ", not " + typed, true);
      return;
    }
    const user = auth.user || typed;
    if (!user) {
      sessionStorage.removeItem(KEY);
      say("a tenant key opens any user: enter the user", true);
      return;
    }
    sessionStorage.setItem(USER, user);
    $("key").value = "";
    show(auth);
  }

  function forget() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(USER);
    $("app").hidden = true;
    $("who").hidden = true;
    $("connect").hidden = false;
  }

  function show(auth) {
    const user = sessionStorage.getItem(USER);
    $("who-text").textContent = auth && auth.user
      ? "Signed in as " + user + " (" + auth.tenant + ")"
      : "User " + user + (auth ? " (tenant key of " + auth.tenant + ")" : "");
    $("who").hidden = false;
    $("connect").hidden = true;
    $("app").hidden = false;
    selectTab("learned");
  }

  // -- tabs ------------------------------------------------------------------------

  const loaders = {
    learned: loadPreferences,
    principles: () => Promise.all([loadPrinciples(), loadAdapters()]),
  };

  function selectTab(name) {
    for (const button of document.querySelectorAll(".tabs button")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    for (const panel of document.querySelectorAll(".tab")) {
      panel.hidden = panel.id !== "tab-" + name;
    }
    if (loaders[name]) run(loaders[name]);
  }

  // -- what was learned ------------------------------------------------------------

  async function loadPreferences() {
    const answer = await api("GET", userPath("/preferences"));
    preferences = answer.data;
    renderPreferences();
  }

  function renderPreferences() {
    const showDisabled = $("show-disabled").checked;
    const active = preferences.filter((p) => !p.disabled);
    const rules = active.filter((p) => p.operation);
    $("summary").textContent = preferences.length + " learned, " + active.length + " active, "
      + rules.length + " executable rule" + (rules.length === 1 ? "" : "s");
    const groups = clear($("groups"));
    const bySource = new Map();
    for (const p of preferences) {
      if (p.disabled && !showDisabled) continue;
      if (!bySource.has(p.source)) bySource.set(p.source, []);
      bySource.get(p.source).push(p);
    }
    if (bySource.size === 0) {
      groups.append(el("p", { class: "empty",
        text: "Nothing learned yet: log an edit in the playground, or give feedback." }));
      return;
    }
    const order = Object.keys(SOURCES);
    const sources = [...bySource.keys()].sort((a, b) =>
      (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b));
    for (const source of sources) {
      const items = bySource.get(source);
      groups.append(el("section", { class: "group", "data-source": source },
        el("h2", {}, SOURCES[source] || source,
          el("span", { class: "count", text: String(items.length) })),
        items.map(renderPreference)));
    }
  }

  function renderPreference(p) {
    const badges = el("div", { class: "badges" },
      el("span", { class: "badge", text: p.kind }),
      p.scope ? el("span", { class: "badge", text: "scope: " + p.scope }) : null,
      p.task ? el("span", { class: "badge", text: "task: " + p.task }) : null,
      el("span", { class: "badge", text: "support " + p.support }),
      p.version > 1 ? el("span", { class: "badge", text: "edited (v" + p.version + ")" }) : null,
      p.status && p.status !== "active"
        ? el("span", { class: "badge warn", text: p.status }) : null,
      p.disabled ? el("span", { class: "badge off", text: "disabled" }) : null);
    const stats = p.stats
      ? el("div", { class: "stats" }, Object.entries(p.stats)
        .filter(([, v]) => v === null || typeof v !== "object")
        .map(([k, v]) => el("span", {}, k.replace(/_/g, " ") + " ",
          el("b", { text: formatValue(v) }))))
      : null;
    const operation = p.operation
      ? el("details", {}, el("summary", { text: "operation" }),
        el("pre", { text: JSON.stringify(p.operation, null, 2) }))
      : null;
    const evidence = el("details", {},
      el("summary", { text: p.evidence.length + " piece" + (p.evidence.length === 1 ? "" : "s")
        + " of evidence" }),
      el("ul", { class: "plain" }, p.evidence.map((e) =>
        el("li", {}, el("code", { text: e.type + " " + e.id }), e.detail ? " " + e.detail : ""))));
    const text = el("p", { class: "text", text: p.text });
    const card = el("article", { class: "pref" + (p.disabled ? " disabled" : ""),
      "data-id": p.id }, text, badges, stats, operation, evidence);
    const actions = el("div", { class: "actions" },
      el("button", { type: "button", class: "quiet", "data-action": "edit", text: "Edit",
        onclick: () => editPreference(card, text, p) }),
      el("button", { type: "button", class: "quiet", "data-action": "toggle",
        text: p.disabled ? "Enable" : "Disable",
        onclick: () => run(() => patchPreference(p, { disabled: !p.disabled })) }),
      el("button", { type: "button", class: "danger", "data-action": "delete", text: "Delete",
        onclick: () => run(() => deletePreference(p)) }));
    card.append(actions);
    return card;
  }

  function formatValue(v) {
    if (typeof v === "number" && !Number.isInteger(v)) return v.toFixed(3);
    // Timestamps (RFC 3339, UTC) to the minute: the seconds say nothing here.
    if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) {
      return v.slice(0, 16).replace("T", " ") + " UTC";
    }
    return String(v);
  }

  function editPreference(card, text, p) {
    const box = el("textarea", { rows: 3, maxlength: 2000, "aria-label": "preference text" });
    box.value = p.text;
    const form = el("div", { class: "editing" }, box,
      el("button", { type: "button", "data-action": "save", text: "Save",
        onclick: () => run(() => patchPreference(p, { text: box.value.trim() })) }),
      el("button", { type: "button", class: "quiet", text: "Cancel",
        onclick: () => renderPreferences() }));
    text.replaceWith(form);
    box.focus();
  }

  async function patchPreference(p, change) {
    const updated = await api("PATCH", userPath("/preferences/" + encodeURIComponent(p.id)),
      change);
    preferences = preferences.map((q) => (q.id === updated.id ? updated : q));
    renderPreferences();
    say("saved");
  }

  async function deletePreference(p) {
    if (!window.confirm("Delete “" + p.text + "”? It will not come back.")) return;
    await api("DELETE", userPath("/preferences/" + encodeURIComponent(p.id)));
    preferences = preferences.filter((q) => q.id !== p.id);
    renderPreferences();
    say("deleted");
  }

  // -- policy ----------------------------------------------------------------------

  async function showPolicy(event) {
    event.preventDefault();
    const policy = await run(() =>
      api("POST", userPath("/policy"), { context: $("policy-context").value }));
    if (!policy) return;
    $("policy-preference").textContent = policy.preference || "Nothing known for this context yet.";
    fill($("policy-preferences"), policy.preferences, (p) =>
      el("li", {}, p.text, " ", el("span", { class: "muted",
        text: "(" + (SOURCES[p.source] || p.source) + ", score " + p.score.toFixed(2) + ")" })),
    "none retrieved");
    fill($("policy-rules"), policy.rules, (r) => el("li", { text: r.text }), "no rule applies");
    $("policy-prompt").textContent = policy.system_prompt;
    fill($("policy-warnings"), policy.warnings || [], (w) => el("li", { text: w }), null);
    $("policy-out").hidden = false;
  }

  function fill(list, items, render, emptyText) {
    clear(list);
    for (const item of items) list.append(render(item));
    if (items.length === 0 && emptyText) list.append(el("li", { class: "empty", text: emptyText }));
  }

  // -- playground ------------------------------------------------------------------

  let rewritten = null;

  async function rewrite(event) {
    event.preventDefault();
    const context = $("play-context").value;
    const answer = await run(() =>
      api("POST", userPath("/rewrite"), { context, draft: $("play-draft").value }));
    if (!answer) return;
    rewritten = { context, draft: answer.text };
    if (preferences.length === 0) await run(loadPreferences);
    const names = answer.applied.map((id) => {
      const rule = preferences.find((p) => p.id === id);
      return rule ? rule.text : id;
    });
    $("play-applied").textContent = names.length
      ? "Rules applied: " + names.join("; ")
      : "No rule of yours changed this draft.";
    $("play-final").value = answer.text;
    $("log-form").hidden = false;
    $("play-result").hidden = true;
    $("play-final").focus();
  }

  async function logEdit(event) {
    event.preventDefault();
    if (!rewritten) return;
    const body = { context: rewritten.context, draft: rewritten.draft, final: $("play-final").value };
    const answer = await run(() => api("POST", userPath("/interactions"), body));
    if (!answer) return;
    $("play-stats").textContent = answer.accepted
      ? "Accepted as it was (no edit)."
      : "Edit distance " + answer.edit_distance + " words; interaction " + answer.id + ".";
    fill($("play-learned"), answer.learned, (p) =>
      el("li", {}, p.text, " ", el("span", { class: "muted",
        text: "(" + (SOURCES[p.source] || p.source) + ", support " + p.support + ")" })),
    answer.learning === "deferred" ? "learning in the background" : "nothing new");
    $("play-result").hidden = false;
    say("logged");
    await run(loadPreferences);
  }

  // -- principles and adapters -----------------------------------------------------

  async function loadPrinciples() {
    const c = await api("GET", userPath("/principles"));
    const parts = [c.count + " active"];
    if (c.agreement !== null && c.agreement !== undefined) {
      parts.push("agreement " + (100 * c.agreement).toFixed(0) + "% over " + c.pairs + " pairs");
    }
    if (c.job) parts.push("last build: " + c.job.state);
    $("principles-summary").textContent = parts.join(" · ");
    fill($("principles"), c.data, (p) => el("li", {}, p.text, " ", el("span", { class: "muted",
      text: "(" + p.votes_for + " for, " + p.votes_against + " against)" })),
    "no principles yet (they need at least 4 compared pairs or edits)");
  }

  async function buildPrinciples() {
    const job = await run(() => api("POST", userPath("/principles"), {}));
    if (job) {
      say("building principles (" + job.state + ")");
      await run(loadPrinciples);
    }
  }

  async function loadAdapters() {
    const answer = await api("GET", userPath("/adapters"));
    fill($("adapters"), answer.data, (a) => el("li", {}, a.feedback, " ",
      el("span", { class: "muted", text: "(" + a.base_model + ", " + a.created_at + ")" })),
    "no adapters trained");
  }

  // -- start -----------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("connect-form").addEventListener("submit", connect);
    $("forget").addEventListener("click", forget);
    $("refresh").addEventListener("click", () => run(loadPreferences));
    $("show-disabled").addEventListener("change", renderPreferences);
    $("policy-form").addEventListener("submit", showPolicy);
    $("rewrite-form").addEventListener("submit", rewrite);
    $("log-form").addEventListener("submit", logEdit);
    $("principles-build").addEventListener("click", buildPrinciples);
    for (const button of document.querySelectorAll(".tabs button")) {
      button.addEventListener("click", () => selectTab(button.dataset.tab));
    }
    if (sessionStorage.getItem(KEY) && sessionStorage.getItem(USER)) {
      run(() => api("GET", "/v1/key")).then((auth) => { if (auth) show(auth); });
    }
  });
})();
