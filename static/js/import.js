// Browser import: uploads the chosen files in small batches with a progress bar and lists
// each file's result. One request per batch keeps memory flat and shows progress per file.
"use strict";

(() => {
  const BATCH_BYTES = 64 * 1024 * 1024;
  const BATCH_FILES = 8;

  function batches(files) {
    const groups = [];
    let current = [];
    let size = 0;
    for (const file of files) {
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
    let done = 0;
    let batch = null;
    const button = form.querySelector("#import-start");
    button.disabled = true;
    try {
      for (const group of batches(files)) {
        const groupSize = group.reduce((sum, file) => sum + file.size, 0);
        const result = await send(form, group, batch, (fraction) => {
          bar.value = Math.round(((done + fraction * groupSize) / total) * 100);
          if (fraction >= 1) status.textContent = `${summary()} — processing ${group.length} file(s)…`;
        });
        done += groupSize;
        const ok = result.status === 200 && result.body && Array.isArray(result.body.outcomes);
        if (ok) batch = result.body.batch_id;
        const outcomes = ok ? result.body.outcomes : unknownGroup(group, result.status, result.body);
        for (const outcome of outcomes) {
          counts[outcome.status] = (counts[outcome.status] || 0) + 1;
          addRow(table, outcome);
        }
        bar.value = Math.round((done / total) * 100);
        status.textContent = summary();
        if (FATAL.has(result.status)) {
          status.textContent = `${summary()}. Stopped: ${outcomes[0].reason}`;
          break;
        }
      }
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
