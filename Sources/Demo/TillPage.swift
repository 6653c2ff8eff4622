/// The example till: one self-contained web page (no external scripts, styles or fonts) that
/// takes a payment through the till API as a till would — `POST /v1/payments` with an
/// `Idempotency-Key`, the payment's server-sent events read with `fetch` (so a till that needs
/// `Authorization` can send it, which `EventSource` cannot), `POST …/cancel`, the receipt from the
/// outcome, and today's payments from `GET /v1/payments?from=…` (a note instead when the bridge
/// has no list). Served by `ngbridge demo --till-page`; element ids are what the browser test
/// (`Tests/till-page/test_till_page.py`) drives.
enum TillPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example till — ngbridge</title>
<style>
  :root { --ink:#1d2430; --muted:#5b6576; --line:#d8dde5; --bg:#f5f7fa; --ok:#137a3a; --bad:#b3261e; --warn:#8a5a00; --accent:#5a2ca0; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.4 system-ui, sans-serif; color:var(--ink); background:var(--bg); }
  header { background:var(--accent); color:#fff; padding:10px 18px; display:flex; justify-content:space-between; align-items:center; }
  header h1 { font-size:18px; margin:0; }
  main { display:grid; grid-template-columns: minmax(320px, 1fr) minmax(320px, 1fr); gap:14px; padding:14px; }
  section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  h2 { font-size:15px; margin:0 0 8px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
  table { width:100%; border-collapse:collapse; }
  td, th { padding:4px; text-align:left; border-bottom:1px solid var(--line); }
  input, select, button { font:inherit; padding:5px 7px; border:1px solid var(--line); border-radius:5px; }
  input[type=number] { width:7em; }
  button { cursor:pointer; background:#fff; }
  button.primary { background:var(--accent); color:#fff; border-color:var(--accent); font-weight:600; padding:8px 22px; }
  button:disabled { opacity:.45; cursor:default; }
  .row { display:flex; gap:8px; align-items:center; margin:6px 0; flex-wrap:wrap; }
  .row label { min-width:7em; color:var(--muted); }
  #total { font-size:22px; font-weight:700; }
  #state { display:inline-block; padding:3px 10px; border-radius:12px; background:#e8eaf0; font-weight:600; }
  body[data-state=paid] #state { background:#d9f2e1; color:var(--ok); }
  body[data-state=declined] #state, body[data-state=failed] #state { background:#fbe0de; color:var(--bad); }
  body[data-state=cancelled] #state, body[data-state=unknown] #state { background:#fdf0d5; color:var(--warn); }
  #customer-sees { font-size:18px; min-height:2.6em; padding:8px; background:#111; color:#9ef29e; font-family:ui-monospace, monospace; border-radius:6px; }
  #events { font-family:ui-monospace, monospace; font-size:12.5px; max-height:260px; overflow:auto; margin:6px 0 0; padding-left:2.4em; }
  #events li.outcome { font-weight:700; }
  #receipt { border:1px dashed var(--ink); padding:10px; font-family:ui-monospace, monospace; white-space:pre; }
  #receipt[hidden] { display:none; }
  .error { color:var(--bad); }
  .muted { color:var(--muted); }
  #today td.state-paid { color:var(--ok); } #today td.state-unknown { color:var(--warn); font-weight:600; }
</style>
</head>
<body data-state="idle">
<header><h1>Example till</h1><span id="health" class="muted">…</span></header>
<main>
<section id="sale">
  <h2>Sale</h2>
  <table>
    <thead><tr><th>Item</th><th>Unit price (kr.)</th><th>Qty</th><th></th></tr></thead>
    <tbody id="lines"></tbody>
  </table>
  <div class="row"><button id="add-line" type="button">+ Line</button></div>
  <div class="row"><label for="amount">Amount (kr.)</label><input id="amount" type="number" min="1" step="1" value="0"> <span class="muted">the sum of the lines; type an amount when there are none</span></div>
  <div class="row"><label for="reference">Reference</label><input id="reference" size="24" maxlength="64"></div>
  <div class="row"><label for="confirmation">Confirmation</label>
    <select id="confirmation"><option value="manual">manual (the bridge captures)</option><option value="automatic">automatic</option></select></div>
  <div class="row"><label for="terminal">Terminal</label><select id="terminal"><option value="">the only one connected</option></select></div>
  <div class="row"><span id="total">0 kr.</span></div>
  <div class="row"><button id="pay" class="primary" type="button">Pay</button><button id="cancel" type="button" disabled>Cancel</button><button id="new-sale" type="button" disabled>New sale</button></div>
  <div id="error" class="error" role="alert"></div>
</section>
<section id="progress">
  <h2>Payment <span id="payment-id" class="muted"></span></h2>
  <div class="row"><span id="state">no payment</span></div>
  <h2>The customer sees</h2>
  <div id="customer-sees">—</div>
  <h2 style="margin-top:10px">Events (live)</h2>
  <ol id="events"></ol>
</section>
<section id="receipt-section">
  <h2>Receipt</h2>
  <div id="receipt" hidden></div>
  <div id="receipt-none" class="muted">A receipt appears when a payment is paid.</div>
  <div id="refund-box" class="row" hidden>
    <label for="refund-amount">Refund (kr.)</label><input id="refund-amount" type="number" min="1" step="1">
    <button id="refund" type="button">Refund</button> <span class="muted">empty: all that is left</span>
  </div>
  <ul id="refunds"></ul>
</section>
<section id="today-section">
  <h2>Today's payments <button id="refresh-today" type="button">↻</button></h2>
  <div id="today-note" class="muted"></div>
  <table id="today"><thead><tr><th>Time</th><th>Reference</th><th>Amount</th><th>State</th><th>TransactionId</th></tr></thead><tbody></tbody></table>
</section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const kr = (n) => n.toLocaleString("is-IS") + " kr.";
let current = null;        // the payment being taken: { id, abort }
let lastEventId = 0;

// ---- sale lines and amount
function addLine(name, price, qty) {
  const tr = document.createElement("tr");
  tr.innerHTML = '<td><input class="name" size="18" maxlength="128"></td><td><input class="price" type="number" min="0" step="1"></td>' +
    '<td><input class="qty" type="number" min="1" step="1"></td><td><button type="button" class="remove" title="remove">✕</button></td>';
  tr.querySelector(".name").value = name || "";
  tr.querySelector(".price").value = price ?? 0;
  tr.querySelector(".qty").value = qty ?? 1;
  tr.querySelector(".remove").onclick = () => { tr.remove(); recompute(); };
  tr.querySelectorAll("input").forEach((i) => i.oninput = recompute);
  $("lines").appendChild(tr);
  recompute();
}
function lines() {
  return [...$("lines").querySelectorAll("tr")].map((tr) => ({
    name: tr.querySelector(".name").value.trim(),
    unitPrice: parseInt(tr.querySelector(".price").value, 10) || 0,
    quantity: parseInt(tr.querySelector(".qty").value, 10) || 0,
  })).filter((l) => l.name !== "");
}
function recompute() {
  const ls = lines();
  if (ls.length > 0) $("amount").value = ls.reduce((s, l) => s + l.unitPrice * l.quantity, 0);
  $("amount").readOnly = ls.length > 0;
  $("total").textContent = kr(parseInt($("amount").value, 10) || 0);
}
$("amount").oninput = recompute;
$("add-line").onclick = () => addLine("", 0, 1);

function newReference() { return "TILL-" + new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14) + "-" + Math.floor(Math.random() * 1000); }
function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
}

// ---- calls to the till API
async function api(method, path, body, headers) {
  const init = { method, headers: Object.assign({ "Accept": "application/json" }, headers || {}) };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, init);
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  return { status: response.status, ok: response.ok, json, text };
}
function problemText(answer) {
  const p = answer.json;
  if (p && p.detail) return p.detail + (p.field ? " (" + p.field + (p.rule ? ": " + p.rule : "") + ")" : "");
  return "HTTP " + answer.status + " " + (answer.text || "").slice(0, 200);
}

// ---- what the till shows
const stateWords = {
  "created": "created",
  "awaiting-customer": "waiting for the customer",
  "processing": "Netgíró is processing",
  "awaiting-sms-code": "waiting for the SMS code",
  "cancel-requested": "cancelling…",
  "paid": "PAID", "declined": "declined", "cancelled": "cancelled", "failed": "failed", "unknown": "UNKNOWN — check in Netgíró's portal",
};
const promptWords = {
  "customer-id": "Enter your phone number, kennitala or app code",
  "sms-code": "Netgíró sent you an SMS: type its code",
};
function setState(state) {
  document.body.dataset.state = state;
  $("state").textContent = stateWords[state] || state;
}
function logEvent(text, kind) {
  const li = document.createElement("li");
  li.textContent = text;
  if (kind) li.className = kind;
  $("events").appendChild(li);
  $("events").scrollTop = $("events").scrollHeight;
}
function time(at) { try { return new Date(at).toLocaleTimeString("en-GB"); } catch (e) { return ""; } }

function onEvent(name, data) {
  const e = JSON.parse(data);
  const at = time(e.at);
  switch (e.kind) {
    case "state":
      setState(e.state);
      logEvent(at + "  state  " + e.state + (e.state === "awaiting-sms-code" ? "  (Netgíró sent the customer an SMS code)" : ""));
      if (e.state === "awaiting-sms-code") $("customer-sees").textContent = promptWords["sms-code"];
      if (e.state === "processing") $("customer-sees").textContent = "Please wait…";
      break;
    case "prompt":
      $("customer-sees").textContent = promptWords[e.prompt] || e.prompt;
      logEvent(at + "  prompt " + e.prompt + " — the pad asks: " + (promptWords[e.prompt] || e.prompt) +
        (e.prompt === "sms-code" ? "  (SMS stage: Netgíró texted the customer a code)" : ""));
      break;
    case "screen":
      $("customer-sees").textContent = e.screen;
      logEvent(at + "  screen " + e.screen);
      break;
    case "outcome":
      logEvent(at + "  outcome " + e.payment.state + (e.payment.message ? " — " + e.payment.message : ""), "outcome");
      finish(e.payment);
      break;
  }
}

// Server-sent events read with fetch: the stream ends after the outcome. A dropped connection
// is picked up again with Last-Event-ID, so no event is missed or repeated.
async function follow(id) {
  for (let attempt = 0; attempt < 20 && current && current.id === id; attempt++) {
    const abort = new AbortController();
    current.abort = abort;
    try {
      const headers = { "Accept": "text/event-stream" };
      if (lastEventId) headers["Last-Event-ID"] = String(lastEventId);
      const response = await fetch("/v1/payments/" + encodeURIComponent(id) + "/events", { headers, signal: abort.signal });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = "message", data = [], seq = null;
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "event") name = val;
            else if (field === "data") data.push(val);
            else if (field === "id") seq = parseInt(val, 10);
          }
          if (seq !== null) lastEventId = seq;
          if (data.length) onEvent(name, data.join("\n"));
        }
      }
      if (!current || current.id !== id || document.body.dataset.final === "true") return;
    } catch (err) {
      if (!current || current.id !== id) return;
      logEvent("event stream interrupted (" + err.message + "); reconnecting", "error");
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function pay() {
  $("error").textContent = "";
  const ls = lines();
  const body = { amount: parseInt($("amount").value, 10) || 0, reference: $("reference").value.trim(), confirmation: $("confirmation").value };
  if (ls.length) { body.items = ls; body.description = ls.map((l) => l.name).join(", ").slice(0, 255); }
  if ($("terminal").value) body.terminal = $("terminal").value;
  const key = newKey();
  $("pay").disabled = true;
  const answer = await api("POST", "/v1/payments", body, { "Idempotency-Key": key }).catch((e) => ({ status: 0, text: e.message }));
  if (answer.status !== 201) {
    $("error").textContent = "The bridge refused the payment: " + problemText(answer);
    $("pay").disabled = false;
    return;
  }
  const p = answer.json;
  current = { id: p.id, abort: null, sale: body };
  lastEventId = 0;
  document.body.dataset.final = "false";
  $("events").innerHTML = "";
  $("payment-id").textContent = p.id;
  $("customer-sees").textContent = "—";
  $("receipt").hidden = true; $("receipt-none").hidden = false;
  setState(p.state);
  logEvent(time(p.createdAt) + "  started " + kr(p.amount) + " on terminal " + p.terminal + " (reference " + p.reference + ")");
  $("cancel").disabled = false;
  follow(p.id);
}

async function cancel() {
  if (!current) return;
  $("cancel").disabled = true;
  const answer = await api("POST", "/v1/payments/" + encodeURIComponent(current.id) + "/cancel").catch((e) => ({ status: 0, text: e.message }));
  if (answer.status === 202 || answer.status === 200) {
    logEvent("cancel asked: " + answer.json.state + " (the customer may still win the race)");
  } else {
    $("error").textContent = "Cancel refused: " + problemText(answer);
  }
}

function finish(p) {
  document.body.dataset.final = "true";
  setState(p.state);
  $("cancel").disabled = true;
  $("new-sale").disabled = false;
  if (p.state === "paid") {
    const sale = (current && current.sale) || {};
    const rows = (sale.items || []).map((l) => (l.quantity + " × " + l.name).padEnd(28) + kr(l.unitPrice * l.quantity).padStart(12));
    $("receipt").textContent = [
      "RECEIPT — Netgíró",
      new Date(p.updatedAt).toLocaleString("en-GB"),
      "Reference      " + p.reference,
      ...rows,
      "TOTAL".padEnd(28) + kr(p.amount).padStart(12),
      "TransactionId  " + (p.transactionId || "—"),
      "InvoiceNumber  " + (p.invoiceNumber || "—"),
      "Terminal       " + p.terminal,
    ].join("\n");
    $("receipt").dataset.transactionId = p.transactionId || "";
    $("receipt").dataset.invoiceNumber = p.invoiceNumber || "";
    $("receipt").hidden = false; $("receipt-none").hidden = true;
    $("refund-box").hidden = false; $("refunds").innerHTML = "";
  } else if (p.state === "unknown") {
    $("error").textContent = "The bridge cannot tell whether money moved: check reference " + p.reference + " in Netgíró's portal before you take the payment again.";
  }
  loadToday();
}

// ---- refunds (POST /v1/payments/{id}/refunds; one Idempotency-Key per refund, kept for a retry)
let refundKey = null;
async function refund() {
  if (!current) return;
  const amount = parseInt($("refund-amount").value, 10);
  const body = Number.isFinite(amount) ? { amount } : {};
  refundKey = refundKey || newKey();
  $("refund").disabled = true;
  const answer = await api("POST", "/v1/payments/" + encodeURIComponent(current.id) + "/refunds", body, { "Idempotency-Key": refundKey })
    .catch((e) => ({ status: 0, text: e.message }));
  $("refund").disabled = false;
  const li = document.createElement("li");
  if (answer.status === 201) {
    const r = answer.json;
    li.textContent = "refund " + kr(r.amount) + ": " + r.state + (r.message ? " — " + r.message : "");
    li.dataset.state = r.state;
    // unknown: keep the key, so Refund again asks Netgíró about the same refund; otherwise a new one next time.
    if (r.state !== "unknown") { refundKey = null; $("refund-amount").value = ""; }
  } else {
    li.textContent = "refund refused: " + problemText(answer);
    li.className = "error";
    refundKey = null;
  }
  $("refunds").appendChild(li);
}

function newSale() {
  current = null;
  $("refund-box").hidden = true; $("refunds").innerHTML = ""; refundKey = null;
  document.body.dataset.final = "";
  setState("idle"); $("state").textContent = "no payment";
  $("payment-id").textContent = "";
  $("customer-sees").textContent = "—";
  $("reference").value = newReference();
  $("pay").disabled = false; $("new-sale").disabled = true;
}

// ---- today's payments (GET /v1/payments; older bridges have no list: say so, keep working)
async function loadToday() {
  const midnight = new Date(); midnight.setHours(0, 0, 0, 0);
  const answer = await api("GET", "/v1/payments?from=" + encodeURIComponent(midnight.toISOString())).catch((e) => ({ status: 0, text: e.message }));
  const body = $("today").querySelector("tbody");
  body.innerHTML = "";
  if (answer.status === 404 || answer.status === 405) {
    $("today-note").textContent = "This bridge has no payment list (GET /v1/payments answered " + answer.status + "); payments taken here are in the events above.";
    $("today").dataset.available = "false";
    return;
  }
  if (!answer.ok) { $("today-note").textContent = "Cannot list today's payments: " + problemText(answer); $("today").dataset.available = "false"; return; }
  const j = answer.json;
  const list = Array.isArray(j) ? j : (j.payments || j.items || j.data || []);
  $("today").dataset.available = "true";
  $("today-note").textContent = list.length ? "" : "No payments yet today.";
  for (const p of list) {
    const tr = document.createElement("tr");
    for (const [text, cls] of [[time(p.createdAt), ""], [p.reference, ""], [kr(p.amount), ""], [p.state, "state-" + p.state], [p.transactionId || "", ""]]) {
      const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

async function loadTerminals() {
  const health = await api("GET", "/healthz").catch(() => null);
  $("health").textContent = health ? (health.json && health.json.status === "ok" ? "bridge ready" : "bridge not ready: " + ((health.json && health.json.reason) || health.status)) : "bridge unreachable";
  const answer = await api("GET", "/v1/terminals").catch(() => null);
  if (!answer || !answer.ok) return;
  const select = $("terminal");
  const chosen = select.value;
  select.querySelectorAll("option:not([value=''])").forEach((o) => o.remove());
  for (const t of answer.json.terminals) {
    const o = document.createElement("option");
    o.value = t.id; o.textContent = t.id + " (" + t.status + ")";
    select.appendChild(o);
  }
  select.value = chosen;
}

$("pay").onclick = pay;
$("cancel").onclick = cancel;
$("new-sale").onclick = newSale;
$("refund").onclick = refund;
$("refresh-today").onclick = loadToday;
addLine("Kaffi", 590, 2);
addLine("Kleina", 450, 1);
$("reference").value = newReference();
loadTerminals();
setInterval(loadTerminals, 5000);
loadToday();
</script>
</body>
</html>
"""#
}
