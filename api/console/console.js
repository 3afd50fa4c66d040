// The paystream console: plain JavaScript over the API, Chart.js for the charts.
// The key lives in sessionStorage only; every value from the API is put in the page as text.
"use strict";

const KEY = "paystream.key";
const state = { searchCursor: null, searchQuery: null, statementCursor: null, account: null, charts: {}, timer: null };

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY)}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { logout("Your key was refused (wrong or revoked)."); throw new Error("401"); }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const detail = Array.isArray(body.detail) ? body.detail.map(d => `${d.loc.join(".")}: ${d.msg}`).join("; ") : body.detail;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function showError(error) { document.getElementById("error").textContent = error ? String(error.message || error) : ""; }
function money(amount, currency) { return `${(amount / 100).toFixed(2)} ${currency}`; }
function when(iso) { return new Date(iso).toLocaleString(); }
function isoMinutesAgo(minutes) { return new Date(Date.now() - minutes * 60000).toISOString(); }

// --- log in / out -------------------------------------------------------------------------------

async function login(key) {
  sessionStorage.setItem(KEY, key);
  try {
    const me = await api("/v1/me");
    document.getElementById("who").textContent = `${me.name} (${me.role})`;
    document.getElementById("login").hidden = true;
    document.getElementById("tabs").hidden = false;
    document.getElementById("logout").hidden = false;
    show("live");
  } catch (error) {
    sessionStorage.removeItem(KEY);
    document.getElementById("login-error").textContent = `Log in failed: ${error.message}`;
  }
}

function logout(message) {
  sessionStorage.removeItem(KEY);
  clearInterval(state.timer);
  document.querySelectorAll(".tab").forEach(s => { s.hidden = true; });
  document.getElementById("tabs").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

function show(tab) {
  document.querySelectorAll(".tab").forEach(s => { s.hidden = s.id !== tab; });
  document.querySelectorAll("#tabs button").forEach(b => b.classList.toggle("active", b.dataset.tab === tab));
  clearInterval(state.timer);
  showError(null);
  if (tab === "live") { refreshLive(); state.timer = setInterval(refreshLive, 10000); }
  if (tab === "reviews") loadReviews();
}

// --- live charts --------------------------------------------------------------------------------

function chart(id, type, data, options = {}) {
  if (state.charts[id]) { state.charts[id].data = data; state.charts[id].update("none"); return; }
  state.charts[id] = new Chart(document.getElementById(id), {
    type, data, options: { animation: false, responsive: true, maintainAspectRatio: true, ...options } });
}

const COLOURS = { APPROVE: "#2e9d5b", DECLINE: "#d64545", REVIEW: "#e0a030" };

async function refreshLive() {
  const range = `from=${encodeURIComponent(isoMinutesAgo(60))}&to=${encodeURIComponent(isoMinutesAgo(-1))}`;
  try {
    const [decisions, latency, merchants] = await Promise.all([
      api(`/v1/reports/decisions?bucket=minute&by=outcome&${range}`),
      api(`/v1/reports/latency?${range}`),
      api(`/v1/reports/top-merchants?outcome=DECLINE&limit=10&${range}`)]);
    const minutes = [...new Set(decisions.rows.map(r => r.bucket))].sort();
    const labels = minutes.map(m => new Date(m).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    const per = (outcome, field) => minutes.map(m => decisions.rows.filter(r => r.bucket === m && r.key === outcome)
      .reduce((sum, r) => sum + r[field], 0));
    const totals = minutes.map(m => decisions.rows.filter(r => r.bucket === m).reduce((s, r) => s + r.count, 0));
    chart("chart-tps", "line", { labels, datasets: Object.keys(COLOURS).map(o => ({
      label: o, data: per(o, "count").map(c => c / 60), borderColor: COLOURS[o], pointRadius: 1.5 })) });
    const rate = o => per(o, "count").map((c, i) => totals[i] ? 100 * c / totals[i] : 0);
    chart("chart-rates", "line", { labels, datasets: [
      { label: "declined %", data: rate("DECLINE"), borderColor: COLOURS.DECLINE, pointRadius: 1.5 },
      { label: "held for review %", data: rate("REVIEW"), borderColor: COLOURS.REVIEW, pointRadius: 1.5 }] });
    chart("chart-latency", "line", { labels: latency.rows.map(r => new Date(r.bucket).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
      datasets: ["p50", "p95", "p99"].map((p, i) => ({ label: p, data: latency.rows.map(r => r[p]),
        borderColor: ["#5ab0ff", "#7a5cff", "#d64545"][i], pointRadius: 1.5 })) });
    chart("chart-merchants", "bar", { labels: merchants.rows.map(r => r.merchant_id),
      datasets: [{ label: "declines", data: merchants.rows.map(r => r.count), backgroundColor: COLOURS.DECLINE }] },
      { indexAxis: "y" });
    document.getElementById("live-status").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
  } catch (error) { showError(error); }
}

// --- review queue -------------------------------------------------------------------------------

async function loadReviews() {
  const body = document.querySelector("#reviews-table tbody");
  try {
    const page = await api("/v1/reviews?limit=100");
    body.replaceChildren();
    document.getElementById("reviews-empty").hidden = page.items.length > 0;
    for (const item of page.items) {
      const row = el("tr");
      row.dataset.tx = item.tx_id;
      row.append(el("td", item.tx_id), el("td", item.account), el("td", money(item.amount, item.currency), "num"),
                 el("td", item.score.toFixed(3), "num"), el("td", item.reasons.join(", ")), el("td", when(item.decided_at)));
      const note = el("input");
      note.placeholder = "note (required)";
      note.className = "note";
      const cell = el("td");
      cell.append(note);
      const actions = el("td");
      for (const action of ["approve", "decline"]) {
        const button = el("button", action[0].toUpperCase() + action.slice(1), action);
        button.addEventListener("click", () => decide(item.tx_id, action, note.value));
        actions.append(button);
      }
      row.append(cell, actions);
      body.append(row);
    }
  } catch (error) { showError(error); }
}

async function decide(txId, action, note) {
  const message = document.getElementById("reviews-message");
  if (!note.trim()) { message.textContent = "Write a note first: it is kept with the verdict."; return; }
  try {
    const result = await api(`/v1/reviews/${encodeURIComponent(txId)}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ note }) });
    message.textContent = `${result.action} of ${result.tx_id} published.`;
    await loadReviews();
  } catch (error) { message.textContent = `Not done: ${error.message}`; }
}

// --- search -------------------------------------------------------------------------------------

function searchParams(form) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (!value) continue;
    params.set(name, name === "from" || name === "to" ? new Date(value).toISOString() : value);
  }
  return params;
}

async function search(more) {
  const body = document.querySelector("#search-table tbody");
  const params = new URLSearchParams(state.searchQuery);
  params.set("limit", "100");
  if (more && state.searchCursor) params.set("cursor", state.searchCursor);
  try {
    const page = await api(`/v1/transactions?${params}`);
    if (!more) body.replaceChildren();
    for (const t of page.items) {
      const row = el("tr");
      const link = el("a", t.tx_id);
      link.href = "#";
      link.addEventListener("click", async e => { e.preventDefault(); showDetail(t.tx_id); });
      const id = el("td");
      id.append(link);
      row.append(el("td", when(t.event_time)), id, el("td", t.source_account), el("td", t.destination_account),
                 el("td", money(t.amount, t.currency), "num"), el("td", t.outcome), el("td", t.score.toFixed(3), "num"),
                 el("td", t.reasons.join(", ")));
      body.append(row);
    }
    state.searchCursor = page.next_cursor;
    document.getElementById("search-more").hidden = !page.next_cursor;
    showError(null);
  } catch (error) { showError(error); }
}

async function showDetail(txId) {
  try {
    document.getElementById("detail").textContent = JSON.stringify(await api(`/v1/transactions/${encodeURIComponent(txId)}`), null, 2);
  } catch (error) { showError(error); }
}

async function exportCsv(event) {
  event.preventDefault();
  try {
    const response = await fetch(`/v1/exports/transactions.csv?${state.searchQuery || searchParams(document.getElementById("search-form"))}`,
      { headers: { Authorization: `Bearer ${sessionStorage.getItem(KEY)}` } });
    if (!response.ok) throw new Error(`${response.status}: ${(await response.json()).detail?.[0]?.msg || response.statusText}`);
    const link = el("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = "transactions.csv";
    link.click();
  } catch (error) { showError(error); }
}

// --- account ------------------------------------------------------------------------------------

async function loadAccount(more) {
  const body = document.querySelector("#statement-table tbody");
  const summary = document.getElementById("account-summary");
  try {
    if (!more) {
      body.replaceChildren();
      summary.replaceChildren();
      const account = await api(`/v1/accounts/${encodeURIComponent(state.account)}`);
      for (const b of account.balances)
        summary.append(el("p", `${b.currency}: balance ${money(b.balance, b.currency)}, held ${money(b.held, b.currency)}, available ${money(b.available, b.currency)}`));
      summary.append(el("p", `${account.holds.length} open hold(s); ${account.postings} posting(s).`));
    }
    const cursor = more && state.statementCursor ? `&cursor=${encodeURIComponent(state.statementCursor)}` : "";
    const page = await api(`/v1/accounts/${encodeURIComponent(state.account)}/statement?limit=100${cursor}`);
    if (!more) summary.append(el("p", page.chain.verified ? `Hash chain verified (${page.chain.rows_checked} rows).`
      : `Hash chain: ${page.chain.verified === false ? "BROKEN" : "not checked"}: ${page.chain.problem}`, page.chain.verified === false ? "error" : ""));
    for (const r of page.items) {
      const row = el("tr");
      row.append(el("td", r.account_seq, "num"), el("td", when(r.event_time)), el("td", r.tx_id), el("td", r.direction),
                 el("td", money(r.amount, r.currency), "num"), el("td", money(r.balance_after, r.currency), "num"));
      body.append(row);
    }
    state.statementCursor = page.next_cursor;
    document.getElementById("statement-more").hidden = !page.next_cursor;
    showError(null);
  } catch (error) { showError(error); }
}

// --- wiring -------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login-form").addEventListener("submit", e => { e.preventDefault(); login(document.getElementById("key").value.trim()); });
  document.getElementById("logout").addEventListener("click", () => logout());
  document.querySelectorAll("#tabs button").forEach(b => b.addEventListener("click", () => show(b.dataset.tab)));
  document.getElementById("reviews-refresh").addEventListener("click", loadReviews);
  const form = document.getElementById("search-form");
  const local = d => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  form.elements.from.value = local(new Date(Date.now() - 86400000));
  form.elements.to.value = local(new Date(Date.now() + 3600000));
  form.addEventListener("submit", e => { e.preventDefault(); state.searchQuery = searchParams(form).toString(); search(false); });
  document.getElementById("search-more").addEventListener("click", () => search(true));
  document.getElementById("export").addEventListener("click", exportCsv);
  document.getElementById("account-form").addEventListener("submit", e => { e.preventDefault(); state.account = e.target.elements.account.value.trim(); loadAccount(false); });
  document.getElementById("statement-more").addEventListener("click", () => loadAccount(true));
  if (sessionStorage.getItem(KEY)) login(sessionStorage.getItem(KEY));
});
