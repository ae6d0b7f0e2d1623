// The upload page: upload, plan, start, live progress (Server-Sent Events), stop, resume,
// download, history. Plain JavaScript, no build step; every figure comes from the JSON API.
"use strict";

(function () {
  const setup = JSON.parse(document.getElementById("setup").textContent);
  const W = setup.words;
  const $ = (id) => document.getElementById(id);
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

  function showError(box, text) {
    text = text || "";
    box.textContent = text.length > 400 ? text.slice(0, 399) + "…" : text;
    box.hidden = !text;
  }

  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
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
    form.append("file", file, file.name);
    const drop = $("drop");
    drop.classList.add("busy");
    drop.querySelector("span").textContent = W.uploading;
    try {
      const job = await api("POST", "/api/jobs?language=" + encodeURIComponent(setup.lang), form);
      show(job);
      refreshHistory();
    } catch (err) {
      showError($("error"), err.message);
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
    if (!current || current.id !== job.id) follow(job.id);
    current = job;
    render(job);
  }

  function follow(id) {
    if (stream) stream.close();
    stream = new EventSource("/api/jobs/" + id + "/events");
    stream.onerror = () => {
      // EventSource retries by itself after a dropped connection; a closed one (a 401 after a
      // restart with a new token, a deleted job) is checked once: the API call goes to the login.
      if (stream.readyState === EventSource.CLOSED && current && current.id === id) {
        api("GET", "/api/jobs/" + id).then(show, (err) => showError($("job-error"), W.lost));
      }
    };
    stream.addEventListener("job", (e) => {
      // The first event is the whole job, the next ones what changed: merged into what is shown.
      const changes = JSON.parse(e.data);
      const job = current && current.id === changes.id ? Object.assign({}, current, changes) : changes;
      if (job.deleted) {
        // Deleted in another tab (or removed after --keep): the job is gone from this one too.
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
    $("job").hidden = false;
    $("job").dataset.state = job.state;
    $("job-name").textContent = job.name;
    const badge = $("job-state");
    badge.textContent = job.stopping ? W.stopping : W["state_" + job.state] || job.state;
    badge.className = "badge " + job.state;
    const plan = job.plan || {};
    $("plan-title").textContent = job.state === "planned" ? W.plan : W.plan_after;
    const figures = $("plan-figures");
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
    const same = job.same_file;
    $("same-file").hidden = !same || job.state !== "planned";
    if (same) {
      const when = new Date(same.created_at).toLocaleString(setup.lang);
      $("same-file").textContent = W.same_file + " (" + same.name + ", " + when + "): " + W.same_file_tail;
    }
    renderReuse(job, plan);
    renderColumn(job, plan);
    renderPreview(plan);
    renderProgress(job);
    showError($("job-error"), job.error);
    const active = job.state === "queued" || job.state === "running";
    $("start").hidden = job.state !== "planned";
    $("resume").hidden = job.state === "planned" || !job.can_start;
    $("stop").hidden = !active || job.stopping;
    $("delete").disabled = false;
    link($("download"), job.downloads.result);
    link($("download-problems"), job.downloads.problems);
  }

  function words(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key]));
  }

  function age(text) {
    // "7d" as the page's words: "7 days", "7 天"
    const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(String(text).trim());
    return m ? m[1] + W["unit_" + m[2].toLowerCase()] : String(text);
  }

  function renderReuse(job, plan) {
    const offer = plan.reuse_offer;
    const planned = job.state === "planned";
    $("reuse-offer").hidden = !offer || !planned;
    if (offer) {
      $("reuse-text").textContent = words(W.reuse_offer, { age: age(offer.max_age), numbers: offer.numbers, calls: offer.saved_calls });
    }
    $("reusing").hidden = !job.max_age;
    if (job.max_age) {
      $("reusing").textContent = words(W.reusing, { age: age(job.max_age), numbers: plan.reused || 0 });
    }
  }

  function link(a, href) {
    a.hidden = !href;
    if (href) a.href = href;
    else a.removeAttribute("href");
  }

  function renderColumn(job, plan) {
    const select = $("column");
    select.replaceChildren();
    for (const c of plan.candidates || []) {
      const name = c.name ? c.letter + " · " + c.name : c.letter;
      const valid = c.filled ? " (" + c.valid + "/" + c.filled + " " + W.valid + ")" : "";
      select.append(el("option", { value: c.column }, name + valid));
    }
    if (plan.column) select.value = plan.column.column;
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
    const rows = [el("thead", {}, head)];
    const body = el("tbody");
    for (const row of plan.preview || []) {
      const tr = el("tr", row.problem ? { class: "invalid" } : {}, el("td", {}, row.line));
      row.cells.forEach((cell, i) => {
        const attrs = i === col ? { class: "phone", title: row.problem || row.number || "" } : {};
        tr.append(el("td", attrs, cell));
      });
      body.append(tr);
    }
    rows.push(body);
    table.replaceChildren(...rows);
  }

  function renderProgress(job) {
    const box = $("progress-box");
    box.hidden = job.state === "planned";
    const bar = $("progress");
    bar.max = Math.max(job.total, 1);
    bar.value = job.done;
    const pct = job.total ? Math.floor((100 * job.done) / job.total) : 100;
    let text = W.progress + " " + job.done + " / " + job.total + " (" + pct + "%)";
    if (job.state === "finished" && job.done < job.total) text += " · " + (job.total - job.done) + " " + W.not_final;
    $("progress-text").textContent = text;
    const counts = $("counts");
    counts.replaceChildren();
    const order = ["live", "not_live", "unknown", "invalid", "not_final"];
    const rank = (status) => order.indexOf(setup.classes[status] || "not_final");
    const entries = Object.entries(job.counts || {}).sort((a, b) => rank(a[0]) - rank(b[0]) || b[1] - a[1]);
    for (const [status, n] of entries) {
      if (!n) continue;
      const cls = "chip " + (setup.classes[status] || "");
      counts.append(el("li", { class: cls, "data-status": status }, (setup.labels[status] || status) + " ", el("b", {}, n)));
    }
    const s = job.summary;
    const last = $("last-run");
    last.hidden = !s || job.state === "running" || job.state === "queued";
    if (s) {
      last.textContent = W.last_run + ": " + s.requests + " " + W.requests + ", " + s.billable_calls + " " + W.billable +
        (s.elapsed_seconds ? ", " + Math.round(s.elapsed_seconds) + " s" : "");
    }
  }

  async function act(path, method) {
    if (!current) return;
    showError($("job-error"), "");
    const buttons = ["start", "resume", "stop"].map($);
    buttons.forEach((b) => (b.disabled = true)); // one click, one request
    try {
      const job = await api(method || "POST", "/api/jobs/" + current.id + path);
      if (job) show(job);
    } catch (err) {
      showError($("job-error"), err.message);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  $("start").addEventListener("click", () => act("/start"));
  $("resume").addEventListener("click", () => act("/start"));
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
  $("column").addEventListener("change", () =>
    replan({ column: $("column").value, sheet: current.plan.sheet || "", ...kept() })
  );
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
    for (const job of doc.jobs) {
      const when = new Date(job.created_at).toLocaleString(setup.lang);
      const open = el("button", { type: "button", class: "quiet", "data-id": job.id }, W.open);
      open.addEventListener("click", () => api("GET", "/api/jobs/" + job.id).then(show, (err) => showError($("error"), err.message)));
      body.append(
        el(
          "tr",
          { "data-id": job.id },
          el("td", {}, job.name),
          el("td", {}, when),
          el("td", {}, el("span", { class: "badge " + job.state }, W["state_" + job.state] || job.state)),
          el("td", { class: "num" }, job.done + " / " + job.total),
          el("td", {}, open)
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
