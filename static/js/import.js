// Browser import: uploads the chosen files in small batches (one queued import: the later
// requests add to the first one's batch), then follows the batch while the job queue's
// workers import the files, listing each file's result as it comes. A zip goes alone in its
// request, so its members' results are named after it.
"use strict";

(() => {
  const BATCH_BYTES = 64 * 1024 * 1024;
  const BATCH_FILES = 8;

  const POLL_MS = 400;

  const isZip = (file) => file.name.toLowerCase().endsWith(".zip");

  function batches(files) {
    const groups = [];
    let current = [];
    let size = 0;
    for (const file of files) {
      if (isZip(file)) {
        // alone in its request (its members' positions follow each other: named after it),
        // after the files chosen before it
        if (current.length) groups.push(current);
        groups.push([file]);
        current = [];
        size = 0;
        continue;
      }
      if (current.length && (current.length >= BATCH_FILES || size + file.size > BATCH_BYTES)) {
        groups.push(current);
        current = [];
        size = 0;
      }
      current.push(file);
      size += file.size;
    }
    if (current.length) groups.push(current);
    return groups;
  }

  // batch: the import batch the upload's first request started (later requests add to it)
  function send(form, group, batch, onProgress) {
    return new Promise((resolve) => {
      const body = new FormData();
      for (const file of group) body.append("files", file, file.webkitRelativePath || file.name);
      if (batch) body.append("batch", String(batch));
      const request = new XMLHttpRequest();
      request.open("POST", form.dataset.endpoint);
      request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
      request.responseType = "json";
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      request.addEventListener("load", () => resolve({ status: request.status, body: request.response }));
      request.addEventListener("error", () => resolve({ status: 0, body: null }));
      request.send(body);
    });
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text || "";
    if (className) td.className = className;
    return td;
  }

  function addRow(table, outcome) {
    const row = document.createElement("tr");
    row.className = `import-${outcome.status}`;
    row.append(cell(outcome.name), cell(outcome.status.replace("_", " ")));
    const study = cell("");
    if (outcome.study_id) {
      const link = document.createElement("a");
      link.href = `/studies/${outcome.study_id}`;
      link.textContent = outcome.study_id.slice(0, 12);
      study.append(link);
    }
    // flags in words (the server's flag_texts), never their codes
    row.append(study, cell(outcome.reason || (outcome.flag_texts || []).join("; ")));
    table.tBodies[0].append(row);
  }

  // Folders carry files that are not images; the server skips them too.
  function isHousekeeping(file) {
    const name = file.name.toUpperCase();
    return name.startsWith(".") || name === "DICOMDIR" || name === "THUMBS.DB";
  }

  // The outcome of a batch whose answer never came is unknown: some files may be in.
  function unknownGroup(group, status, body) {
    const why = body?.error ? body.error.message : `no answer (HTTP ${status || "network error"})`;
    const reason = `Unknown: ${why}. Importing again is safe: what is already in is reported as such.`;
    return group.map((file) => ({ name: file.webkitRelativePath || file.name, status: "unknown", reason }));
  }

  // Answers that will not change for the next batch: stop and say why.
  const FATAL = new Set([401, 403, 413]);

  // A refusal of the form itself (nothing to import): said beside the form, focus on the input.
  function formError(form, text) {
    const box = form.querySelector("#import-form-error");
    box.textContent = text;
    box.hidden = !text;
    if (text) form.querySelector("#import-files").focus();
  }

  // The "Recent imports" table, fetched again once an import has ended.
  function refreshBatches() {
    if (!document.getElementById("batches") || !window.htmx) return;
    window.htmx.ajax("GET", "/import", { target: "#batches", select: "#batches", swap: "outerHTML" });
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Above this many files the batch is followed by its counts, and its outcomes are read
  // once at the end: each reply with every outcome so far would grow with the upload.
  const LIST_AS_THEY_COME = 200;

  async function progressOf(batch, outcomes = true) {
    try {
      const query = outcomes ? "" : "?outcomes=false";
      const response = await fetch(`/api/v1/imports/${batch}${query}`, { credentials: "same-origin" });
      return response.ok ? await response.json() : null;
    } catch {
      return null;
    }
  }

  async function run(form) {
    const chosen = [...form.querySelector("#import-files").files, ...form.querySelector("#import-folder").files];
    const files = chosen.filter((file) => !isHousekeeping(file));
    if (!chosen.length) {
      formError(form, "Choose files, zip archives or a folder to import first.");
      return;
    }
    if (!files.length) {
      formError(form, "None of the chosen files can hold an image (only folder housekeeping files).");
      return;
    }
    formError(form, "");
    const bar = document.getElementById("import-bar");
    const status = document.getElementById("import-status");
    const table = document.getElementById("import-results");
    document.getElementById("import-progress").hidden = false;
    table.hidden = false;
    table.tBodies[0].replaceChildren();
    const total = files.reduce((sum, file) => sum + file.size, 0) || 1;
    const counts = { imported: 0, already_present: 0, rejected: 0, unknown: 0 };
    const summary = () =>
      `${counts.imported} imported, ${counts.already_present} already present, ${counts.rejected} rejected` +
      (counts.unknown ? `, ${counts.unknown} unknown` : "");
    const show = (outcome) => {
      counts[outcome.status] = (counts[outcome.status] || 0) + 1;
      addRow(table, outcome);
    };
    // the upload's files by position in the batch (a zip's members: "archive.zip, file 3")
    const names = [];
    const shown = new Set();
    let sent = 0;
    let batch = null;
    let stopped = "";
    const button = form.querySelector("#import-start");
    button.disabled = true;
    // upload: the first 40 % of the bar; importing the rest
    const uploadShare = 40;
    try {
      for (const group of batches(files)) {
        const groupSize = group.reduce((sum, file) => sum + file.size, 0);
        const result = await send(form, group, batch, (fraction) => {
          bar.value = Math.round(((sent + fraction * groupSize) / total) * uploadShare);
        });
        sent += groupSize;
        const ok = result.status === 202 && result.body && Number.isInteger(result.body.files);
        if (!ok) {
          for (const outcome of unknownGroup(group, result.status, result.body)) show(outcome);
          if (FATAL.has(result.status)) {
            stopped = result.body?.error?.message || `HTTP ${result.status}`;
            break;
          }
          continue;
        }
        batch = result.body.batch_id;
        const added = result.body.files - names.length;
        if (group.length === 1 && isZip(group[0])) {
          const zip = group[0].webkitRelativePath || group[0].name;
          for (let k = 0; k < added; k++) names.push(`${zip}, file ${k + 1}`);
        } else {
          for (const file of group) names.push(file.webkitRelativePath || file.name);
        }
        status.textContent = `${summary()} — ${names.length} file(s) sent, importing…`;
      }
      bar.value = uploadShare;
      // follow the batch until every file has its outcome
      const asTheyCome = names.length <= Number(form.dataset.listLimit || LIST_AS_THEY_COME);
      while (batch !== null) {
        let progress = await progressOf(batch, asTheyCome);
        if (progress && !asTheyCome && progress.finished) progress = await progressOf(batch);
        if (progress && !asTheyCome && !progress.finished) {
          counts.imported = progress.imported;
          counts.already_present = progress.already_present;
          counts.rejected = progress.rejected;
        } else if (progress && !asTheyCome) {
          counts.imported = counts.already_present = counts.rejected = 0;
        }
        if (progress) {
          for (const outcome of progress.outcomes) {
            if (shown.has(outcome.position)) continue;
            shown.add(outcome.position);
            show({ ...outcome, name: names[outcome.position] || `file ${outcome.position + 1}` });
          }
          const share = progress.files ? progress.done / progress.files : 1;
          bar.value = Math.round(uploadShare + share * (100 - uploadShare));
          status.textContent = progress.finished
            ? summary()
            : `${summary()} — importing ${progress.done} of ${progress.files}…`;
          if (progress.finished && progress.done >= names.length) break;
        }
        await sleep(POLL_MS);
      }
      bar.value = 100;
      status.textContent = stopped ? `${summary()}. Stopped: ${stopped}` : summary();
    } finally {
      button.disabled = false;
      refreshBatches();
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.id !== "import-form") return;
    event.preventDefault();
    run(form);
  });
})();
