// The upload page: upload, plan (or the column question), start, live progress (Server-Sent
// Events) with pace and money, stop, resume, download, rename, history. Plain JavaScript, no build
// step; every figure comes from the JSON API.
"use strict";

(function () {
  const setup = JSON.parse(document.getElementById("setup").textContent);
  const W = setup.words;
  const $ = (id) => document.getElementById(id);
  const zone = (() => {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (err) {
      return "";
    }
  })();
  let current = null; // the job shown
  let stream = null; // its EventSource

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function words(template, values) {
    const text = template.replace(/\{(\w+)\}/g, (_, key) => String(values[key]));
    // English: one row, not "1 rows"
    return setup.lang === "en" ? text.replace(/(^|[^\d.,])1 (rows|numbers|answers)\b/g, (_, pre, noun) => pre + "1 " + noun.slice(0, -1)) : text;
  }

  function showError(box, text) {
    text = text || "";
    box.textContent = text.length > 400 ? text.slice(0, 399) + "…" : text;
    box.hidden = !text;
  }

  // A time as the uploader reads it: their zone, to the second, the zone named.
  function when(iso) {
    if (!iso) return "";
    const moment = new Date(iso);
    const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    const zoned = new Intl.DateTimeFormat(setup.lang, { timeZoneName: "short" }).formatToParts(moment);
    const name = (zoned.find((p) => p.type === "timeZoneName") || {}).value || "";
    return moment.toLocaleString(setup.lang, options) + (name ? " (" + name + ")" : "");
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const parts = [];
    if (h) parts.push(words(W.d_h, { n: h }));
    if (m) parts.push(words(W.d_m, { n: m }));
    if (s || !parts.length) parts.push(words(W.d_s, { n: s }));
    return parts.join(" ");
  }

  function money(count, price) {
    return price == null || count == null ? null : (count * price).toFixed(2);
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function api(method, path, body, headers) {
    const init = { method, headers: Object.assign({ Accept: "application/json" }, headers || {}), credentials: "same-origin" };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      location.href = "/login";
      throw new Error("login");
    }
    const doc = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new Error((doc && (doc.message || doc.error)) || response.status + " " + response.statusText);
    return doc;
  }

  // -- who, and what happens to the files -----------------------------------------------------
  $("user").textContent = setup.users ? W.signed_in + W.colon + setup.user : "";
  $("kept-note").textContent = setup.keep ? words(W.kept_for, { keep: setup.keep }) : "";
  $("who-note").textContent = setup.users ? W.who_users : W.who_token;

  // -- upload ---------------------------------------------------------------------------------
  const maxBytes = Number(document.querySelector("meta[name=batchverify-max-bytes]").content);

  async function upload(file) {
    showError($("error"), "");
    if (file.size > maxBytes) {
      // Refused here, before minutes of uploading end in a connection the server closed.
      showError($("error"), W.too_large + " (" + Math.round(maxBytes / 1048576) + " MB): " + file.name);
      return;
    }
    const form = new FormData();
    form.append("name", $("upload-name").value.trim());
    form.append("max_billable", $("upload-budget").value.trim());
    form.append("browser_time_zone", zone); // used when the server knows it, else the server's
    form.append("file", file, file.name);
    const drop = $("drop");
    drop.classList.add("busy");
    drop.querySelector("span").textContent = W.uploading;
    try {
      // One key per upload: a retry after a cut connection gets the same job, not a second one.
      const job = await api("POST", "/api/jobs?language=" + encodeURIComponent(setup.lang), form, { "Idempotency-Key": newKey() });
      $("upload-name").value = "";
      $("upload-budget").value = "";
      show(job);
      refreshHistory();
    } catch (err) {
      showError($("error"), file.name + ": " + err.message);
    } finally {
      drop.classList.remove("busy");
      drop.querySelector("span").textContent = W.drop;
      $("file").value = "";
    }
  }

  // A file dropped beside the drop zone must not make the browser leave the page to open it.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  $("file").addEventListener("change", () => {
    if ($("file").files.length) upload($("file").files[0]);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
  });

  // -- one job --------------------------------------------------------------------------------
  function show(job) {
    const fresh = !current || current.id !== job.id;
    if (fresh) follow(job.id);
    current = job;
    render(job);
    if (fresh) $("job").scrollIntoView({ block: "start" });
  }

  function follow(id) {
    if (stream) stream.close();
    stream = new EventSource("/api/jobs/" + id + "/events");
    stream.onerror = () => {
      // EventSource retries by itself after a dropped connection; a closed one (a 401 after a
      // restart with a new token, a deleted job) is checked once: the API call goes to the login.
      if (stream.readyState === EventSource.CLOSED && current && current.id === id) {
        api("GET", "/api/jobs/" + id).then(show, () => showError($("job-error"), W.lost));
      }
    };
    stream.addEventListener("job", (e) => {
      // The first event is the whole job, the next ones what changed: merged into what is shown.
      const changes = JSON.parse(e.data);
      const job = current && current.id === changes.id ? Object.assign({}, current, changes) : changes;
      if (job.deleted) {
        // Deleted in another tab (or removed after the keep period): gone from this one too.
        stream.close();
        if (current && current.id === job.id) {
          current = null;
          $("job").hidden = true;
        }
        refreshHistory();
        return;
      }
      if (current && current.id === job.id) {
        const was = current.state;
        current = job;
        render(job);
        if (was !== job.state || Date.now() - historyAt > 3000) refreshHistory();
      }
    });
  }

  function figure(n, word, cls) {
    return el("li", cls ? { class: cls } : {}, el("b", {}, n), " ", word);
  }

  function render(job) {
    const plan = job.plan || {};
    const active = job.state === "queued" || job.state === "running";
    $("job").hidden = false;
    $("job").dataset.state = job.state;
    $("job-name").textContent = job.shown_name || job.name;
    $("job-name").title = job.name;
    const badge = $("job-state");
    const today = forToday(job);
    badge.textContent = job.writing ? W.writing : job.stopping ? W.stopping : today ? W.finished_today : W["state_" + job.state] || job.state;
    badge.className = "badge " + job.state;
    $("plan-title").textContent = job.state === "planned" ? W.plan : W.plan_after;
    renderFigures(job, plan);
    const same = job.same_file;
    $("same-file").hidden = !same || job.state !== "planned";
    if (same) $("same-file").textContent = W.same_file + " (" + same.name + ", " + when(same.created_at) + "): " + W.same_file_tail;
    renderQuestion(job, plan);
    renderReuse(job, plan);
    renderColumn(job, plan);
    renderPreview(plan);
    renderProgress(job, active);
    renderRetry(job);
    showError($("job-error"), job.error);
    const nothing = !plan.distinct && !(plan.reused > 0);
    $("start").hidden = job.state !== "planned";
    $("start").disabled = job.needs_column || nothing || !job.can_start;
    $("column-empty").hidden = job.state !== "planned" || job.needs_column || !nothing;
    const retry = job.retry;
    const budgetOk = job.budget_left == null || job.budget_left > 0;
    const helps = (retry ? retry.ready && retry.when !== "never" : job.state === "stopped" || job.state === "failed") && budgetOk;
    $("resume").hidden = job.state === "planned" || !job.can_start || !helps;
    $("stop").hidden = !active || job.stopping;
    $("delete").disabled = false;
    const others = (plan.candidates || []).filter((c) => c.valid > 0 && (!plan.column || c.column !== plan.column.column));
    $("another").hidden = job.state === "planned" || active || !others.length;
    $("budget-line").hidden = active || (job.state !== "planned" && !job.can_start);
    if (document.activeElement !== $("budget")) $("budget").value = job.budget == null ? "" : job.budget;
    $("expires").textContent = job.expires_at ? words(W.deleted_at, { when: when(job.expires_at) }) : "";
    link($("download"), job.downloads.result);
    link($("download-problems"), job.downloads.problems);
  }

  function renderFigures(job, plan) {
    const figures = $("plan-figures");
    if (job.needs_column) {
      figures.replaceChildren(figure(plan.rows, W.rows));
      $("cost").textContent = "";
      return;
    }
    figures.replaceChildren(
      figure(plan.rows, W.rows),
      figure(plan.distinct, W.distinct),
      figure(plan.invalid, W.invalid),
      figure(plan.empty, W.empty),
      figure(plan.duplicates, W.duplicates),
      figure(plan.reused, W.reused),
      figure(plan.to_send, W.to_send, "strong"),
      figure(plan.max_billable, W.max_billable, "strong")
    );
    // Why the most billed is more than the numbers to check, and what it may cost.
    const lines = [];
    if (plan.to_send) {
      lines.push(words(W.why_max, { n: plan.max_billable, send: plan.to_send, extra: Math.max(0, plan.max_billable - plan.to_send) }));
      if (job.budget != null) lines.push(words(W.why_budget, { n: job.budget, left: job.budget_left }));
      const most = money(plan.max_billable, job.price);
      if (most != null) lines.push(words(W.money_most, { money: most }));
    }
    $("cost").textContent = lines.join(" ");
  }

  function renderQuestion(job, plan) {
    const box = $("question");
    box.hidden = !job.needs_column || job.state !== "planned";
    if (box.hidden) return;
    const asked = plan.needs_column || {};
    $("question-text").textContent = job.name + ": " + (asked.message || asked.error || "");
    const list = $("candidates");
    list.replaceChildren();
    for (const c of plan.candidates || []) {
      if (!c.filled) continue;
      const done = plan.checked_column && plan.checked_column.column === c.column;
      const use = el("button", { type: "button", "data-column": c.column, class: c.valid && !done ? "primary small" : "small" }, W.use_column);
      use.addEventListener("click", () => replan({ column: c.column, sheet: plan.sheet || "", ...kept() }));
      list.append(
        el(
          "li",
          { class: c.valid ? "likely" : "" },
          el("b", {}, c.name ? c.letter + " · " + c.name : c.letter),
          el("span", { class: "samples" }, (c.samples || []).join("　")),
          el("span", { class: "note" }, words(W.valid_of, { valid: c.valid, filled: c.filled }) + (done ? W.comma + W.checked_column : "")),
          use
        )
      );
    }
  }

  function age(text) {
    // "7d" as the page's words: "7 days", "7 天"
    const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(String(text).trim());
    return m ? m[1] + W["unit_" + m[2].toLowerCase()] : String(text);
  }

  function renderReuse(job, plan) {
    const offer = plan.reuse_offer;
    const planned = job.state === "planned";
    $("reuse-offer").hidden = !offer || !planned || job.needs_column;
    if (offer) {
      $("reuse-text").textContent = words(W.reuse_offer, { age: age(offer.max_age), numbers: offer.numbers, calls: offer.saved_calls });
    }
    $("reusing").hidden = !job.max_age;
    if (job.max_age) $("reusing").textContent = words(W.reusing, { age: age(job.max_age), numbers: plan.reused || 0 });
  }

  function link(a, href) {
    a.hidden = !href;
    if (href) a.href = href;
    else a.removeAttribute("href");
  }

  function renderColumn(job, plan) {
    const select = $("column");
    select.replaceChildren();
    if (job.needs_column) select.append(el("option", { value: "" }, "—"));
    for (const c of plan.candidates || []) {
      const name = c.name ? c.letter + " · " + c.name : c.letter;
      const valid = c.filled ? " (" + c.valid + "/" + c.filled + " " + W.valid + ")" : "";
      select.append(el("option", { value: c.column }, name + valid));
    }
    select.value = plan.column ? plan.column.column : "";
    select.disabled = job.state !== "planned";
    const where = plan.header_row ? W.header_row + " " + plan.header_row : W.no_header;
    $("column-note").textContent = where + (plan.column && !plan.column.named ? " · " + W.by_values : "");
    const sheets = plan.sheets || [];
    $("sheet-box").hidden = sheets.length < 2;
    const sheet = $("sheet");
    sheet.replaceChildren(...sheets.map((s) => el("option", { value: s }, s)));
    if (plan.sheet) sheet.value = plan.sheet;
    sheet.disabled = job.state !== "planned";
  }

  function renderPreview(plan) {
    const table = $("preview");
    const col = plan.column ? Number(plan.column.column) - 1 : -1;
    const head = el("tr", {}, el("th", {}, "#"));
    (plan.header || []).forEach((h, i) => head.append(el("th", i === col ? { class: "phone" } : {}, h)));
    const body = el("tbody");
    for (const row of plan.preview || []) {
      const tr = el("tr", row.problem && col >= 0 ? { class: "invalid" } : {}, el("td", {}, row.line));
      row.cells.forEach((cell, i) => {
        const attrs = i === col ? { class: "phone", title: row.problem || row.number || "" } : {};
        tr.append(el("td", attrs, cell));
      });
      body.append(tr);
    }
    table.replaceChildren(el("thead", {}, head), body);
    // On a narrow screen the phone column may sit beyond the right edge: it is scrolled into view.
    const phone = table.querySelector("th.phone");
    const box = $("preview-box");
    if (phone && phone.offsetLeft + phone.offsetWidth > box.clientWidth) box.scrollLeft = phone.offsetLeft - 40;
  }

  function chips(counts) {
    const order = ["live", "not_live", "unknown", "invalid", "not_final"];
    const rank = (status) => order.indexOf(setup.classes[status] || "not_final");
    const entries = Object.entries(counts || {}).sort((a, b) => rank(a[0]) - rank(b[0]) || b[1] - a[1]);
    const items = [];
    for (const [status, n] of entries) {
      if (!n) continue;
      const cls = setup.classes[status] || "";
      // Not final: the status and the action the workbook gives it, so both words are on screen.
      const label = (setup.labels[status] || status) + (cls === "not_final" ? " · " + setup.actions[status] : "");
      items.push(el("li", { class: "chip " + cls, "data-status": status }, label + " ", el("b", {}, n)));
    }
    return items;
  }

  function renderProgress(job, active) {
    $("progress-box").hidden = job.state === "planned";
    const bar = $("progress");
    bar.max = Math.max(job.total, 1);
    bar.value = job.done;
    const pct = job.total ? Math.floor((100 * job.done) / job.total) : 100;
    $("progress-text").textContent = W.progress + " " + job.done + " / " + job.total + " " + W.numbers + " (" + pct + "%)";
    const live = job.live;
    $("live").hidden = !active || !live;
    if (active && live) {
      const parts = [];
      if (live.rate) parts.push(words(W.rate, { rate: live.rate }));
      parts.push(words(W.time_left, { time: duration(live.eta_seconds) }));
      parts.push(words(W.billed_so_far, { n: live.billable }));
      if (live.cost != null) parts.push(words(W.cost_so_far, { money: live.cost.toFixed(2) }));
      const most = money((job.plan || {}).max_billable, job.price);
      if (most != null) parts.push(words(W.money_most, { money: most }));
      $("live").textContent = parts.join(" · ");
    }
    $("close-tab").hidden = !active;
    // After a run: rows per result, as the workbook counts them; while it runs: numbers so far.
    const byRows = !active && job.rows;
    $("counts-caption").textContent = byRows ? W.rows_caption : W.numbers_caption;
    $("counts").replaceChildren(...chips(byRows ? job.rows : job.counts));
    const s = job.summary;
    const last = $("last-run");
    last.hidden = !s || active;
    if (s) {
      const parts = [s.requests + " " + W.requests, s.billable_calls + " " + W.billable];
      if (s.elapsed_seconds) parts.push(words(W.took, { time: duration(s.elapsed_seconds) }));
      last.textContent = W.last_run + W.colon + parts.join(W.comma);
    }
  }

  function renderRetry(job) {
    const retry = job.retry;
    const box = $("retry");
    box.hidden = !retry;
    if (!retry) return;
    const lines = (retry.groups || [retry]).map((g) => {
      const statuses = Object.entries(g.statuses || {}).map(([s, n]) => (setup.labels[s] || s) + " " + n).join(W.comma);
      return words(W["retry_" + g.when] || W.retry_now, { rows: g.rows, statuses: statuses, when: when(g.at) });
    });
    if (retry.when !== "never") lines.push(W.retry_paid);
    box.textContent = lines.join(" ");
  }

  // Finished, and nothing can be tried before tomorrow.
  function forToday(job) {
    return job.state === "finished" && job.retry && job.retry.when === "tomorrow" && !job.retry.ready;
  }

  async function act(path, method, headers) {
    if (!current) return;
    showError($("job-error"), "");
    const buttons = ["start", "resume", "stop"].map($);
    buttons.forEach((b) => (b.disabled = true)); // one click, one request
    try {
      const job = await api(method || "POST", "/api/jobs/" + current.id + path, undefined, headers);
      if (job) show(job);
    } catch (err) {
      showError($("job-error"), err.message);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      if (current) render(current);
    }
  }

  $("start").addEventListener("click", () => act("/start", "POST", { "Idempotency-Key": newKey() }));
  $("resume").addEventListener("click", () => act("/start", "POST", { "Idempotency-Key": newKey() }));
  $("stop").addEventListener("click", () => act("/stop"));
  $("delete").addEventListener("click", async () => {
    if (!current || !confirm(W.confirm_delete)) return;
    $("delete").disabled = true;
    await act("", "DELETE");
    if (stream) stream.close();
    current = null;
    $("job").hidden = true;
    refreshHistory();
  });
  async function change(fields) {
    if (!current) return;
    showError($("job-error"), "");
    try {
      show(await api("PATCH", "/api/jobs/" + current.id, fields));
      refreshHistory();
    } catch (err) {
      showError($("job-error"), err.message);
    }
  }
  $("rename").addEventListener("click", () => {
    $("rename-input").value = current ? current.shown_name : "";
    $("rename-form").hidden = false;
    $("rename").hidden = true;
    $("rename-input").focus();
  });
  function closeRename() {
    $("rename-form").hidden = true;
    $("rename").hidden = false;
  }
  $("rename-cancel").addEventListener("click", closeRename);
  $("rename-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    await change({ name: $("rename-input").value });
    closeRename();
  });
  $("another").addEventListener("click", async () => {
    if (!current) return;
    showError($("job-error"), "");
    try {
      show(await api("POST", "/api/jobs/" + current.id + "/another"));
      refreshHistory();
    } catch (err) {
      showError($("job-error"), err.message);
    }
  });
  $("budget-save").addEventListener("click", () => change({ max_billable: $("budget").value.trim() }));
  async function replan(fields) {
    if (!current) return;
    showError($("job-error"), "");
    try {
      show(await api("POST", "/api/jobs/" + current.id + "/plan", fields));
    } catch (err) {
      render(current); // the selects go back to the plan in force, then say why
      showError($("job-error"), err.message);
    }
  }
  const kept = () => ({ max_age: current.max_age || "" }); // a column change keeps the reuse chosen
  $("column").addEventListener("change", () => {
    if ($("column").value) replan({ column: $("column").value, sheet: current.plan.sheet || "", ...kept() });
  });
  $("sheet").addEventListener("change", () => replan({ sheet: $("sheet").value, ...kept() }));
  $("reuse").addEventListener("click", () => {
    const offer = current.plan.reuse_offer;
    if (!offer) return;
    const column = current.plan.column ? current.plan.column.column : "";
    replan({ column: String(column), sheet: current.plan.sheet || "", max_age: offer.max_age });
  });

  // -- history --------------------------------------------------------------------------------
  let historyAt = 0;
  async function refreshHistory() {
    historyAt = Date.now();
    let doc;
    try {
      doc = await api("GET", "/api/jobs");
    } catch (err) {
      return;
    }
    const body = $("history").tBodies[0];
    body.replaceChildren();
    $("no-jobs").hidden = doc.jobs.length > 0;
    $("history").hidden = doc.jobs.length === 0;
    $("history").classList.toggle("with-owner", setup.users && setup.admin);
    for (const job of doc.jobs) {
      const open = el("button", { type: "button", class: "quiet small", "data-id": job.id }, W.open);
      open.addEventListener("click", () => api("GET", "/api/jobs/" + job.id).then(show, (err) => showError($("error"), err.message)));
      const name = el("td", { class: "name", title: job.name }, job.shown_name || job.name);
      if (job.title) name.append(el("small", {}, job.name));
      const state = forToday(job) ? W.finished_today : W["state_" + job.state] || job.state;
      body.append(
        el(
          "tr",
          { "data-id": job.id },
          name,
          el("td", { class: "when", "data-label": W.col_uploaded }, when(job.created_at)),
          el("td", {}, el("span", { class: "badge " + job.state }, state)),
          el("td", { class: "num", "data-label": W.col_progress }, job.done + " / " + job.total),
          el("td", { class: "owner" }, job.owner || ""),
          el("td", { class: "open" }, open)
        )
      );
    }
  }
  refreshHistory();
  document.body.dataset.ready = "1"; // every handler is attached (the browser tests wait for it)
  // Other jobs (another tab, a resumed job) move too: the list follows every few seconds.
  setInterval(() => {
    if (!document.hidden) refreshHistory();
  }, 5000);
})();
