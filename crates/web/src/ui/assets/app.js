// Carbonado UI: metric/tag browser, target editor with function completion, time range,
// graph options, dashboards saved through graphite-web's /dashboard endpoints, share links.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  targets: [],
  from: "-1d",
  until: "now",
  opts: { width: "800", height: "400", format: "png" },
  refresh: 60,
  dash: { name: "", graphs: [] },
};
let functions = {};
let refreshTimer = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function status(msg, isError) {
  const s = $("status");
  s.textContent = msg || "";
  s.classList.toggle("error", !!isError);
}

async function getJSON(url, init) {
  const r = await fetch(url, init);
  if (!r.ok) throw new Error(url + ": HTTP " + r.status + " " + (await r.text()).slice(0, 200));
  return r.json();
}

// ---- graph URLs ---------------------------------------------------------------------
function graphParams(targets, opts, from, until) {
  const p = new URLSearchParams();
  for (const t of targets) p.append("target", t);
  p.set("from", from);
  p.set("until", until);
  for (const [k, v] of Object.entries(opts)) {
    if (v === "" || v === false || v === undefined || v === null) continue;
    if (k === "dark") {
      p.set("bgcolor", "black");
      p.set("fgcolor", "white");
      p.set("majorGridLineColor", "darkgrey");
      p.set("minorGridLineColor", "333333");
      continue;
    }
    p.set(k, v === true ? "true" : String(v));
  }
  return p;
}

function renderURL(targets, opts, from, until, bust) {
  const p = graphParams(targets, opts, from, until);
  if (bust) p.set("_t", String(Date.now()));
  return "/render?" + p.toString();
}

function loadImage(img, url, onError) {
  img.onerror = async () => {
    // the <img> hides the server's message: fetch it to show why
    try {
      const r = await fetch(url);
      onError(r.ok ? "image failed to load" : (await r.text()).slice(0, 300));
    } catch (e) {
      onError(String(e));
    }
  };
  img.onload = () => onError(null);
  img.src = url;
}

function drawComposer(bust) {
  const img = $("graph");
  img.hidden = !state.targets.length;
  if (!state.targets.length) {
    img.removeAttribute("src");
    img.dataset.url = "";
    status("Pick a metric in the tree or type a target.");
    return;
  }
  const url = renderURL(state.targets, state.opts, state.from, state.until, bust);
  img.dataset.url = url;
  status("loading…");
  loadImage(img, url, (err) => {
    if (err) status(err, true);
    else status(state.targets.length + " target(s), " + state.from + " → " + state.until);
  });
  saveHash();
}

// ---- targets ------------------------------------------------------------------------
function drawTargets() {
  const ol = $("targets");
  ol.replaceChildren();
  state.targets.forEach((t, i) => {
    const input = el("input", { value: t, "aria-label": "target " + (i + 1) });
    input.addEventListener("change", () => {
      state.targets[i] = input.value.trim();
      if (!state.targets[i]) state.targets.splice(i, 1);
      drawTargets();
      drawComposer();
    });
    const rm = el("button", { type: "button", "aria-label": "remove target " + (i + 1), onclick: () => {
      state.targets.splice(i, 1);
      drawTargets();
      drawComposer();
    } }, "✕");
    ol.append(el("li", {}, input, rm));
  });
}

function addTarget(t) {
  t = t.trim();
  if (!t) return;
  state.targets.push(t);
  drawTargets();
  drawComposer();
}

// ---- function and metric completion ---------------------------------------------------
let suggestions = [];
let active = -1;

function currentToken(input) {
  const pos = input.selectionStart ?? input.value.length;
  const before = input.value.slice(0, pos);
  const m = before.match(/[A-Za-z0-9_.*\-{}\[\],]*$/);
  // stop at a comma that separates arguments (not inside braces)
  let tok = m ? m[0] : "";
  const open = tok.lastIndexOf("{"), close = tok.lastIndexOf("}");
  if (tok.includes(",") && !(open > close)) tok = tok.slice(tok.lastIndexOf(",") + 1);
  return { tok, start: pos - tok.length, end: pos };
}

async function updateSuggestions() {
  const input = $("target-input");
  const { tok } = currentToken(input);
  let list = [];
  if (tok.length >= 1 && !tok.includes(".")) {
    const low = tok.toLowerCase();
    list = Object.values(functions)
      .filter((f) => f.name.toLowerCase().startsWith(low))
      .sort((a, b) => a.name.localeCompare(b.name))
      .slice(0, 15)
      .map((f) => ({ insert: f.name + "(", label: f.name, hint: f.function || f.group || "" }));
  }
  if (tok.length >= 1 && (tok.includes(".") || !list.length)) {
    try {
      const q = tok.endsWith("*") ? tok : tok + "*";
      const nodes = await getJSON("/metrics/find?query=" + encodeURIComponent(q));
      list = list.concat(nodes.slice(0, 15).map((n) => ({
        insert: n.id + (n.leaf ? "" : "."), label: n.id, hint: n.leaf ? "metric" : "branch",
      })));
    } catch (_) { /* completion is best effort */ }
  }
  suggestions = list;
  active = list.length ? 0 : -1;
  drawSuggestions();
}

function drawSuggestions() {
  const ul = $("suggest");
  ul.replaceChildren();
  suggestions.forEach((s, i) => {
    const li = el("li", { role: "option", id: "sugg-" + i, "aria-selected": i === active ? "true" : "false" },
      s.label, el("small", {}, s.hint));
    li.addEventListener("mousedown", (e) => { e.preventDefault(); pick(i); });
    ul.append(li);
  });
  ul.hidden = !suggestions.length;
  $("target-input").setAttribute("aria-activedescendant", active >= 0 ? "sugg-" + active : "");
}

function pick(i) {
  const input = $("target-input");
  const s = suggestions[i];
  if (!s) return;
  const { start, end } = currentToken(input);
  input.value = input.value.slice(0, start) + s.insert + input.value.slice(end);
  const pos = start + s.insert.length;
  input.setSelectionRange(pos, pos);
  suggestions = [];
  drawSuggestions();
  input.focus();
}

function setupCompletion() {
  const input = $("target-input");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(updateSuggestions, 120);
  });
  input.addEventListener("keydown", (e) => {
    if ($("suggest").hidden) return;
    if (e.key === "ArrowDown") { active = (active + 1) % suggestions.length; drawSuggestions(); e.preventDefault(); }
    else if (e.key === "ArrowUp") { active = (active - 1 + suggestions.length) % suggestions.length; drawSuggestions(); e.preventDefault(); }
    else if (e.key === "Tab" && active >= 0) { pick(active); e.preventDefault(); }
    else if (e.key === "Enter" && active >= 0 && e.ctrlKey === false && suggestions.length) { pick(active); e.preventDefault(); }
    else if (e.key === "Escape") { suggestions = []; drawSuggestions(); }
  });
  input.addEventListener("blur", () => setTimeout(() => { suggestions = []; drawSuggestions(); }, 150));
  $("target-form").addEventListener("submit", (e) => {
    e.preventDefault();
    addTarget(input.value);
    input.value = "";
  });
}

// ---- metric tree and tags -------------------------------------------------------------
function treeNode(n) {
  const li = el("li", { role: "treeitem" });
  const btn = el("button", {
    type: "button",
    class: "node " + (n.leaf ? "leaf" : "branch"),
    "data-id": n.id,
    title: n.id,
  }, n.text);
  li.append(btn);
  if (n.leaf) {
    btn.addEventListener("click", () => addTarget(n.id));
  } else {
    btn.setAttribute("aria-expanded", "false");
    btn.addEventListener("click", async () => {
      const open = btn.getAttribute("aria-expanded") === "true";
      const old = li.querySelector("ul");
      if (old) old.remove();
      btn.setAttribute("aria-expanded", String(!open));
      if (open) return;
      const ul = el("ul", { role: "group" });
      li.append(ul);
      try {
        const kids = await getJSON("/metrics/find?query=" + encodeURIComponent(n.id + ".*"));
        for (const k of kids) ul.append(treeNode(k));
      } catch (e) {
        ul.append(el("li", {}, String(e)));
      }
    });
  }
  return li;
}

async function loadTree(query) {
  const ul = $("tree");
  ul.replaceChildren();
  try {
    const nodes = await getJSON("/metrics/find?query=" + encodeURIComponent(query || "*"));
    if (!nodes.length) ul.append(el("li", {}, "no metrics"));
    for (const n of nodes) ul.append(treeNode(n));
  } catch (e) {
    ul.append(el("li", {}, String(e)));
  }
}

async function loadTags() {
  const ul = $("tags");
  ul.replaceChildren();
  try {
    const tags = await getJSON("/tags");
    if (!tags.length) ul.append(el("li", {}, "no tags"));
    for (const t of tags) {
      const li = el("li", { role: "treeitem" });
      const btn = el("button", { type: "button", class: "node branch", "aria-expanded": "false" }, t.tag);
      btn.addEventListener("click", async () => {
        const open = btn.getAttribute("aria-expanded") === "true";
        const old = li.querySelector("ul");
        if (old) old.remove();
        btn.setAttribute("aria-expanded", String(!open));
        if (open) return;
        const sub = el("ul", { role: "group" });
        li.append(sub);
        try {
          const info = await getJSON("/tags/" + encodeURIComponent(t.tag));
          for (const v of info.values || []) {
            const expr = "seriesByTag('" + t.tag + "=" + v.value + "')";
            sub.append(el("li", { role: "treeitem" }, el("button", {
              type: "button", class: "node leaf", title: expr, onclick: () => addTarget(expr),
            }, v.value + " (" + v.count + ")")));
          }
        } catch (e) {
          sub.append(el("li", {}, String(e)));
        }
      });
      li.append(btn);
      ul.append(li);
    }
  } catch (_) {
    ul.append(el("li", {}, "tag browsing is not available on this server"));
  }
}

function setupBrowser() {
  const tabTree = $("tab-tree"), tabTags = $("tab-tags");
  const show = (tags) => {
    tabTree.setAttribute("aria-selected", String(!tags));
    tabTags.setAttribute("aria-selected", String(tags));
    $("tree").hidden = tags;
    $("tree-filter").hidden = tags;
    $("tags").hidden = !tags;
    if (tags) loadTags();
  };
  tabTree.addEventListener("click", () => show(false));
  tabTags.addEventListener("click", () => show(true));
  let timer = null;
  $("tree-filter").addEventListener("input", (e) => {
    clearTimeout(timer);
    const q = e.target.value.trim();
    timer = setTimeout(() => loadTree(q ? (q.includes("*") ? q : q + "*") : "*"), 200);
  });
  loadTree("*");
}

// ---- time range, options, refresh -------------------------------------------------------
function toGraphiteTime(v) {
  // datetime-local "2023-11-14T22:13" -> graphite's "22:13_20231114" (server time zone)
  const m = v.match(/^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/);
  return m ? m[4] + ":" + m[5] + "_" + m[1] + m[2] + m[3] : v;
}

function setupRange() {
  $("range-preset").addEventListener("change", (e) => {
    if (e.target.value === "custom") { $("from").focus(); return; }
    state.from = e.target.value;
    state.until = "now";
    $("from").value = state.from;
    $("until").value = state.until;
    redrawAll();
  });
  for (const id of ["from", "until"]) {
    $(id).addEventListener("change", (e) => {
      state[id] = e.target.value.trim() || (id === "from" ? "-1d" : "now");
      $("range-preset").value = "custom";
      redrawAll();
    });
  }
  for (const [id, key] of [["from-abs", "from"], ["until-abs", "until"]]) {
    $(id).addEventListener("change", (e) => {
      if (!e.target.value) return;
      state[key] = toGraphiteTime(e.target.value);
      $(key).value = state[key];
      $("range-preset").value = "custom";
      redrawAll();
    });
  }
  $("refresh").addEventListener("change", (e) => {
    state.refresh = Number(e.target.value);
    setupRefresh();
    saveHash();
  });
}

function setupRefresh() {
  clearInterval(refreshTimer);
  if (state.refresh > 0) refreshTimer = setInterval(() => redrawAll(true), state.refresh * 1000);
}

function readOptions() {
  const opts = {};
  for (const input of document.querySelectorAll("[data-opt]")) {
    const k = input.dataset.opt;
    opts[k] = input.type === "checkbox" ? input.checked : input.value.trim();
  }
  return opts;
}

function writeOptions() {
  for (const input of document.querySelectorAll("[data-opt]")) {
    const v = state.opts[input.dataset.opt];
    if (input.type === "checkbox") input.checked = v === true || v === "true";
    else input.value = v === undefined ? "" : v;
  }
}

function setupOptions() {
  for (const input of document.querySelectorAll("[data-opt]")) {
    input.addEventListener("change", () => {
      state.opts = readOptions();
      drawComposer();
    });
  }
}

// ---- dashboards ---------------------------------------------------------------------------
function graphEntry(targets, opts) {
  const params = Object.assign({ target: targets.slice() }, opts);
  return [targets.join(","), params, renderURL(targets, opts, state.from, state.until, false)];
}

function drawDashboard(bust) {
  const box = $("dash-graphs");
  box.replaceChildren();
  state.dash.graphs.forEach((g, i) => {
    const params = Object.assign({}, g[1] || {});
    let targets = params.target || [];
    if (typeof targets === "string") targets = [targets];
    delete params.target;
    for (const k of ["from", "until", "_t", "_uniq"]) delete params[k];
    const img = el("img", { alt: "dashboard graph " + (i + 1) + ": " + targets.join(", ") });
    const url = renderURL(targets, params, state.from, state.until, bust);
    const card = el("figure", { class: "dash-graph", "data-index": String(i) },
      el("div", { class: "bar" },
        el("button", { type: "button", title: "edit in the composer", onclick: () => {
          state.targets = targets.slice();
          state.opts = Object.assign({}, state.opts, params);
          writeOptions();
          drawTargets();
          drawComposer();
        } }, "Edit"),
        el("button", { type: "button", "aria-label": "remove graph " + (i + 1), onclick: () => {
          state.dash.graphs.splice(i, 1);
          drawDashboard();
        } }, "✕")),
      img);
    loadImage(img, url, (err) => { if (err) img.alt = err; });
    box.append(card);
  });
}

function dashState() {
  return {
    name: state.dash.name,
    timeConfig: { type: "relative", from: state.from, until: state.until },
    refreshConfig: { enabled: state.refresh > 0, interval: state.refresh * 1000 },
    graphSize: { width: Number(state.opts.width) || 400, height: Number(state.opts.height) || 250 },
    defaultGraphParams: { from: state.from, until: state.until },
    graphs: state.dash.graphs,
  };
}

async function refreshDashList(select) {
  const sel = $("dash-list");
  sel.replaceChildren();
  try {
    const r = await getJSON("/dashboard/find?query=");
    for (const d of r.dashboards || []) sel.append(el("option", { value: d.name }, d.name));
    if (select) sel.value = select;
  } catch (e) {
    status(String(e), true);
  }
}

async function saveDashboard() {
  const name = $("dash-name").value.trim();
  if (!name) { $("dash-name").focus(); status("Name the dashboard first.", true); return; }
  state.dash.name = name;
  const body = new URLSearchParams({ state: JSON.stringify(dashState()) });
  const r = await getJSON("/dashboard/save/" + encodeURIComponent(name), { method: "POST", body });
  if (r.error) { status(r.error, true); return; }
  status("Saved dashboard " + name);
  await refreshDashList(name);
  saveHash();
}

async function loadDashboard(name) {
  if (!name) return;
  const r = await getJSON("/dashboard/load/" + encodeURIComponent(name));
  if (r.error) { status(r.error, true); return; }
  const s = r.state || {};
  state.dash = { name: s.name || name, graphs: Array.isArray(s.graphs) ? s.graphs : [] };
  const d = s.defaultGraphParams || {};
  const t = s.timeConfig || {};
  state.from = d.from || t.from || state.from;
  state.until = d.until || t.until || state.until;
  $("from").value = state.from;
  $("until").value = state.until;
  $("range-preset").value = [...$("range-preset").options].some((o) => o.value === state.from) && state.until === "now" ? state.from : "custom";
  $("dash-name").value = state.dash.name;
  drawDashboard();
  drawComposer();
  status("Loaded dashboard " + state.dash.name);
  saveHash();
}

async function deleteDashboard() {
  const name = $("dash-list").value;
  if (!name || !confirm("Delete dashboard " + name + "?")) return;
  const r = await getJSON("/dashboard/delete/" + encodeURIComponent(name), { method: "POST" });
  if (r.error) status(r.error, true);
  else status("Deleted " + name);
  await refreshDashList();
}

function setupDashboard() {
  $("add-to-dash").addEventListener("click", () => {
    if (!state.targets.length) { status("Nothing to add: no targets.", true); return; }
    const opts = Object.assign({}, state.opts);
    state.dash.graphs.push(graphEntry(state.targets, opts));
    drawDashboard();
    status("Added to the dashboard (save it to keep it).");
  });
  $("clear").addEventListener("click", () => { state.targets = []; drawTargets(); drawComposer(); });
  $("dash-save").addEventListener("click", () => saveDashboard().catch((e) => status(String(e), true)));
  $("dash-load").addEventListener("click", () => loadDashboard($("dash-list").value).catch((e) => status(String(e), true)));
  $("dash-delete").addEventListener("click", () => deleteDashboard().catch((e) => status(String(e), true)));
  $("dash-new").addEventListener("click", () => {
    state.dash = { name: "", graphs: [] };
    $("dash-name").value = "";
    drawDashboard();
    saveHash();
  });
  refreshDashList();
}

// ---- share links (the URL fragment holds the view) ----------------------------------------
function saveHash() {
  const p = new URLSearchParams();
  for (const t of state.targets) p.append("target", t);
  p.set("from", state.from);
  p.set("until", state.until);
  p.set("refresh", String(state.refresh));
  const opts = Object.fromEntries(Object.entries(state.opts).filter(([, v]) => v !== "" && v !== false));
  p.set("opts", JSON.stringify(opts));
  if (state.dash.name) p.set("dashboard", state.dash.name);
  history.replaceState(null, "", "#" + p.toString());
}

async function loadHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (p.has("from")) state.from = p.get("from");
  if (p.has("until")) state.until = p.get("until");
  if (p.has("refresh")) state.refresh = Number(p.get("refresh")) || 0;
  state.targets = p.getAll("target");
  try {
    if (p.has("opts")) state.opts = Object.assign(state.opts, JSON.parse(p.get("opts")));
  } catch (_) { /* a bad link keeps the defaults */ }
  $("from").value = state.from;
  $("until").value = state.until;
  $("refresh").value = String(state.refresh);
  writeOptions();
  drawTargets();
  if (p.get("dashboard")) await loadDashboard(p.get("dashboard")).catch((e) => status(String(e), true));
  drawComposer();
}

function redrawAll(bust) {
  drawComposer(bust);
  drawDashboard(bust);
}

async function main() {
  setupBrowser();
  setupCompletion();
  setupRange();
  setupOptions();
  setupDashboard();
  $("share").addEventListener("click", async () => {
    saveHash();
    try { await navigator.clipboard.writeText(location.href); status("Link copied."); }
    catch (_) { status("Link: " + location.href); }
  });
  getJSON("/functions").then((f) => { functions = f; }).catch(() => {});
  await loadHash();
  setupRefresh();
}

main();
