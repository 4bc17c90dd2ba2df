// The operator console page: dossier search, queues and lag, dead letters with replay, the national portal
// sync, the 766 dashboard.
// Everything from the API is put in the page as text (textContent), never as HTML.

import { api, ApiError, useCsrfToken } from "./api.js";
import { barChart } from "./charts.js";

const $ = (selector) => document.querySelector(selector);

function cell(value, className) {
  const td = document.createElement("td");
  if (value instanceof Node) td.append(value);
  else td.textContent = value ?? "";
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells.map((value) => (value instanceof HTMLTableCellElement ? value : cell(value))));
  return tr;
}

function fill(table, rows, empty) {
  const body = table.querySelector("tbody");
  body.replaceChildren(...rows);
  if (!rows.length && empty) {
    const td = cell(empty, "muted");
    td.colSpan = table.querySelectorAll("thead th").length;
    body.append(row(td));
  }
}

function show(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

function problemText(error) {
  if (!(error instanceof ApiError)) return String(error);
  const fields = (error.problem.errors || []).map((item) => item.field).filter(Boolean);
  const title = error.problem.title && error.problem.title !== error.message ? `${error.problem.title}: ` : "";
  return `${title}${error.message}${fields.length ? ` (${fields.join(", ")})` : ""}`;
}

const time = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { hour12: false }) : "");
const percent = (value) => (value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)} %`);
const num = (value) => cell(value ?? "", "num");

// --- dossier ----------------------------------------------------------------------------------------

async function searchDossier(code) {
  show($("#dossier-error"), "");
  $("#dossier-result").hidden = true;
  try {
    const dossier = await api(`/dossiers/${encodeURIComponent(code)}`);
    renderDossier(dossier);
    await loadTrace(code);
  } catch (error) {
    show($("#dossier-error"), problemText(error));
  }
}

function renderDossier(dossier) {
  const summary = $("#dossier-summary");
  summary.replaceChildren();
  const facts = [
    ["Code", dossier.dossier_code],
    ["Status", dossier.status],
    ["Procedure", dossier.procedure_code],
    ["Agency", dossier.agency_code || "–"],
    ["Step", dossier.step || "–"],
    ["Due", dossier.due_date],
  ];
  for (const [term, value] of facts) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value ?? "";
    if (term === "Status") dd.className = `status status-${value}`;
    summary.append(dt, dd);
  }
  renderSteps(dossier.steps);
  fill(
    $("#timeline"),
    (dossier.timeline || []).map((entry) =>
      row(
        time(entry.at),
        entry.event,
        entry.status,
        entry.agency_code,
        entry.step,
        entry.note,
        entry.outcome,
        cell(traceLink(entry)),
      ),
    ),
    "No timeline entries yet.",
  );
  fill(
    $("#notifications"),
    (dossier.notifications || []).map((item) =>
      row(time(item.created_at), item.channel, item.subject, item.status, num(item.attempts), time(item.delivered_at)),
    ),
    "No notifications sent.",
  );
  renderDossierSync(dossier.portal_sync);
  $("#dossier-result").hidden = false;
}

// What the national portal was told of the dossier: each status change, sent, pending, failed or not sent.
function renderDossierSync(sync) {
  const notice = $("#dossier-sync-notice");
  if (!sync || sync.available === false) {
    show(notice, `The portal sync could not be read${sync && sync.detail ? `: ${sync.detail}` : "."}`);
    fill($("#dossier-sync"), []);
    return;
  }
  show(notice, sync.enabled ? "" : "Sync to the national portal is off (PORTAL_SYNC_URL is not set).");
  fill(
    $("#dossier-sync"),
    (sync.changes || []).map((change) => {
      const tr = row(
        time(change.changed_at),
        change.status,
        num(change.national_status ?? "–"),
        cell(change.state, `sync-${change.state}`),
        num(change.attempts),
        time(change.sent_at),
        cell(change.error, "reason"),
      );
      tr.dataset.state = change.state;
      return tr;
    }),
    "Nothing staged for the national portal.",
  );
}

// Workflows with several agency steps list them; each step is shown with whatever it reports.
function renderSteps(steps) {
  const container = $("#dossier-steps");
  container.replaceChildren();
  if (!Array.isArray(steps) || !steps.length) return;
  const heading = document.createElement("h3");
  heading.textContent = "Steps";
  const list = document.createElement("ol");
  list.className = "steps";
  for (const step of steps) {
    const item = document.createElement("li");
    item.textContent =
      typeof step === "object" && step !== null
        ? [step.step ?? step.name, step.agency_code ?? step.agency, step.status].filter(Boolean).join(" · ")
        : String(step);
    list.append(item);
  }
  container.append(heading, list);
}

function traceLink(entry) {
  if (!entry.trace_id) return "";
  if (!entry.trace_url) return entry.trace_id;
  const link = document.createElement("a");
  link.href = entry.trace_url;
  link.target = "_blank";
  link.rel = "noopener";
  link.className = "trace";
  link.dataset.traceId = entry.trace_id;
  link.textContent = entry.trace_id.slice(0, 12) + "…";
  link.title = entry.trace_id;
  return link;
}

// --- the dossier's trace as a waterfall ---------------------------------------------------------------

async function loadTrace(code) {
  fill($("#waterfall"), []);
  show($("#trace-waiting"), "");
  show($("#trace-summary"), "Loading the trace …");
  try {
    renderTrace(await api(`/dossiers/${encodeURIComponent(code)}/trace`));
  } catch (error) {
    show($("#trace-summary"), problemText(error));
  }
}

const ms = (us) => `${(us / 1000).toFixed(us < 10000 ? 1 : 0)} ms`;

function renderTrace(trace) {
  const total = Math.max(trace.duration_us, 1);
  const errors = trace.errors ? `, ${trace.errors} with an error` : "";
  show(
    $("#trace-summary"),
    trace.spans.length
      ? `${trace.spans.length} spans in ${ms(trace.duration_us)} (${trace.trace_ids.length} trace(s), from ${trace.backend})${errors}`
      : `No spans found for this dossier's traces in ${trace.backend}.`,
  );
  show($("#trace-waiting"), waitingText(trace.waiting));
  fill(
    $("#waterfall"),
    trace.spans.map((span) => {
      const bar = document.createElement("div");
      bar.className = "span-bar";
      bar.style.left = `${(100 * span.offset_us) / total}%`;
      bar.style.width = `${(100 * span.duration_us) / total}%`;
      bar.title = `+${ms(span.offset_us)}, ${ms(span.duration_us)}`;
      const name = span.error && span.status_message ? `${span.name} (${span.status_message})` : span.name;
      const tr = row(span.service, span.hop ?? "", name, cell(bar, "bars"), num(ms(span.duration_us)));
      tr.className = span.error ? "span span-error" : "span";
      tr.dataset.spanId = span.span_id;
      tr.dataset.traceId = span.trace_id;
      return tr;
    }),
    "No spans.",
  );
}

function waitingText(waiting) {
  if (!waiting) return "Finished: the dossier waits on nobody.";
  const steps = waiting.steps.map((step) => `${step.step} (${step.status}, on ${step.waits_on})`);
  const last = waiting.last_span ? `; last span: ${waiting.last_span.service} ${waiting.last_span.name}` : "";
  return `Waiting (${waiting.status}): ${steps.length ? steps.join(", ") : "no open step"}${last}`;
}

// --- queues and dead letters ------------------------------------------------------------------------

async function loadQueues() {
  show($("#queues-error"), "");
  try {
    const queues = await api("/queues");
    fill(
      $("#topics"),
      queues.topics.map((topic) => row(topic.name, num(topic.partitions), num(topic.end_offset), num(topic.records))),
      "No topics.",
    );
    fill(
      $("#lag"),
      queues.consumer_lag.map((item) =>
        row(item.group, item.topic, num(item.committed), num(item.end_offset), cell(item.lag, item.lag ? "num lagging" : "num")),
      ),
      "No consumer group has committed an offset yet.",
    );
    fill(
      $("#dlq-topics"),
      queues.dead_letter_topics.map((topic) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "small";
        button.textContent = "Show";
        button.addEventListener("click", () => loadLetters(topic.name));
        return row(topic.name, cell(topic.letters, topic.letters ? "num lagging" : "num"), cell(button));
      }),
      "No dead-letter topics.",
    );
  } catch (error) {
    show($("#queues-error"), problemText(error));
  }
}

let shownTopic = null;

async function loadLetters(topic) {
  shownTopic = topic;
  const panel = $("#letters-panel");
  panel.hidden = false;
  $("#letters-title").textContent = topic;
  try {
    const result = await api(`/dlq/${encodeURIComponent(topic)}`);
    const shown = result.letters.length < result.total ? ` (newest ${result.letters.length} shown)` : "";
    $("#letters-title").textContent = `${topic}: ${result.total} letter(s)${shown}`;
    fill(
      $("#letters"),
      result.letters.map((letter) => {
        const replay = document.createElement("button");
        replay.type = "button";
        replay.className = "small replay";
        replay.textContent = "Replay";
        replay.disabled = !letter.event_id;
        replay.title = letter.event_id ? `Send event ${letter.event_id} back to ${letter.original_topic}` : "no event id";
        replay.addEventListener("click", () => replayLetter(topic, letter.event_id, replay));
        const tr = row(
          time(letter.failed_at),
          letter.event_type,
          letter.event_id,
          letter.subject,
          cell(letter.reason, "reason"),
          letter.original_topic,
          num(letter.original_offset),
          letter.consumer_group,
          cell(replay),
        );
        tr.dataset.eventId = letter.event_id || "";
        return tr;
      }),
      "This DLQ is empty.",
    );
  } catch (error) {
    fill($("#letters"), [], problemText(error));
  }
}

async function replayLetter(topic, eventId, button) {
  const result = $("#replay-result");
  button.disabled = true;
  try {
    const replayed = await api(`/dlq/${encodeURIComponent(topic)}/replay`, {
      method: "POST",
      body: { event_id: eventId },
    });
    const targets = [...new Set(replayed.replayed.map((letter) => letter.original_topic))].join(", ");
    result.className = "success";
    show(result, `Replayed ${replayed.replayed.length} letter(s) of event ${eventId} to ${targets}.`);
  } catch (error) {
    result.className = "error";
    show(result, `Replay failed: ${problemText(error)}`);
  } finally {
    button.disabled = false;
  }
  await loadQueues();
}

// --- national portal sync ---------------------------------------------------------------------------

function dossierLink(code) {
  const link = document.createElement("a");
  link.href = `?dossier=${encodeURIComponent(code)}#dossier`;
  link.textContent = code;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    $("#dossier-code").value = code;
    history.replaceState(null, "", `?dossier=${encodeURIComponent(code)}#dossier`);
    searchDossier(code);
    $("#dossier").scrollIntoView();
  });
  return link;
}

async function loadSyncFailures() {
  const message = $("#portal-sync-message");
  try {
    const body = await api("/portal-sync/failures");
    show(message, body.enabled ? "" : "Sync to the national portal is off (PORTAL_SYNC_URL is not set).");
    const shown = body.failed.length < body.failed_total ? ` (newest ${body.failed.length} of ${body.failed_total})` : "";
    $("#sync-failures-title").textContent = `Refused by the portal${shown}`;
    fill(
      $("#sync-failures"),
      body.failed.map((change) =>
        row(
          cell(dossierLink(change.dossier_code)),
          time(change.changed_at),
          change.status,
          num(change.national_status),
          num(change.attempts),
          cell(change.error, "reason"),
        ),
      ),
      "The portal has refused nothing.",
    );
    fill(
      $("#sync-retrying"),
      body.retrying.map((change) =>
        row(
          cell(dossierLink(change.dossier_code)),
          time(change.changed_at),
          change.status,
          num(change.national_status),
          num(change.attempts),
          time(change.next_attempt_at),
          cell(change.error, "reason"),
        ),
      ),
      "Nothing is waiting for a retry.",
    );
  } catch (error) {
    show(message, `Could not load the portal sync: ${problemText(error)}`);
    fill($("#sync-failures"), []);
    fill($("#sync-retrying"), []);
  }
}

// --- Decision 766 -----------------------------------------------------------------------------------

async function loadIndicators() {
  const message = $("#indicators-message");
  try {
    const body = await api("/indicators");
    const items = body.indicators || [];
    if (!items.length) {
      show(message, "No dossiers have been received yet: nothing to measure.");
      $("#indicators-content").hidden = true;
      return;
    }
    show(message, body.as_of ? `As of ${body.as_of}.` : "");
    renderIndicators(items);
  } catch (error) {
    const notServed = error instanceof ApiError && error.status === 404;
    show(
      message,
      notServed
        ? `Decision 766 indicators are not available: ${error.message}.`
        : `Could not load the indicators: ${problemText(error)}`,
    );
    $("#indicators-content").hidden = true;
  }
}

function renderIndicators(items) {
  const label = (item) => `${item.agency} · ${item.procedure}`;
  const charts = $("#indicator-charts");
  charts.replaceChildren(
    barChart({ title: "Received", rows: items.map((item) => ({ label: label(item), value: item.received })) }),
    barChart({ title: "Processed", rows: items.map((item) => ({ label: label(item), value: item.processed })) }),
    ...[
      ["On time", "on_time_rate"],
      ["Online", "online_rate"],
      ["Digitised results", "digitised_rate"],
    ].map(([title, key]) =>
      barChart({ title, rows: items.map((item) => ({ label: label(item), value: item[key] })), max: 1, format: percent }),
    ),
    barChart({
      title: "Satisfaction (average rating)",
      rows: items.map((item) => ({ label: label(item), value: item.satisfaction_average })),
      max: 5,
      format: (value) => value.toFixed(2),
    }),
  );
  fill(
    $("#indicator-table"),
    items.map((item) =>
      row(
        item.agency,
        item.procedure,
        num(item.received),
        num(item.processed),
        num(percent(item.on_time_rate)),
        num(percent(item.online_rate)),
        num(percent(item.digitised_rate)),
        num(item.satisfaction_average === null || item.satisfaction_average === undefined ? "–" : item.satisfaction_average.toFixed(2)),
      ),
    ),
  );
  $("#indicators-content").hidden = false;
}

// --- start --------------------------------------------------------------------------------------------

function start() {
  api("/config")
    .then((config) => useCsrfToken(config.csrf_token))
    .catch(() => {});

  $("#dossier-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = $("#dossier-code").value.trim();
    if (code) {
      history.replaceState(null, "", `?dossier=${encodeURIComponent(code)}${location.hash}`);
      searchDossier(code);
    }
  });
  $("#portal-sync-refresh").addEventListener("click", loadSyncFailures);
  $("#queues-refresh").addEventListener("click", async () => {
    await loadQueues();
    if (shownTopic) await loadLetters(shownTopic);
  });

  const linked = new URLSearchParams(location.search).get("dossier");
  if (linked) {
    $("#dossier-code").value = linked;
    searchDossier(linked);
  }
  loadQueues();
  loadSyncFailures();
  loadIndicators();
  // The forms act from here on (a module script runs after the page shows): tests wait for this.
  document.body.dataset.ready = "true";
}

start();
