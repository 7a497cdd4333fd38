// MammoRead reading screen: the four-view viewer with boxes drawn on it, the per-breast
// BI-RADS / density form, the findings list and box editor, live hints, submit, and (for an
// arbitration) both blinded reads shown on the images. Needs common.js (window.MammoCommon)
// loaded first; mounts on `#reading[data-api]` (DOMContentLoaded, htmx:load, htmx:historyRestore).
//
// Never lose a mark:
//   * every change is saved as a draft (PUT {api}/draft), debounced 400 ms, one request in
//     flight at a time; the next save always sends the newest label with the newest version;
//   * an unsaved copy sits in localStorage under "mammoread:draft:<task>:<base version>" until
//     the server has it, and is restored on load when the server still has that version;
//   * a 409 version_conflict (another tab saved first) stops saving and asks the reader what to
//     do: nothing is overwritten silently; a 409 reassigned makes the screen read-only;
//   * network and server errors are retried with backoff while the page says "Not saved".
// Boxes are stored in each image's ORIGINAL, unflipped, full-resolution pixel grid: every
// screen <-> image conversion goes through the viewer's toImage / toScreen.
"use strict";

(function () {
  if (window.MammoReading) return;

  const SAVE_DELAY_MS = 400;
  const ACTIVITY_EVERY_MS = 15000;
  const IDLE_DISPLAY_MS = 60000;
  const RETRY_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  const NAVIGATION_WAIT_MS = 3000;
  const STORAGE_PREFIX = "mammoread:draft:";
  const UNDO_LIMIT = 100;
  const MIN_DRAW_PX = 4; // a smaller drag is a click, not a box
  const MOVE_THRESHOLD_PX = 3;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const BREASTS = [
    ["R", "Right breast"],
    ["L", "Left breast"],
  ];
  const BIRADS = [0, 1, 2, 3, 4, 5];
  const BIRADS_MEANING = {
    0: "incomplete",
    1: "negative",
    2: "benign",
    3: "probably benign",
    4: "suspicious",
    5: "highly suggestive of malignancy",
  };
  const DENSITIES = ["A", "B", "C", "D"];
  const DENSITY_MEANING = {
    A: "almost entirely fatty",
    B: "scattered fibroglandular",
    C: "heterogeneously dense",
    D: "extremely dense",
  };
  const FINDING_BIRADS = [3, 4, 5];

  // Shown in the help overlay; keep in step with Reading.onKey.
  const SHORTCUTS = [
    ["Assessment", [
      ["[", "Edit the right breast (shown on the left of the screen)"],
      ["]", "Edit the left breast (shown on the right of the screen)"],
      ["0 – 5", "BI-RADS of the breast being edited"],
      ["A B C D", "Density of the breast being edited"],
    ]],
    ["Boxes", [
      ["M", "Draw mode on / off (then drag on any view)"],
      ["Shift + drag", "Draw a box without draw mode"],
      ["Tab / Shift + Tab", "Next / previous box (outside the side panel)"],
      ["/", "Categories of the selected box: type to filter, Enter to toggle, 1–9 and 0 pick by number"],
      ["Shift + 3 / 4 / 5", "Finding BI-RADS of the selected box (again to clear)"],
      ["Delete / Backspace", "Delete the selected box"],
      ["Drag box / corner", "Move / resize the selected box"],
      ["Ctrl + Z / Ctrl + Y", "Undo / redo"],
    ]],
    ["Arbitration", [
      ["Shift + 1 / Shift + 2", "Show or hide reader 1's / reader 2's boxes"],
      ["T", "Take the selected reader box into your label"],
    ]],
    ["Case", [
      ["Ctrl + Enter", "Submit"],
      ["N", "Next case (after submitting)"],
      ["?", "This help"],
      ["Esc", "Close help, cancel drawing, leave draw mode, deselect, leave a text field"],
    ]],
    ["Viewer", [
      ["Wheel", "Zoom at the pointer"],
      ["Drag", "Pan (outside draw mode)"],
      ["Right-drag or Ctrl + drag", "Window / level"],
      ["P", "Next window preset"],
      ["I", "Invert"],
      ["R", "Reset window and zoom"],
      ["F", "Fit every view"],
      ["Z", "1:1 at the pointer"],
      ["+ / −", "Zoom the view under the pointer"],
      ["Arrows", "Pan the focused view"],
    ]],
  ];

  // --- small helpers ------------------------------------------------------------------------

  const { h, api, troubleText, isTextEntry, Screen, HelpOverlay, keepMounted } = window.MammoCommon;

  /** replaceChildren that skips null / false (conditional parts). */
  function fill(el, ...children) {
    el.replaceChildren(...children.flat(Infinity).filter((child) => child != null && child !== false));
    return el;
  }

  function svg(tag, attrs) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null) continue;
      if (key === "text") el.textContent = value;
      else el.setAttribute(key, String(value));
    }
    return el;
  }

  function clamp(value, low, high) {
    return value < low ? low : value > high ? high : value;
  }

  function newBoxId(taken) {
    let id;
    do {
      id = `b${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    } while (taken.has(id));
    return id;
  }

  function normaliseBreast(value) {
    const breast = value && typeof value === "object" ? value : {};
    return {
      birads: BIRADS.includes(breast.birads) ? breast.birads : null,
      density: DENSITIES.includes(breast.density) ? breast.density : null,
    };
  }

  function normaliseBox(box) {
    return {
      id: String(box.id),
      image_id: String(box.image_id),
      xmin: Number(box.xmin),
      ymin: Number(box.ymin),
      xmax: Number(box.xmax),
      ymax: Number(box.ymax),
      categories: Array.isArray(box.categories) ? box.categories.map(String) : [],
      birads: box.birads == null ? null : Number(box.birads),
    };
  }

  /** A label with exactly the keys the server accepts. */
  function normaliseLabel(raw) {
    const label = raw && typeof raw === "object" ? raw : {};
    const breasts = label.breasts && typeof label.breasts === "object" ? label.breasts : {};
    return {
      breasts: { R: normaliseBreast(breasts.R), L: normaliseBreast(breasts.L) },
      boxes: Array.isArray(label.boxes) ? label.boxes.filter((b) => b && typeof b === "object").map(normaliseBox) : [],
      note: typeof label.note === "string" ? label.note : "",
    };
  }

  function formatDuration(seconds) {
    const total = Math.max(0, Math.round(seconds));
    const minutes = Math.floor(total / 60);
    const rest = String(total % 60).padStart(2, "0");
    return minutes >= 60 ? `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min` : `${minutes}:${rest}`;
  }

  /** The server calls the two reads A and B (slot 1 and 2); the screen says reader 1 and 2. */
  function readerNames(text) {
    return text.replace(/\breader ([AB])\b/g, (_, letter) => `reader ${letter === "A" ? 1 : 2}`);
  }

  function birradsText(value) {
    return value == null ? "–" : String(value);
  }

  // --- local copies of unsaved work ---------------------------------------------------------

  const local = {
    key(taskId, version) {
      return `${STORAGE_PREFIX}${taskId}:${version}`;
    },
    entries(taskId) {
      const found = [];
      try {
        const prefix = `${STORAGE_PREFIX}${taskId}:`;
        for (let i = 0; i < localStorage.length; i++) {
          const key = localStorage.key(i);
          if (!key || !key.startsWith(prefix)) continue;
          try {
            const value = JSON.parse(localStorage.getItem(key));
            if (value && value.label) found.push({ key, version: Number(value.version), label: value.label, at: Number(value.at) || 0 });
          } catch (error) {
            // a damaged copy is ignored
          }
        }
      } catch (error) {
        // storage unavailable (privacy mode): the server copy is all there is
      }
      return found.sort((a, b) => b.at - a.at);
    },
    write(taskId, version, label) {
      try {
        const key = this.key(taskId, version);
        for (const entry of this.entries(taskId)) if (entry.key !== key) localStorage.removeItem(entry.key);
        localStorage.setItem(key, JSON.stringify({ version, label, at: Date.now() }));
        return true;
      } catch (error) {
        return false;
      }
    },
    clear(taskId) {
      try {
        for (const entry of this.entries(taskId)) localStorage.removeItem(entry.key);
      } catch (error) {
        // nothing to clear
      }
    },
  };

  // --- the reading screen -------------------------------------------------------------------

  let current = null; // the mounted Reading, if any

  class Reading extends Screen {
    constructor(root) {
      super(root);
      this.apiUrl = root.dataset.api;
      this.taskId = root.dataset.taskId;
      this.nextUrl = root.dataset.next || "/reading/next";
      this.worklistUrl = root.dataset.worklist || "/reading";
      this.kind = root.dataset.kind === "arbitrate" ? "arbitrate" : "read";
      this.label = null;
      this.version = 0;
      this.status = "";
      this.readOnly = true;
      this.images = new Map(); // image_id -> {laterality, view, columns, rows, name}
      this.vocabulary = [];
      this.graded = new Set();
      this.otherReads = new Map(); // slot -> label
      this.discordances = [];
      this.highlighted = new Set(); // "slot:boxId"
      this.show = { 1: true, 2: true };
      this.hints = [];
      this.violations = [];
      this.generalMessages = [];
      this.selected = null; // {owner: "own" | 1 | 2, id}
      this.activeLat = "R";
      this.drawMode = false;
      this.drag = null;
      this.undoStack = [];
      this.redoStack = [];
      // saving
      this.dirty = false;
      this.editSeq = 0;
      this.inFlight = null;
      this.saveTimer = 0;
      this.retryTimer = 0;
      this.retryIndex = 0;
      this.saveError = "";
      this.blocked = null; // "conflict" | "reassigned" | "submitted" | "gone"
      this.submitting = false;
      this.submitted = null;
      // time
      this.activeSeconds = 0;
      this.syncedAt = Date.now();
      this.lastInteraction = Date.now();
      this.lastTouch = Date.now();
      this.clock = 0;
      this.overlays = new Map(); // image_id -> svg
    }

    destroy() {
      if (this.destroyed) return;
      this.destroyed = true;
      clearTimeout(this.saveTimer);
      clearTimeout(this.retryTimer);
      clearInterval(this.clock);
      for (const cleanup of this.cleanups) cleanup();
      if (this.viewer) this.viewer.destroy();
      if (current === this) current = null;
    }

    // loading -----------------------------------------------------------------------------

    async start() {
      this.root.replaceChildren(h("p", { class: "muted rd-loading", text: "Loading the case…" }));
      this.root.dataset.state = "loading";
      const result = await api("GET", this.apiUrl);
      if (!this.alive()) return;
      if (!result.ok) {
        this.root.dataset.state = "error";
        const message =
          result.error.code === "reassigned"
            ? result.error.message
            : `This case could not be opened: ${result.error.message}`;
        this.root.replaceChildren(
          h("div", { class: "alert alert-error", role: "alert" }, h("p", { text: message })),
          h("p", {}, h("a", { href: this.worklistUrl, text: "Back to the worklist" })),
        );
        return;
      }
      this.load(result.data);
      this.build(result.data);
      this.restoreLocal(result.data);
      this.renderAll();
    }

    load(detail) {
      this.kind = detail.kind === "arbitrate" ? "arbitrate" : "read";
      this.label = normaliseLabel(detail.draft);
      this.version = detail.version;
      this.status = detail.status;
      this.readOnly = detail.status === "submitted";
      this.activeSeconds = Number(detail.active_seconds) || 0;
      this.syncedAt = Date.now();
      this.images.clear();
      for (const image of detail.images || []) {
        const laterality = String(image.laterality || "").toUpperCase();
        const view = String(image.view || "").toUpperCase();
        this.images.set(image.image_id, {
          laterality: laterality === "R" || laterality === "L" ? laterality : null,
          view,
          columns: image.columns,
          rows: image.rows,
          name: `${laterality || "?"} ${view || "?"}`,
        });
      }
      this.vocabulary = (detail.vocabulary || []).filter((c) => c && c.name);
      this.graded = new Set(this.vocabulary.filter((c) => c.graded).map((c) => c.name));
      this.otherReads.clear();
      for (const read of detail.other_reads || []) this.otherReads.set(read.slot, normaliseLabel(read.label));
      this.discordances = detail.discordances || [];
      this.highlighted.clear();
      for (const d of this.discordances) {
        const slots = d.reader === 1 || d.reader === 2 ? [d.reader] : [1, 2];
        for (const id of d.box_ids || []) for (const slot of slots) this.highlighted.add(`${slot}:${id}`);
      }
      this.detail = detail;
    }

    /** The local copy of unsaved work, if the server has not got it. */
    restoreLocal(detail) {
      if (this.readOnly) {
        local.clear(this.taskId);
        return;
      }
      const serverJson = JSON.stringify(this.label);
      for (const entry of local.entries(this.taskId)) {
        const copy = normaliseLabel(entry.label);
        if (JSON.stringify(copy) === serverJson) {
          local.clear(this.taskId);
          return;
        }
        if (entry.version === detail.version) {
          this.label = copy;
          this.dirty = true;
          this.editSeq++;
          this.notice("Restored changes from this browser that had not reached the server; saving them now.");
          this.scheduleSave(0);
          return;
        }
        // Based on an older version: the server moved on (another tab). Ask, never overwrite.
        const when = entry.at ? new Date(entry.at).toLocaleString() : "earlier";
        this.banner(
          "warn",
          `This browser holds changes to this case that never reached the server (made ${when}), ` +
            "but the case has been saved since from elsewhere. Use them instead of the saved version?",
          [
            ["Use the changes from this browser", () => {
              this.clearBanner();
              this.change(() => {
                this.label = copy;
              });
            }],
            ["Discard them", () => {
              local.clear(this.taskId);
              this.clearBanner();
            }],
          ],
        );
        return;
      }
    }

    // building the page --------------------------------------------------------------------

    build(detail) {
      const arbitration = this.kind === "arbitrate";
      this.root.replaceChildren();
      this.root.classList.add("rd");
      this.root.classList.toggle("rd-arbitration", arbitration);
      this.root.dataset.state = "loading";

      this.bannerEl = h("div", { class: "rd-banners", "aria-live": "assertive" });
      this.viewerEl = h("div", { class: "mr-viewer rd-viewer", id: "reading-viewer", "aria-label": "The four views" });
      this.modeEl = h("div", { class: "rd-mode", role: "status", "aria-live": "polite" });
      const stage = h("section", { class: "rd-stage", "aria-label": "Images" }, this.viewerEl, this.modeEl);

      // header: what, save state, time, help
      this.saveEl = h("span", { class: "rd-save", role: "status", "aria-live": "polite" });
      this.timeEl = h("span", { class: "rd-time", title: "Active reading time, measured on the server" });
      const heading = h(
        "div",
        { class: "rd-head" },
        h("h1", { class: "rd-title" },
          h("span", { text: arbitration ? "Arbitration" : "Read" }),
          h("span", { class: "muted rd-case", text: ` · ${detail.project_name} · ${String(detail.study_id).slice(0, 12)}` })),
        h("div", { class: "rd-status-row" }, this.saveEl, this.timeEl,
          h("button", { type: "button", class: "btn btn-small btn-quiet rd-help-button", "aria-keyshortcuts": "?", on: { click: () => this.help.toggle(true) } }, "Keys ", h("kbd", { text: "?" }))),
      );

      // tools
      this.drawButton = h("button", {
        type: "button",
        class: "btn btn-small rd-draw-toggle",
        "aria-pressed": "false",
        "aria-keyshortcuts": "M",
        on: { click: () => this.setDrawMode(!this.drawMode) },
      }, "Draw boxes ", h("kbd", { text: "M" }));
      const tools = h("div", { class: "rd-tools" }, this.drawButton);
      this.readerToggles = {};
      if (arbitration) {
        for (const slot of [1, 2]) {
          const box = h("input", { type: "checkbox", checked: true, on: { change: (e) => this.setShown(slot, e.target.checked) } });
          box.checked = true;
          this.readerToggles[slot] = box;
          tools.append(h("label", { class: `rd-reader-toggle rd-reader-${slot}` }, box, h("span", { class: "rd-swatch", "aria-hidden": "true" }), ` Reader ${slot} `, h("kbd", { text: `⇧${slot}` })));
        }
      }

      const side = h("aside", { class: "rd-side", "aria-label": arbitration ? "Arbitration form" : "Reading form" }, heading, tools);
      this.side = side;
      if (detail.instructions) {
        side.append(h("details", { class: "rd-instructions" }, h("summary", { text: "Instructions" }), h("p", { text: detail.instructions })));
      }
      if (arbitration) side.append(this.buildDiscordances());
      side.append(this.buildBreasts(arbitration));
      this.findingsEl = h("section", { class: "rd-section rd-findings", "aria-label": "Findings" });
      this.editorEl = h("section", { class: "rd-section rd-editor", "aria-label": "Selected box" });
      side.append(this.findingsEl, this.editorEl);
      if (arbitration) {
        this.readerListsEl = h("section", { class: "rd-section rd-reader-lists", "aria-label": "The readers' boxes" });
        side.append(this.readerListsEl);
      }
      this.noteEl = h("textarea", {
        id: "rd-note",
        class: "rd-note",
        rows: "3",
        maxlength: "10000",
        on: { input: (e) => this.change(() => { this.label.note = e.target.value; }, { coalesce: "note" }) },
      });
      side.append(h("section", { class: "rd-section" }, h("label", { for: "rd-note", text: "Note" }), this.noteEl, this.msgs("note")));

      this.submitButton = h("button", {
        type: "button",
        class: "btn btn-primary btn-block rd-submit",
        "aria-keyshortcuts": "Control+Enter",
        on: { click: () => this.submit() },
      }, arbitration ? "Submit arbitration " : "Submit read ", h("kbd", { text: "Ctrl+Enter" }));
      this.resultEl = h("div", { class: "rd-result", role: "status", "aria-live": "polite", hidden: true });
      side.append(h("section", { class: "rd-section rd-submit-area" }, this.msgs(""), this.submitButton, this.resultEl));

      this.help = new HelpOverlay({
        prefix: "rd",
        groups: SHORTCUTS.filter(([title]) => title !== "Arbitration" || this.kind === "arbitrate"),
        intro: "Keys work whenever the cursor is not in the note or another text field.",
      });
      const layout = h("div", { class: "rd-layout" }, stage, side);
      this.root.append(this.bannerEl, layout, this.help.element);

      this.mountViewer(detail.images || []);
      this.listen();
      this.clock = setInterval(() => this.renderTime(), 1000);
      if (this.readOnly) this.showSubmittedState();
    }

    msgs(field) {
      return h("div", { class: "rd-msgs", "data-field": field });
    }

    buildBreasts(arbitration) {
      const section = h("section", { class: "rd-section rd-breasts", "aria-label": "Breast assessment" });
      this.breastEls = {};
      for (const [lat, name] of BREASTS) {
        const birads = BIRADS.map((value) =>
          h("button", {
            type: "button",
            class: "rd-choice",
            "data-value": value,
            "aria-pressed": "false",
            title: `BI-RADS ${value}: ${BIRADS_MEANING[value]}`,
            on: { click: () => this.setBreast(lat, "birads", value) },
          }, String(value)));
        const density = DENSITIES.map((value) =>
          h("button", {
            type: "button",
            class: "rd-choice",
            "data-value": value,
            "aria-pressed": "false",
            title: `Density ${value}: ${DENSITY_MEANING[value]}`,
            on: { click: () => this.setBreast(lat, "density", value) },
          }, value));
        const biradsGroup = h("div", { class: "rd-choices rd-birads", role: "group", "aria-label": `${name} BI-RADS` }, birads);
        const densityGroup = h("div", { class: "rd-choices rd-density", role: "group", "aria-label": `${name} density` }, density);
        const readers = h("div", { class: "rd-reader-values" });
        const fieldset = h(
          "fieldset",
          { class: "rd-breast", "data-lat": lat, on: { pointerdown: () => this.setActive(lat) } },
          h("legend", {}, h("span", { text: name }), h("kbd", { class: "rd-lat-key", text: lat === "R" ? "[" : "]" }), h("span", { class: "rd-editing", text: "editing" })),
          h("div", { class: "rd-row" }, h("span", { class: "rd-row-label", text: "BI-RADS" }), biradsGroup),
          this.msgs(`breasts.${lat}.birads`),
          h("div", { class: "rd-row" }, h("span", { class: "rd-row-label", text: "Density" }), densityGroup),
          this.msgs(`breasts.${lat}.density`),
          arbitration ? readers : null,
          this.msgs(`breasts.${lat}`),
        );
        section.append(fieldset);
        this.breastEls[lat] = { fieldset, birads, density, biradsGroup, densityGroup, readers };
      }
      return section;
    }

    buildDiscordances() {
      const list = h("ul", { class: "rd-discordances" });
      for (const d of this.discordances) {
        const kind = d.kind === "birads" ? "BI-RADS" : d.kind === "density" ? "Density" : "Finding";
        list.append(h("li", { class: `rd-discordance rd-discordance-${d.kind}` },
          h("button", {
            type: "button",
            class: "rd-link",
            on: { click: () => this.showDiscordance(d) },
          }, h("span", { class: "badge badge-warn", text: kind }), " ", readerNames(d.detail || ""))));
      }
      if (!this.discordances.length) list.append(h("li", { class: "muted", text: "No discordance recorded." }));
      return h("section", { class: "rd-section rd-discordance-list", "aria-label": "Discordances" },
        h("h2", { text: `Discordances (${this.discordances.length})` }), list);
    }

    mountViewer(images) {
      if (!window.MammoViewer) {
        this.viewerEl.textContent = "The image viewer did not load.";
        return;
      }
      this.viewer = window.MammoViewer.mount(this.viewerEl, {
        images,
        layout: "four",
        tool: "pan",
        onReady: () => {
          if (!this.alive()) return;
          this.root.dataset.state = "ready";
          this.drawOverlays();
        },
        onViewChange: (imageId) => {
          if (!this.destroyed) this.drawOverlay(imageId);
        },
      });
      for (const pane of this.viewerEl.querySelectorAll(".mr-pane[data-image-id]")) {
        const overlay = svg("svg", { class: "rd-overlay", "aria-hidden": "true" });
        const canvas = pane.querySelector("canvas");
        if (canvas) canvas.after(overlay);
        else pane.append(overlay);
        this.overlays.set(pane.dataset.imageId, overlay);
      }
    }

    listen() {
      // Capture phase on the viewer: a box gesture never reaches the viewer's pan handler.
      this.on(this.viewerEl, "pointerdown", (e) => this.onPointerDown(e), true);
      this.on(window, "pointermove", (e) => this.onPointerMove(e));
      this.on(window, "pointerup", (e) => this.onPointerUp(e, false));
      this.on(window, "pointercancel", (e) => this.onPointerUp(e, true));
      this.on(this.viewerEl, "wheel", () => this.interacted(), { passive: true });
      this.on(this.viewerEl, "pointerdown", () => this.interacted(), { passive: true });
      this.on(this.side, "pointerdown", () => this.interacted(), { passive: true });
    }

    // rendering ----------------------------------------------------------------------------

    renderAll() {
      if (!this.label || !this.breastEls) return;
      const focus = this.focusToken();
      this.renderBreasts();
      this.renderFindings();
      this.renderEditor();
      this.renderReaderLists();
      if (document.activeElement !== this.noteEl && this.noteEl.value !== this.label.note) this.noteEl.value = this.label.note;
      this.noteEl.readOnly = this.readOnly;
      this.renderMessages();
      this.renderSave();
      this.renderTime();
      this.renderMode();
      this.drawOverlays();
      this.root.classList.toggle("rd-readonly", this.readOnly);
      this.submitButton.disabled = this.readOnly || this.submitting || Boolean(this.blocked);
      if (focus && !this.side.contains(document.activeElement)) {
        const again = this.side.querySelector(focus);
        if (again && !again.disabled) again.focus({ preventScroll: true });
      }
    }

    /** A selector for the focused side-panel control that survives a re-render of its list. */
    focusToken() {
      const el = document.activeElement;
      if (!(el instanceof Element) || !this.side || !this.side.contains(el)) return null;
      const row = el.closest(".rd-finding");
      const own = [...el.classList].find((c) => c.startsWith("rd-"));
      if (row && own) {
        const slot = row.dataset.slot ? `[data-slot="${row.dataset.slot}"]` : ":not([data-slot])";
        return `.rd-finding[data-box-id="${CSS.escape(row.dataset.boxId)}"]${slot} .${own}`;
      }
      const category = el.closest(".rd-category");
      if (category) return `.rd-category[data-name="${CSS.escape(category.dataset.name)}"] input`;
      if (el.closest(".rd-finding-grade") && el.dataset.value) return `.rd-finding-grade button[data-value="${el.dataset.value}"]`;
      return null;
    }

    renderBreasts() {
      const discordant = {};
      for (const d of this.discordances) {
        if (d.laterality && (d.kind === "birads" || d.kind === "density")) {
          (discordant[d.laterality] = discordant[d.laterality] || new Set()).add(d.kind);
        }
      }
      for (const [lat] of BREASTS) {
        const els = this.breastEls[lat];
        const value = this.label.breasts[lat];
        els.fieldset.classList.toggle("rd-active", this.activeLat === lat);
        for (const button of els.birads) {
          button.setAttribute("aria-pressed", String(Number(button.dataset.value) === value.birads));
          button.disabled = this.readOnly;
        }
        for (const button of els.density) {
          button.setAttribute("aria-pressed", String(button.dataset.value === value.density));
          button.disabled = this.readOnly;
        }
        const kinds = discordant[lat] || new Set();
        els.biradsGroup.classList.toggle("rd-discordant", kinds.has("birads"));
        els.densityGroup.classList.toggle("rd-discordant", kinds.has("density"));
        if (this.kind === "arbitrate") this.renderReaderValues(lat, kinds);
      }
    }

    renderReaderValues(lat, kinds) {
      const els = this.breastEls[lat];
      const rows = [];
      for (const slot of [1, 2]) {
        const read = this.otherReads.get(slot);
        if (!read) continue;
        const value = read.breasts[lat];
        rows.push(h("div", { class: `rd-reader-value rd-reader-${slot}` },
          h("span", { class: "rd-swatch", "aria-hidden": "true" }),
          h("span", { class: "rd-reader-name", text: `Reader ${slot}` }),
          h("span", { class: kinds.has("birads") ? "rd-flag" : "", text: `BI-RADS ${birradsText(value.birads)}` }),
          h("span", { class: kinds.has("density") ? "rd-flag" : "", text: `density ${value.density || "–"}` }),
          h("button", {
            type: "button",
            class: "btn btn-small rd-take-breast",
            disabled: this.readOnly,
            "aria-label": `Take reader ${slot}'s breast labels (${lat === "R" ? "right" : "left"} breast)`,
            title: `Take reader ${slot}'s BI-RADS and density for the ${lat === "R" ? "right" : "left"} breast`,
            on: { click: () => this.takeBreast(slot, lat) },
          }, "Take")));
      }
      fill(els.readers, ...rows);
    }

    boxNumber(box) {
      return this.label.boxes.indexOf(box) + 1;
    }

    describeBox(box) {
      const image = this.images.get(box.image_id);
      const parts = [image ? image.name : "unknown image"];
      parts.push(box.categories.length ? box.categories.join(" + ") : "no category yet");
      if (box.birads != null) parts.push(`BI-RADS ${box.birads}`);
      return parts;
    }

    renderFindings() {
      const boxes = this.label.boxes;
      const list = h("ol", { class: "rd-finding-list" });
      boxes.forEach((box, index) => {
        const selected = this.isSelected("own", box.id);
        const [where, what, grade] = this.describeBox(box);
        const row = h("li", { class: `rd-finding${selected ? " rd-selected" : ""}`, "data-box-id": box.id },
          h("div", { class: "rd-finding-row" },
            h("button", {
              type: "button",
              class: "rd-finding-select",
              "aria-pressed": String(selected),
              on: { click: () => this.select({ owner: "own", id: box.id }) },
            },
            h("span", { class: "rd-num", text: String(index + 1) }),
            h("span", { class: "rd-where", text: where }),
            h("span", { class: "rd-what", text: what }),
            grade ? h("span", { class: "rd-grade", text: grade }) : null),
            h("button", {
              type: "button",
              class: "btn btn-small btn-quiet rd-delete",
              "aria-label": `Delete box ${index + 1}`,
              title: "Delete (Delete key)",
              disabled: this.readOnly,
              on: { click: () => this.deleteBox(box.id) },
            }, "✕")),
          this.msgs(`boxes.${box.id}`));
        list.append(row);
      });
      const empty = boxes.length ? null : h("p", { class: "muted rd-empty", text: "No boxes. Press M (or Shift + drag) to draw one on any view." });
      fill(this.findingsEl, h("h2", { text: `Findings (${boxes.length})` }), empty, boxes.length ? list : null);
    }

    renderEditor() {
      const box = this.selectedOwnBox();
      if (!box) {
        this.editorEl.hidden = true;
        this.editorEl.replaceChildren();
        this.filterEl = null;
        return;
      }
      this.editorEl.hidden = false;
      const number = this.boxNumber(box);
      const image = this.images.get(box.image_id);
      const focusedFilter = this.filterEl && document.activeElement === this.filterEl;
      const filterValue = this.filterEl ? this.filterEl.value : "";
      this.filterEl = h("input", {
        type: "search",
        class: "rd-filter",
        placeholder: "Filter categories (/)",
        "aria-label": "Filter categories; Enter toggles the first match",
        "aria-keyshortcuts": "/",
        disabled: this.readOnly,
        on: {
          input: () => this.applyFilter(),
          keydown: (e) => this.onFilterKey(e),
        },
      });
      this.filterEl.value = filterValue;
      const options = this.vocabulary.map((category, index) => {
        const input = h("input", {
          type: "checkbox",
          disabled: this.readOnly,
          on: { change: () => this.toggleCategory(category.name) },
        });
        input.checked = box.categories.includes(category.name);
        const key = index < 10 ? String((index + 1) % 10) : "";
        return h("label", { class: `rd-category${input.checked ? " rd-checked" : ""}`, "data-name": category.name },
          input, h("span", { class: "rd-cat-key", text: key }), h("span", { text: category.name }),
          category.graded ? null : h("span", { class: "rd-assoc", text: "associated" }));
      });
      const graded = box.categories.some((name) => this.graded.has(name));
      const grades = FINDING_BIRADS.map((value) =>
        h("button", {
          type: "button",
          class: "rd-choice",
          "data-value": value,
          "aria-pressed": String(box.birads === value),
          disabled: this.readOnly,
          title: `Finding BI-RADS ${value}: ${BIRADS_MEANING[value]} (Shift + ${value})`,
          on: { click: () => this.setFindingBirads(value) },
        }, String(value)));
      fill(
        this.editorEl,
        h("h2", {}, `Box ${number}`, h("span", { class: "muted", text: ` · ${image ? image.name : "unknown image"}` })),
        this.filterEl,
        h("div", { class: "rd-categories", role: "group", "aria-label": "Categories" }, options),
        this.msgs(`boxes.${box.id}.categories`),
        graded
          ? h("div", { class: "rd-row rd-finding-grade" }, h("span", { class: "rd-row-label", text: "Finding BI-RADS" }),
            h("div", { class: "rd-choices", role: "group", "aria-label": "Finding BI-RADS" }, grades))
          : h("p", { class: "muted rd-grade-note", text: "A finding BI-RADS is asked for once a graded lesion category is chosen." }),
        this.msgs(`boxes.${box.id}.birads`),
      );
      this.applyFilter();
      if (focusedFilter) this.filterEl.focus();
    }

    renderReaderLists() {
      if (!this.readerListsEl) return;
      const parts = [h("h2", { text: "The readers' boxes" })];
      for (const slot of [1, 2]) {
        const read = this.otherReads.get(slot);
        const boxes = read ? read.boxes : [];
        const list = h("ol", { class: `rd-finding-list rd-reader-${slot}` });
        boxes.forEach((box, index) => {
          const selected = this.isSelected(slot, box.id);
          const hot = this.highlighted.has(`${slot}:${box.id}`);
          const [where, what, grade] = this.describeBox(box);
          list.append(h("li", { class: `rd-finding${selected ? " rd-selected" : ""}${hot ? " rd-hot" : ""}`, "data-box-id": box.id, "data-slot": slot },
            h("div", { class: "rd-finding-row" },
              h("button", { type: "button", class: "rd-finding-select", "aria-pressed": String(selected), on: { click: () => this.select({ owner: slot, id: box.id }) } },
                h("span", { class: "rd-num", text: `${slot}·${index + 1}` }),
                h("span", { class: "rd-where", text: where }),
                h("span", { class: "rd-what", text: what }),
                grade ? h("span", { class: "rd-grade", text: grade }) : null,
                hot ? h("span", { class: "badge badge-warn", text: "discordant" }) : null),
              h("button", {
                type: "button",
                class: "btn btn-small rd-take",
                disabled: this.readOnly,
                title: "Copy this box into your label (T)",
                on: { click: () => this.takeBox(slot, box.id) },
              }, "Take"))));
        });
        parts.push(h("h3", { class: `rd-reader-head rd-reader-${slot}` }, h("span", { class: "rd-swatch", "aria-hidden": "true" }), `Reader ${slot} (${boxes.length})`));
        parts.push(boxes.length ? list : h("p", { class: "muted", text: "No boxes." }));
      }
      fill(this.readerListsEl, ...parts);
    }

    /** Every message next to its field: submit violations (errors) over live hints. */
    renderMessages() {
      if (!this.root.isConnected) return;
      const containers = new Map();
      for (const el of this.root.querySelectorAll(".rd-msgs")) {
        el.replaceChildren();
        containers.set(el.dataset.field, el);
      }
      const shown = new Set();
      const place = (item, kind) => {
        let field = String(item.field || "");
        let target = containers.get(field);
        while (!target && field) {
          field = field.includes(".") ? field.slice(0, field.lastIndexOf(".")) : "";
          target = containers.get(field);
        }
        if (!target) return;
        const key = `${item.field}|${item.message}`;
        if (shown.has(key)) return;
        shown.add(key);
        const severity = kind === "violation" ? "error" : item.severity === "warning" ? "warning" : "hint";
        target.append(h("p", { class: `rd-msg rd-msg-${severity}`, "data-for": item.field, text: item.message }));
      };
      for (const v of this.violations) place(v, "violation");
      for (const hint of this.hints) if (!this.violations.some((v) => v.field === hint.field)) place(hint, "hint");
      for (const message of this.generalMessages) place({ field: "", message: message.text, severity: message.severity }, message.severity === "error" ? "violation" : "hint");
      for (const [field, el] of containers) {
        el.hidden = !el.childElementCount;
        const group = field.startsWith("breasts.") ? this.root.querySelector(`.rd-breast[data-lat="${field.split(".")[1]}"]`) : null;
        if (group && field.split(".").length === 2) group.classList.toggle("rd-invalid", this.violations.some((v) => v.field.startsWith(field)));
      }
    }

    renderSave() {
      let state;
      let text;
      if (this.submitted || this.status === "submitted") {
        state = "saved";
        text = "Submitted";
      } else if (this.blocked === "conflict") {
        state = "error";
        text = "Not saved: changed in another tab";
      } else if (this.blocked) {
        state = "error";
        text = "Not saved: editing is closed";
      } else if (this.saveError) {
        state = "error";
        text = `Not saved: ${this.saveError}`;
      } else if (this.inFlight || this.saveTimer) {
        state = "saving";
        text = "Saving…";
      } else if (this.dirty) {
        state = "error";
        text = "Not saved";
      } else {
        state = "saved";
        text = "Saved";
      }
      this.saveEl.dataset.save = state;
      if (this.saveEl.textContent !== text) this.saveEl.textContent = text;
    }

    renderTime() {
      if (!this.alive() || !this.timeEl) return;
      const now = Date.now();
      let seconds = this.activeSeconds;
      if (!this.readOnly) {
        // Tick between server updates while the reader is active (the server has the truth).
        const idleMs = ((this.detail && this.detail.idle_limit_seconds) || IDLE_DISPLAY_MS / 1000) * 1000;
        const activeUntil = Math.min(now, this.lastInteraction + idleMs);
        seconds += Math.max(0, activeUntil - this.syncedAt) / 1000;
      }
      this.timeEl.textContent = `Reading time ${formatDuration(seconds)}`;
    }

    renderMode() {
      this.drawButton.setAttribute("aria-pressed", String(this.drawMode));
      this.drawButton.disabled = this.readOnly;
      this.viewerEl.classList.toggle("rd-drawing", this.drawMode);
      const parts = [];
      if (this.drawMode) parts.push("Draw mode: drag on a view to draw a box · M or Esc to leave");
      this.modeEl.textContent = parts.join(" ");
      this.modeEl.hidden = !parts.length;
    }

    // overlays -------------------------------------------------------------------------------

    drawOverlays() {
      for (const imageId of this.overlays.keys()) this.drawOverlay(imageId);
    }

    drawOverlay(imageId) {
      const overlay = this.overlays.get(imageId);
      if (!overlay || !this.viewer || !this.label) return;
      const frame = overlay.getBoundingClientRect();
      if (frame.width < 1) return;
      const items = [];
      for (const slot of [1, 2]) {
        const read = this.otherReads.get(slot);
        if (!read || !this.show[slot]) continue;
        read.boxes.forEach((box, index) => {
          if (box.image_id === imageId) items.push({ owner: slot, box, tag: `${slot}·${index + 1}` });
        });
      }
      this.label.boxes.forEach((box, index) => {
        if (box.image_id === imageId) items.push({ owner: "own", box, tag: String(index + 1) });
      });
      const children = [];
      for (const item of items) {
        const group = this.boxGraphic(imageId, frame, item);
        if (group) children.push(group);
      }
      const drag = this.drag;
      if (drag && drag.mode === "draw" && drag.imageId === imageId && drag.rect) {
        const group = this.boxGraphic(imageId, frame, { owner: "draft", box: drag.rect, tag: "" });
        if (group) children.push(group);
      }
      overlay.replaceChildren(...children);
    }

    screenRect(imageId, frame, box) {
      const a = this.viewer.toScreen(imageId, box.xmin, box.ymin);
      const b = this.viewer.toScreen(imageId, box.xmax, box.ymax);
      if (!a || !b) return null;
      const x = Math.min(a.clientX, b.clientX) - frame.left;
      const y = Math.min(a.clientY, b.clientY) - frame.top;
      return { x, y, w: Math.abs(b.clientX - a.clientX), h: Math.abs(b.clientY - a.clientY) };
    }

    boxGraphic(imageId, frame, item) {
      const { owner, box, tag } = item;
      const r = this.screenRect(imageId, frame, box);
      if (!r) return null;
      const selected = owner !== "draft" && this.isSelected(owner, box.id);
      const hot = owner !== "own" && owner !== "draft" && this.highlighted.has(`${owner}:${box.id}`);
      const kind = owner === "own" ? "rd-own" : owner === "draft" ? "rd-draft" : `rd-r${owner}`;
      const group = svg("g", {
        class: `rd-box ${kind}${selected ? " rd-selected" : ""}${hot ? " rd-hot" : ""}`,
        "data-box-id": owner === "draft" ? null : box.id,
        "data-owner": owner === "draft" ? null : String(owner),
      });
      const geometry = { x: r.x, y: r.y, width: Math.max(r.w, 1), height: Math.max(r.h, 1) };
      if (owner !== "draft") group.append(svg("rect", { class: "rd-hit", ...geometry }));
      if (hot) group.append(svg("rect", { class: "rd-halo", ...geometry }));
      group.append(svg("rect", { class: "rd-line", ...geometry }));
      if (tag) {
        const width = 8 + 7 * tag.length;
        const above = r.y >= 17;
        const ty = above ? r.y - 17 : r.y + 1;
        const tagGroup = svg("g", { class: "rd-tag" });
        tagGroup.append(svg("rect", { x: r.x, y: ty, width, height: 16, rx: 2 }));
        tagGroup.append(svg("text", { x: r.x + 4, y: ty + 12, text: tag }));
        group.append(tagGroup);
      }
      if (owner === "own" && selected && !this.readOnly) {
        // Handles sit on the image corners wherever the (possibly mirrored) view puts them.
        for (const cx of [0, 1]) {
          for (const cy of [0, 1]) {
            const p = this.viewer.toScreen(imageId, cx ? box.xmax : box.xmin, cy ? box.ymax : box.ymin);
            if (!p) continue;
            const px = p.clientX - frame.left;
            const py = p.clientY - frame.top;
            const leftOnScreen = px <= r.x + r.w / 2;
            const topOnScreen = py <= r.y + r.h / 2;
            const cursor = leftOnScreen === topOnScreen ? "rd-nwse" : "rd-nesw";
            group.append(svg("rect", { class: `rd-handle ${cursor}`, "data-corner": `${cx}${cy}`, x: px - 5, y: py - 5, width: 10, height: 10 }));
          }
        }
      }
      return group;
    }

    // pointer gestures on the images ------------------------------------------------------------

    clampToImage(imageId, p) {
      const image = this.images.get(imageId);
      if (!image) return p;
      return { x: clamp(p.x, 0, image.columns), y: clamp(p.y, 0, image.rows) };
    }

    onPointerDown(e) {
      if (!this.alive() || !this.viewer || e.button !== 0 || e.ctrlKey || e.metaKey || e.altKey || this.drag) return;
      const target = e.target instanceof Element ? e.target : null;
      const pane = target && target.closest(".mr-pane[data-image-id]");
      if (!pane) return;
      const imageId = pane.dataset.imageId;
      const boxEl = target.closest("[data-box-id]");
      const owner = boxEl ? boxEl.dataset.owner : null;
      if (owner === "1" || owner === "2") {
        // Reader boxes are not editable: a click picks one (to take it), nothing else.
        e.preventDefault();
        e.stopPropagation();
        pane.focus({ preventScroll: true });
        this.select({ owner: Number(owner), id: boxEl.dataset.boxId });
        return;
      }
      if (this.readOnly) return;
      const start = this.viewer.toImage(imageId, e.clientX, e.clientY);
      if (!start) return;
      let drag;
      if (owner === "own") {
        const box = this.findBox(boxEl.dataset.boxId);
        if (!box) return;
        this.select({ owner: "own", id: box.id });
        const corner = target.dataset.corner;
        if (corner) {
          // The opposite image corner stays put; the dragged one follows the pointer.
          const fixed = { x: corner[0] === "0" ? box.xmax : box.xmin, y: corner[1] === "0" ? box.ymax : box.ymin };
          drag = { mode: "resize", box, fixed };
        } else {
          drag = { mode: "move", box, start, original: { ...box } };
        }
      } else if (this.drawMode || e.shiftKey) {
        drag = { mode: "draw", start: this.clampToImage(imageId, start), rect: null };
      } else {
        return; // the viewer pans
      }
      e.preventDefault();
      e.stopPropagation();
      pane.focus({ preventScroll: true });
      try {
        pane.setPointerCapture(e.pointerId);
      } catch (error) {
        // synthetic pointer: the gesture still works while over the pane
      }
      this.lastPane = pane;
      this.drag = Object.assign(drag, {
        pointerId: e.pointerId,
        imageId,
        pane,
        x0: e.clientX,
        y0: e.clientY,
        moved: false,
        before: JSON.stringify(this.label),
      });
    }

    onPointerMove(e) {
      const d = this.drag;
      if (!d || e.pointerId !== d.pointerId || this.destroyed) return;
      if (!d.moved && Math.hypot(e.clientX - d.x0, e.clientY - d.y0) < MOVE_THRESHOLD_PX) return;
      d.moved = true;
      const raw = this.viewer.toImage(d.imageId, e.clientX, e.clientY);
      if (!raw) return;
      const image = this.images.get(d.imageId);
      if (d.mode === "draw") {
        const p = this.clampToImage(d.imageId, raw);
        d.rect = {
          xmin: Math.min(d.start.x, p.x),
          ymin: Math.min(d.start.y, p.y),
          xmax: Math.max(d.start.x, p.x),
          ymax: Math.max(d.start.y, p.y),
        };
        d.last = { clientX: e.clientX, clientY: e.clientY };
      } else if (d.mode === "move") {
        const o = d.original;
        let dx = raw.x - d.start.x;
        let dy = raw.y - d.start.y;
        if (image) {
          dx = clamp(dx, -o.xmin, image.columns - o.xmax);
          dy = clamp(dy, -o.ymin, image.rows - o.ymax);
        }
        Object.assign(d.box, { xmin: o.xmin + dx, xmax: o.xmax + dx, ymin: o.ymin + dy, ymax: o.ymax + dy });
      } else if (d.mode === "resize") {
        const p = this.clampToImage(d.imageId, raw);
        Object.assign(d.box, {
          xmin: Math.min(d.fixed.x, p.x),
          xmax: Math.max(d.fixed.x, p.x),
          ymin: Math.min(d.fixed.y, p.y),
          ymax: Math.max(d.fixed.y, p.y),
        });
      }
      this.drawOverlay(d.imageId);
    }

    onPointerUp(e, cancelled) {
      const d = this.drag;
      if (!d || e.pointerId !== d.pointerId) return;
      this.drag = null;
      try {
        if (d.pane.hasPointerCapture(e.pointerId)) d.pane.releasePointerCapture(e.pointerId);
      } catch (error) {
        // already released
      }
      if (this.destroyed) return;
      if (d.mode === "draw") {
        const big = d.last && Math.abs(d.last.clientX - d.x0) >= MIN_DRAW_PX && Math.abs(d.last.clientY - d.y0) >= MIN_DRAW_PX;
        if (!cancelled && d.moved && d.rect && big && d.rect.xmax > d.rect.xmin && d.rect.ymax > d.rect.ymin) {
          this.addBox(d.imageId, d.rect);
        } else {
          this.drawOverlay(d.imageId);
        }
        return;
      }
      if (d.moved) this.commit(d.before);
      else this.drawOverlay(d.imageId);
    }

    // editing ------------------------------------------------------------------------------------

    /** Apply an edit: undo point, local copy, debounced save, re-render. */
    change(mutate, options = {}) {
      if (this.readOnly || !this.label) return;
      if (this.submitting) {
        this.flash("Submitting… changes are paused until the server answers.");
        this.renderAll();
        return;
      }
      const before = JSON.stringify(this.label);
      mutate();
      if (JSON.stringify(this.label) === before) {
        this.renderAll();
        return;
      }
      this.commit(before, options);
    }

    commit(before, options = {}) {
      const coalesce = options.coalesce && this.lastCoalesce === options.coalesce;
      if (!coalesce) {
        this.undoStack.push(before);
        if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
      }
      this.lastCoalesce = options.coalesce || null;
      this.redoStack = [];
      this.edited();
    }

    edited() {
      this.editSeq++;
      this.dirty = true;
      this.interacted();
      if (!this.blocked) {
        if (!local.write(this.taskId, this.version, this.label)) this.localFailed = true;
        this.scheduleSave();
      } else {
        local.write(this.taskId, this.version, this.label);
      }
      if (this.selected && !this.selectedExists()) this.selected = null;
      this.renderAll();
    }

    undo(redo = false) {
      const from = redo ? this.redoStack : this.undoStack;
      const to = redo ? this.undoStack : this.redoStack;
      if (this.readOnly || !from.length) return;
      to.push(JSON.stringify(this.label));
      const before = new Set(this.label.boxes.map((b) => b.id));
      this.label = normaliseLabel(JSON.parse(from.pop()));
      const back = this.label.boxes.find((b) => !before.has(b.id));
      if (back) this.selected = { owner: "own", id: back.id }; // an undone delete: select it again
      this.lastCoalesce = null;
      this.edited();
      this.flash(redo ? "Redone." : "Undone.");
    }

    setBreast(lat, field, value) {
      this.setActive(lat);
      this.change(() => {
        this.label.breasts[lat][field] = value;
      });
    }

    setActive(lat) {
      if (this.activeLat === lat) return;
      this.activeLat = lat;
      if (this.breastEls) this.renderBreasts();
    }

    findBox(id) {
      return this.label.boxes.find((box) => box.id === id) || null;
    }

    selectedOwnBox() {
      return this.selected && this.selected.owner === "own" ? this.findBox(this.selected.id) : null;
    }

    selectedExists() {
      const s = this.selected;
      if (!s) return false;
      if (s.owner === "own") return Boolean(this.findBox(s.id));
      const read = this.otherReads.get(s.owner);
      return Boolean(read && read.boxes.some((box) => box.id === s.id));
    }

    isSelected(owner, id) {
      return Boolean(this.selected && this.selected.owner === owner && this.selected.id === id);
    }

    select(selection) {
      this.selected = selection;
      if (selection) {
        const box =
          selection.owner === "own"
            ? this.findBox(selection.id)
            : (this.otherReads.get(selection.owner) || { boxes: [] }).boxes.find((b) => b.id === selection.id);
        const image = box && this.images.get(box.image_id);
        if (image && image.laterality) this.activeLat = image.laterality;
        if (selection.owner !== "own" && !this.show[selection.owner]) this.setShown(selection.owner, true);
      }
      this.renderAll();
      const row = selection && this.side.querySelector(`.rd-finding.rd-selected`);
      if (row) row.scrollIntoView({ block: "nearest" });
    }

    addBox(imageId, rect) {
      const taken = new Set([...this.label.boxes.map((b) => b.id)]);
      const box = { id: newBoxId(taken), image_id: imageId, ...rect, categories: [], birads: null };
      this.change(() => {
        this.label.boxes.push(box);
      });
      this.select({ owner: "own", id: box.id });
      this.flash(`Box ${this.boxNumber(box)} drawn: press / to choose its category.`);
    }

    deleteBox(id) {
      const box = this.findBox(id);
      if (!box) return;
      const number = this.boxNumber(box);
      this.change(() => {
        this.label.boxes = this.label.boxes.filter((b) => b.id !== id);
      });
      this.flash(`Box ${number} deleted (Ctrl + Z to undo).`);
    }

    toggleCategory(name) {
      const box = this.selectedOwnBox();
      if (!box) return;
      this.change(() => {
        box.categories = box.categories.includes(name) ? box.categories.filter((c) => c !== name) : [...box.categories, name];
        // Only graded lesions carry a finding BI-RADS: the hidden control must not keep a value.
        if (!box.categories.some((c) => this.graded.has(c))) box.birads = null;
      });
    }

    setFindingBirads(value) {
      const box = this.selectedOwnBox();
      if (!box) {
        this.flash("Select a box first (Tab, or click it).");
        return;
      }
      if (!box.categories.some((c) => this.graded.has(c))) {
        this.flash("Choose a graded lesion category first: only graded lesions carry a finding BI-RADS.");
        return;
      }
      this.change(() => {
        box.birads = box.birads === value ? null : value;
      });
    }

    cycleBoxes(step) {
      const boxes = this.label.boxes;
      if (!boxes.length) return false;
      const index = this.selected && this.selected.owner === "own" ? boxes.findIndex((b) => b.id === this.selected.id) : -1;
      const next = index < 0 ? (step > 0 ? 0 : boxes.length - 1) : (index + step + boxes.length) % boxes.length;
      this.select({ owner: "own", id: boxes[next].id });
      return true;
    }

    setDrawMode(on) {
      if (this.readOnly) on = false;
      this.drawMode = on;
      this.renderMode();
    }

    setShown(slot, on) {
      this.show[slot] = on;
      if (this.readerToggles[slot]) this.readerToggles[slot].checked = on;
      if (!on && this.selected && this.selected.owner === slot) this.selected = null;
      this.renderAll();
    }

    takeBox(slot, id) {
      const read = this.otherReads.get(slot);
      const source = read && read.boxes.find((b) => b.id === id);
      if (!source || this.readOnly) return;
      const taken = new Set(this.label.boxes.map((b) => b.id));
      const box = { ...normaliseBox(source), id: newBoxId(taken) };
      box.categories = [...source.categories];
      this.change(() => {
        this.label.boxes.push(box);
      });
      this.select({ owner: "own", id: box.id });
      this.flash(`Reader ${slot}'s box taken as your box ${this.boxNumber(box)}; edit it as you like.`);
    }

    takeBreast(slot, lat) {
      const read = this.otherReads.get(slot);
      if (!read) return;
      const value = read.breasts[lat];
      this.setActive(lat);
      this.change(() => {
        this.label.breasts[lat] = { birads: value.birads, density: value.density };
      });
    }

    showDiscordance(d) {
      if (d.laterality) this.setActive(d.laterality);
      const ids = d.box_ids || [];
      for (const slot of [1, 2]) {
        const read = this.otherReads.get(slot);
        const box = read && read.boxes.find((b) => ids.includes(b.id) && this.highlighted.has(`${slot}:${b.id}`));
        if (box) {
          this.select({ owner: slot, id: box.id });
          return;
        }
      }
      const els = d.laterality && this.breastEls[d.laterality];
      if (els) {
        const group = d.kind === "density" ? els.densityGroup : els.biradsGroup;
        (group.querySelector("[aria-pressed=true]") || group.querySelector("button")).focus();
      }
    }

    // categories filter -----------------------------------------------------------------------------

    openFilter() {
      if (!this.selectedOwnBox()) {
        this.flash("Select a box first (Tab, or click it), or draw one (M).");
        return;
      }
      if (this.filterEl && !this.readOnly) {
        this.filterEl.focus();
        this.filterEl.select();
      }
    }

    applyFilter() {
      if (!this.filterEl) return;
      const text = this.filterEl.value.trim().toLowerCase();
      let first = null;
      for (const option of this.editorEl.querySelectorAll(".rd-category")) {
        const match = !text || option.dataset.name.toLowerCase().includes(text);
        option.hidden = !match;
        option.classList.remove("rd-match");
        if (match && text && !first) first = option;
      }
      if (first) first.classList.add("rd-match");
    }

    onFilterKey(e) {
      const options = [...this.editorEl.querySelectorAll(".rd-category:not([hidden])")];
      const index = options.findIndex((o) => o.classList.contains("rd-match"));
      if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        const chosen = index >= 0 ? options[index] : this.filterEl.value.trim() && options.length === 1 ? options[0] : null;
        if (chosen) {
          this.filterEl.value = "";
          this.toggleCategory(chosen.dataset.name);
          this.returnFocus();
        }
      } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!options.length) return;
        const next = index < 0 ? 0 : (index + (e.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
        options.forEach((o, i) => o.classList.toggle("rd-match", i === next));
      } else if (e.key === "Escape") {
        e.preventDefault();
        this.filterEl.value = "";
        this.applyFilter();
        this.returnFocus();
      } else if (/^[0-9]$/.test(e.key) && !this.filterEl.value && !e.ctrlKey && !e.altKey && !e.metaKey) {
        e.preventDefault();
        const number = e.key === "0" ? 10 : Number(e.key);
        const category = this.vocabulary[number - 1];
        if (category) {
          this.toggleCategory(category.name);
          this.returnFocus();
        }
      }
    }

    returnFocus() {
      const target = (this.lastPane && this.lastPane.isConnected && this.lastPane) || this.viewerEl.querySelector(".mr-pane[data-image-id]");
      if (target) target.focus({ preventScroll: true });
    }

    // keyboard ----------------------------------------------------------------------------------

    onKey(e) {
      if (!this.alive() || !this.label) return;
      const key = e.key;
      const target = e.target;
      const ctrl = e.ctrlKey || e.metaKey;
      if (ctrl && key === "Enter") {
        e.preventDefault();
        this.submit();
        return;
      }
      if (this.help.onKey(e)) return;
      if (target === this.filterEl) return; // its own handler
      if (isTextEntry(target)) {
        if (key === "Escape") {
          e.preventDefault();
          target.blur();
          this.returnFocus();
        }
        return;
      }
      if (e.altKey) return;
      if (ctrl) {
        const lower = key.toLowerCase();
        if (lower === "z" || lower === "y") {
          e.preventDefault();
          this.undo(lower === "y" || e.shiftKey);
        }
        return;
      }
      this.interacted();
      const handled = this.handleKey(e);
      if (handled) {
        e.preventDefault();
        e.stopPropagation();
      }
    }

    /** True when the key was ours (the viewer then never sees it). */
    handleKey(e) {
      const key = e.key;
      const lower = key.length === 1 ? key.toLowerCase() : key;
      if (key === "?") {
        this.help.toggle(true);
        return true;
      }
      if (key === "Escape") {
        if (this.drag && this.drag.mode === "draw") {
          const imageId = this.drag.imageId;
          this.drag = null;
          this.drawOverlay(imageId);
        } else if (this.drawMode) this.setDrawMode(false);
        else if (this.selected) this.select(null);
        else return false;
        return true;
      }
      if (key === "Tab") {
        // In the side panel Tab moves between controls as usual.
        if (e.target instanceof Element && this.side.contains(e.target)) return false;
        return this.cycleBoxes(e.shiftKey ? -1 : 1);
      }
      if (e.shiftKey && /^Digit[0-9]$/.test(e.code)) {
        const digit = Number(e.code.slice(5));
        if (FINDING_BIRADS.includes(digit)) {
          this.setFindingBirads(digit);
          return true;
        }
        if ((digit === 1 || digit === 2) && this.kind === "arbitrate") {
          this.setShown(digit, !this.show[digit]);
          return true;
        }
        return false;
      }
      if (this.submitted || this.readOnly) {
        if (lower === "n") {
          this.goNext();
          return true;
        }
        return false;
      }
      if (key === "[" || key === "]") {
        this.setActive(key === "[" ? "R" : "L");
        return true;
      }
      if (!e.shiftKey && /^[0-5]$/.test(key)) {
        this.setBreast(this.activeLat, "birads", Number(key));
        return true;
      }
      if (["a", "b", "c", "d"].includes(lower)) {
        this.setBreast(this.activeLat, "density", lower.toUpperCase());
        return true;
      }
      switch (lower) {
        case "m":
          this.setDrawMode(!this.drawMode);
          return true;
        case "/":
          this.openFilter();
          return true;
        case "t":
          if (this.kind !== "arbitrate") return false;
          if (this.selected && this.selected.owner !== "own") this.takeBox(this.selected.owner, this.selected.id);
          else this.flash("Click a reader's box first, then T takes it.");
          return true;
        case "Delete":
        case "Backspace": {
          const box = this.selectedOwnBox();
          if (!box) return false;
          this.deleteBox(box.id);
          return true;
        }
        default:
          return false;
      }
    }

    // messages and banners --------------------------------------------------------------------------

    flash(text) {
      clearTimeout(this.flashTimer);
      this.modeEl.textContent = text;
      this.modeEl.hidden = false;
      this.flashTimer = setTimeout(() => {
        if (!this.destroyed) this.renderMode();
      }, 3500);
    }

    notice(text) {
      this.banner("ok", text, [["Dismiss", () => this.clearBanner()]]);
    }

    banner(kind, text, actions = []) {
      const buttons = actions.map(([label, fn], index) =>
        h("button", { type: "button", class: `btn btn-small${index === 0 ? " btn-primary" : ""}`, on: { click: fn } }, label));
      const box = h("div", { class: `alert alert-${kind} rd-banner`, role: kind === "error" ? "alert" : "status", "data-kind": kind },
        h("p", { text }), buttons.length ? h("div", { class: "rd-banner-actions" }, buttons) : null);
      this.bannerEl.replaceChildren(box);
      return box;
    }

    clearBanner() {
      this.bannerEl.replaceChildren();
    }

    // saving ----------------------------------------------------------------------------------------

    scheduleSave(delay = SAVE_DELAY_MS) {
      if (this.blocked || this.readOnly) return;
      clearTimeout(this.saveTimer);
      this.saveTimer = setTimeout(() => {
        this.saveTimer = 0;
        this.flush();
      }, delay);
      this.renderSave();
    }

    /** Send the newest label now (unless a request is in flight: it follows that one). */
    flush() {
      clearTimeout(this.saveTimer);
      this.saveTimer = 0;
      if (this.destroyed || this.blocked || this.readOnly || this.submitting || !this.dirty || this.inFlight) {
        return this.inFlight || Promise.resolve();
      }
      clearTimeout(this.retryTimer);
      this.retryTimer = 0;
      const seq = this.editSeq;
      const label = JSON.parse(JSON.stringify(this.label));
      const version = this.version;
      const request = (async () => {
        const result = await api("PUT", `${this.apiUrl}/draft`, { label, version });
        this.inFlight = null;
        if (this.destroyed) return;
        if (result.ok) {
          this.version = result.data.version;
          this.retryIndex = 0;
          this.saveError = "";
          this.activeSeconds = Number(result.data.active_seconds) || this.activeSeconds;
          this.syncedAt = this.lastTouch = Date.now();
          this.hints = result.data.hints || [];
          // A submit violation disappears once the live hints no longer report its field.
          this.violations = this.violations.filter((v) => this.hints.some((hint) => hint.field === v.field));
          if (!this.violations.length) this.generalMessages = [];
          if (this.editSeq === seq) {
            this.dirty = false;
            local.clear(this.taskId);
          } else {
            local.write(this.taskId, this.version, this.label); // the newer edits, on the new base
          }
          this.renderMessages();
        } else {
          this.saveFailed(result);
        }
        this.renderSave();
        this.renderTime();
        if (this.dirty && !this.saveTimer && !this.retryTimer && !this.blocked) this.flush();
      })();
      this.inFlight = request;
      this.renderSave();
      return request;
    }

    saveFailed(result) {
      const { status, error } = result;
      if (status === 409 && error.code === "version_conflict") {
        this.blocked = "conflict";
        local.write(this.taskId, this.version, this.label);
        this.banner(
          "error",
          "This case was changed in another tab or window after this one loaded it, so this tab has " +
            "stopped saving rather than overwrite that work. Your latest changes here are not on the server.",
          [
            ["Reload the newest version", () => this.reloadFromServer()],
            ["Keep this tab's version (overwrites the other)", () => this.overwriteFromHere()],
          ],
        );
        this.renderAll();
        return;
      }
      if (status === 409 && (error.code === "reassigned" || error.code === "submitted")) {
        this.blocked = error.code;
        this.readOnly = true;
        this.dirty = false;
        this.drawMode = false;
        local.clear(this.taskId);
        this.banner("error", error.message, [["Back to the worklist", () => this.go(this.worklistUrl)]]);
        this.renderAll();
        return;
      }
      if (status === 404) {
        this.blocked = "gone";
        this.readOnly = true;
        this.banner("error", `This case is no longer yours to read: ${error.message}`, [["Back to the worklist", () => this.go(this.worklistUrl)]]);
        this.renderAll();
        return;
      }
      if (status === 422) {
        // The label itself was refused: retrying the same would fail again. The next edit retries.
        this.saveError = error.message;
        return;
      }
      // Network, server or session trouble: keep the local copy and retry with backoff.
      const delay = RETRY_MS[Math.min(this.retryIndex, RETRY_MS.length - 1)];
      this.retryIndex++;
      this.saveError = `${troubleText(result)}; retrying in ${Math.round(delay / 1000)} s (kept in this browser)`;
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = 0;
        this.flush();
      }, delay);
    }

    async reloadFromServer() {
      const result = await api("GET", this.apiUrl);
      if (!this.alive()) return;
      if (!result.ok) {
        this.banner("error", `The newest version could not be loaded: ${result.error.message}`, [["Try again", () => this.reloadFromServer()]]);
        return;
      }
      const detail = result.data;
      local.clear(this.taskId);
      this.label = normaliseLabel(detail.draft);
      this.version = detail.version;
      this.status = detail.status;
      this.readOnly = detail.status === "submitted";
      this.activeSeconds = Number(detail.active_seconds) || this.activeSeconds;
      this.syncedAt = Date.now();
      this.blocked = null;
      this.dirty = false;
      this.saveError = "";
      this.hints = [];
      this.violations = [];
      this.undoStack = [];
      this.redoStack = [];
      if (this.selected && !this.selectedExists()) this.selected = null;
      this.noteEl.value = this.label.note;
      this.clearBanner();
      if (this.readOnly) this.showSubmittedState();
      this.renderAll();
      this.flash("Loaded the newest version.");
    }

    async overwriteFromHere() {
      const result = await api("GET", this.apiUrl);
      if (!this.alive()) return;
      if (!result.ok) {
        this.banner("error", `Could not reach the server: ${result.error.message}`, [["Try again", () => this.overwriteFromHere()]]);
        return;
      }
      if (result.data.status === "submitted") {
        this.banner("error", "This case has been submitted from elsewhere; it can no longer change.", []);
        return;
      }
      this.version = result.data.version;
      this.blocked = null;
      this.dirty = true;
      this.editSeq++;
      this.clearBanner();
      this.renderAll();
      this.flush();
    }

    interacted() {
      this.lastInteraction = Date.now();
      if (this.readOnly || this.blocked || !this.label) return;
      // Zooming and windowing count as reading time too (saves count by themselves).
      if (Date.now() - this.lastTouch >= ACTIVITY_EVERY_MS && !this.inFlight) {
        this.lastTouch = Date.now();
        api("POST", `${this.apiUrl}/activity`).then((result) => {
          if (result.ok) this.syncedAt = Date.now();
        });
      }
    }

    /** Last chance when the page goes away: send the newest label without waiting. */
    flushOnExit() {
      if (!this.dirty || this.blocked || this.readOnly || this.inFlight) return;
      local.write(this.taskId, this.version, this.label);
      api("PUT", `${this.apiUrl}/draft`, { label: this.label, version: this.version }, { keepalive: true });
    }

    unsaved() {
      return !this.destroyed && !this.readOnly && (this.dirty || Boolean(this.inFlight));
    }

    /** Before htmx navigates away: save first (at most a few seconds), then go. */
    async settle() {
      const deadline = Date.now() + NAVIGATION_WAIT_MS;
      while (this.unsaved() && !this.blocked && Date.now() < deadline) {
        if (this.inFlight) await Promise.race([this.inFlight, new Promise((r) => setTimeout(r, 250))]);
        else if (this.dirty) {
          if (this.retryTimer) break;
          await this.flush();
        }
      }
    }

    // submitting -----------------------------------------------------------------------------------

    async submit() {
      if (this.submitting || this.readOnly || this.blocked || !this.label) return;
      this.submitting = true;
      this.submitButton.disabled = true;
      this.submitButton.setAttribute("aria-busy", "true");
      clearTimeout(this.saveTimer);
      this.saveTimer = 0;
      try {
        while (this.inFlight) await this.inFlight; // the version must be the newest
        if (this.blocked) return;
        const label = JSON.parse(JSON.stringify(this.label));
        const result = await api("POST", `${this.apiUrl}/submit`, { label, version: this.version });
        if (this.destroyed) return;
        if (result.ok) {
          this.submitted = result.data;
          this.status = "submitted";
          this.readOnly = true;
          this.drawMode = false;
          this.dirty = false;
          this.violations = [];
          this.hints = (result.data.warnings || []).map((w) => ({ ...w, severity: "warning" }));
          local.clear(this.taskId);
          this.showSubmittedState();
        } else if (result.status === 422 && result.error.code === "read_invalid") {
          this.violations = result.error.details.map((d) => ({ field: d.field || "", message: d.message, severity: "error" }));
          this.generalMessages = [{ text: result.error.message, severity: "error" }];
          this.renderAll();
          this.focusFirstViolation();
        } else if (result.status === 409 || result.status === 404) {
          this.saveFailed(result);
        } else {
          this.generalMessages = [{ text: `Not submitted: ${result.error.message}. Your work is kept; try again.`, severity: "error" }];
        }
      } finally {
        this.submitting = false;
        this.submitButton.removeAttribute("aria-busy");
        if (!this.destroyed) {
          this.renderAll();
          if (this.dirty && !this.readOnly) this.scheduleSave();
        }
      }
    }

    focusFirstViolation() {
      const first = this.violations[0];
      if (!first) return;
      const parts = first.field.split(".");
      if (parts[0] === "breasts" && this.breastEls[parts[1]]) {
        const els = this.breastEls[parts[1]];
        this.setActive(parts[1]);
        const group = parts[2] === "density" ? els.densityGroup : els.biradsGroup;
        (group.querySelector("[aria-pressed=true]") || group.querySelector("button")).focus();
      } else if (parts[0] === "boxes" && this.findBox(parts[1])) {
        this.select({ owner: "own", id: parts[1] });
        const focus =
          parts[2] === "birads" ? this.editorEl.querySelector(".rd-finding-grade button")
          : parts[2] === "categories" ? this.filterEl
          : this.side.querySelector(`.rd-finding[data-box-id="${parts[1]}"] .rd-finding-select`);
        if (focus) focus.focus();
      }
      const message = this.root.querySelector(".rd-msg-error");
      if (message) message.scrollIntoView({ block: "nearest" });
    }

    showSubmittedState() {
      const done = this.submitted;
      this.submitButton.hidden = true;
      this.generalMessages = [];
      const next = h("a", { class: "btn btn-primary rd-next", href: this.nextUrl, "aria-keyshortcuts": "N" }, "Next case ", h("kbd", { text: "N" }));
      this.nextLink = next;
      let text;
      if (done) {
        // A reader learns only that their read is in (blinding); an arbitration ends the study.
        const after = this.kind === "arbitrate" ? "the study is final" : "your read is in";
        text = `${this.kind === "arbitrate" ? "Arbitration submitted" : "Submitted"}${done.repeated ? " (already submitted before)" : ""}; ${after}.`;
      } else {
        text = "This case is submitted; it can no longer change.";
      }
      fill(this.resultEl, 
        h("p", { class: "rd-result-text" }, h("strong", { text }), " Next case: ", h("kbd", { text: "N" })),
        next,
        h("a", { class: "btn btn-quiet", href: this.worklistUrl, text: "Worklist" }),
      );
      this.resultEl.hidden = false;
      if (window.htmx && typeof window.htmx.process === "function") window.htmx.process(this.resultEl);
      this.renderAll();
      next.focus({ preventScroll: true });
    }

    goNext() {
      if (this.nextLink && this.nextLink.isConnected) this.nextLink.click();
      else this.go(this.nextUrl);
    }

    go(url) {
      window.location.assign(url);
    }
  }

  // --- mounting and page-level listeners ------------------------------------------------------

  window.addEventListener("beforeunload", (e) => {
    if (current && current.unsaved()) {
      current.flushOnExit();
      e.preventDefault();
      e.returnValue = "";
    }
  });
  window.addEventListener("pagehide", () => {
    if (current && current.unsaved()) current.flushOnExit();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && current && current.unsaved() && !current.inFlight) current.flush();
  });
  // htmx navigation away (boosted links): let the last save land first.
  document.addEventListener("htmx:confirm", (e) => {
    const reading = current;
    if (!reading || !reading.alive() || !reading.unsaved()) return;
    if (e.detail && e.detail.elt && reading.root.contains(e.detail.elt) && !e.detail.elt.matches("a")) return;
    e.preventDefault();
    reading.settle().then(() => e.detail.issueRequest(true));
  });

  // Keys reach the screen first (a key it uses never reaches the viewer; elsewhere, on the
  // worklist, one-key links are app.js's business); the back-button snapshot keeps no style
  // attributes (the screen is rebuilt from the server on restore): common.js keepMounted.
  keepMounted("reading", {
    current: () => current,
    create(root) {
      current = new Reading(root);
      current.start();
    },
  });

  window.MammoReading = Object.freeze({
    /** For tests and debugging: the current label, version and save state. */
    state() {
      if (!current || !current.label) return null;
      return {
        label: JSON.parse(JSON.stringify(current.label)),
        version: current.version,
        dirty: current.dirty,
        saving: Boolean(current.inFlight || current.saveTimer),
        blocked: current.blocked,
        readOnly: current.readOnly,
        activeLat: current.activeLat,
        drawMode: current.drawMode,
      };
    },
  });
})();
