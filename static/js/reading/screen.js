// MammoRead reading screen: the four-view viewer with boxes drawn on it, the per-breast
// BI-RADS / density form, the findings list and box editor, live hints, submit, and (for an
// arbitration) both blinded reads shown on the images. Mounts on `#reading[data-api]`
// (DOMContentLoaded, htmx:load, htmx:historyRestore: common.js keepMounted).
//
// This file is the wiring: it loads the case, builds the page, holds the screen's state and
// mounts it. The screen's other methods come from one module per topic (mix-in.js):
//   screen-stage.js    the viewer's panes, the box overlay on them, draw mode, flashes, banners;
//   screen-editing.js  changes to the label, the selection, undo, taking a reader's marks;
//   screen-saving.js   what the draft store reports, conflicts, reading time, leaving the page;
//   screen-submit.js   submitting, its answer, the next case.
// It composes the parts, each a module of this folder:
//   label-editor.js  the label and its undo / redo (no DOM);
//   draft-store.js   the local copy, the save queue, backoff and conflicts (no DOM);
//   box-overlay.js   the boxes over the viewer's views and the gestures that draw them;
//   side-panel.js    the form beside the images (with its parts, panel-*.js);
//   keys.js          the keyboard and the help overlay's list.
// No build step: every module loads the ones it needs with import() and its own ?v=<version>
// query (the base layout loads this file with one), so an upgrade never mixes an old part with
// a new screen. Needs common.js (window.MammoCommon) and viewer.js (window.MammoViewer), classic
// scripts loaded before it. The scales (breast BI-RADS, densities, finding BI-RADS and what each
// means) come from the server in the root's data-scales.

const version = new URL(import.meta.url).search;
const [
  { LabelEditor, normaliseLabel },
  { DraftStore },
  { SidePanel },
  keys,
  { mixIn },
  { stage },
  { editing },
  { saving, listenToThePage },
  { submitting },
] = await Promise.all(
  [
    "label-editor",
    "draft-store",
    "side-panel",
    "keys",
    "mix-in",
    "screen-stage",
    "screen-editing",
    "screen-saving",
    "screen-submit",
  ].map((name) => import(`./${name}.js${version}`)),
);

const READER_SLOTS = [1, 2];

const { h, api, troubleText, Screen, HelpOverlay, keepMounted } = window.MammoCommon;

/** The scales the server put on the root: {breasts, birads, finding_birads, densities}. */
function readScales(root) {
  try {
    const scales = JSON.parse(root.dataset.scales || "null");
    const lists = ["breasts", "birads", "finding_birads", "densities"];
    return scales && lists.every((name) => Array.isArray(scales[name])) ? scales : null;
  } catch (_error) {
    return null;
  }
}

let current = null; // the mounted Reading, if any

class Reading extends Screen {
  constructor(root) {
    super(root);
    this.apiUrl = root.dataset.api;
    this.taskId = root.dataset.taskId;
    this.nextUrl = root.dataset.next || "/reading/next";
    this.worklistUrl = root.dataset.worklist || "/reading";
    this.kind = root.dataset.kind === "arbitrate" ? "arbitrate" : "read";
    this.scales = readScales(root);
    this.editor = null;
    this.store = null;
    this.overlay = null;
    this.panel = new SidePanel(this);
    this.status = "";
    this.readOnly = true;
    this.images = new Map(); // image_id -> {laterality, view, columns, rows, name}
    this.vocabulary = [];
    this.otherReads = new Map(); // slot -> label
    this.discordances = [];
    this.highlighted = new Set(); // "slot:boxId"
    this.show = { 1: true, 2: true, ai: true };
    this.aid = null; // an aided session's help: {model, scores, note, marks}, once loaded
    this.hints = [];
    this.violations = [];
    this.generalMessages = [];
    this.selected = null; // {owner: "own" | 1 | 2, id}
    this.activeLat = "R";
    this.drawMode = false;
    this.submitting = false;
    this.submitted = null;
    // time
    this.activeSeconds = 0;
    this.syncedAt = Date.now();
    this.lastInteraction = Date.now();
    this.lastTouch = Date.now();
    this.clock = 0;
  }

  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.store) this.store.destroy();
    clearInterval(this.clock);
    clearTimeout(this.flashTimer);
    for (const cleanup of this.cleanups) cleanup();
    if (this.viewer) this.viewer.destroy();
    if (current === this) current = null;
  }

  // --- loading -------------------------------------------------------------------------------

  async start() {
    this.root.replaceChildren(
      h("p", { class: "muted rd-loading", role: "status", "aria-live": "polite", text: "Loading the case…" }),
    );
    this.root.dataset.state = "loading";
    if (!this.scales) {
      this.fail("This case could not be opened: the page is missing the BI-RADS and density scales.");
      return;
    }
    const result = await api("GET", this.apiUrl);
    if (!this.alive()) return;
    if (!result.ok) {
      const { code, message } = result.error;
      this.fail(code === "reassigned" ? message : `This case could not be opened: ${message}`);
      return;
    }
    this.load(result.data);
    this.build(result.data);
    this.restoreLocal();
    this.renderAll();
    if (result.data.session?.aided) await this.loadAid();
  }

  /** An aided session: the shown model's breast scores and marks (recorded as shown). */
  async loadAid() {
    const result = await api("GET", `/api/v1/studies/tasks/${encodeURIComponent(this.taskId)}/aid`);
    if (!this.alive()) return;
    if (!result.ok) {
      this.aid = {
        model: null,
        scores: {},
        marks: [],
        note: `The AI's help could not be loaded: ${result.error.message}`,
      };
    } else {
      const data = result.data;
      this.aid = {
        model: data.model,
        scores: data.breast_scores || {},
        note: data.note,
        // the marks as boxes the overlay draws: ids apart from the reader's own
        marks: (data.marks || []).map((mark) => ({ ...mark, id: `ai${mark.id}`, mark: mark.id })),
      };
    }
    this.renderAll();
  }

  fail(message) {
    this.root.dataset.state = "error";
    this.root.replaceChildren(
      h("div", { class: "alert alert-error", role: "alert" }, h("p", { text: message })),
      h("p", {}, h("a", { href: this.worklistUrl, text: "Back to the worklist" })),
    );
  }

  load(detail) {
    this.kind = detail.kind === "arbitrate" ? "arbitrate" : "read";
    this.status = detail.status;
    this.readOnly = detail.status === "submitted";
    this.activeSeconds = Number(detail.active_seconds) || 0;
    this.syncedAt = Date.now();
    this.loadImages(detail.images || []);
    this.vocabulary = (detail.vocabulary || []).filter((c) => c?.name);
    const graded = this.vocabulary.filter((c) => c.graded).map((c) => c.name);
    this.editor = new LabelEditor({ label: detail.draft, scales: this.scaleValues(), graded });
    this.store = new DraftStore({
      api,
      troubleText,
      url: this.apiUrl,
      taskId: this.taskId,
      version: detail.version,
      label: () => this.editor.value(),
      canSave: () => !this.readOnly,
      held: () => this.submitting,
      onSaved: (data) => this.saved(data),
      onBlocked: (reason, error) => this.savingStopped(reason, error),
      onUpdate: () => {
        this.panel.renderSave();
        this.renderTime();
      },
    });
    this.otherReads.clear();
    for (const read of detail.other_reads || [])
      this.otherReads.set(read.slot, normaliseLabel(read.label, this.scaleValues()));
    this.discordances = detail.discordances || [];
    this.highlighted.clear();
    for (const d of this.discordances) {
      const slots = d.reader === 1 || d.reader === 2 ? [d.reader] : READER_SLOTS;
      for (const id of d.box_ids || []) for (const slot of slots) this.highlighted.add(`${slot}:${id}`);
    }
    this.detail = detail;
  }

  loadImages(images) {
    this.images.clear();
    for (const image of images) {
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
  }

  /** The values a breast may take, for the label editor. */
  scaleValues() {
    return {
      birads: this.scales.birads.map((item) => item.value),
      densities: this.scales.densities.map((item) => item.value),
      probability: Boolean(this.scales.probability),
    };
  }

  biradsMeaning(value) {
    const item = this.scales.birads.find((b) => b.value === value);
    return item ? item.meaning : "";
  }

  // --- building and rendering ------------------------------------------------------------------

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
    this.help = new HelpOverlay({
      prefix: "rd",
      groups: keys.SHORTCUTS.filter(([title]) => title !== "Arbitration" || arbitration),
      intro: "Keys work whenever the cursor is not in the note or another text field.",
    });
    const side = this.panel.build(detail, this.help);
    const layout = h("div", { class: "rd-layout" }, stage, side);
    this.root.append(this.bannerEl, layout, this.help.element);

    this.mountViewer(detail.images || [], detail.priors?.[0] || null);
    this.on(this.viewerEl, "wheel", () => this.interacted(), { passive: true });
    this.on(this.viewerEl, "pointerdown", () => this.interacted(), { passive: true });
    this.on(side, "pointerdown", () => this.interacted(), { passive: true });
    this.clock = setInterval(() => this.renderTime(), 1000);
    if (this.readOnly) this.showSubmittedState();
  }

  renderAll() {
    if (!this.editor || !this.panel.breastEls) return;
    this.panel.render();
    this.panel.renderSave();
    this.renderTime();
    this.renderMode();
    this.overlay?.drawAll();
    this.root.classList.toggle("rd-readonly", this.readOnly);
  }

  onKey(e) {
    if (!this.alive()) return;
    if (this.editor && this.panel.breastEls) keys.onKey(this, e);
    else if (this.root.dataset.state === "loading") this.notReady(e);
  }

  /** A key pressed before the case is shown is not kept for later: a grade typed then would be
   * given to images the reader has not seen. It is refused out loud instead. */
  notReady(e) {
    const key = e.key;
    if (e.ctrlKey || e.metaKey || e.altKey || key === "Tab" || (key.length !== 1 && key !== "Enter")) return;
    if (window.MammoCommon.isTextEntry(e.target)) return;
    e.preventDefault();
    e.stopPropagation();
    const note = this.root.querySelector(".rd-loading");
    if (note)
      note.textContent = `Loading the case… “${key}” was not applied: press it again once the images are shown.`;
  }
}

mixIn(Reading, stage, editing, saving, submitting);

// --- mounting ----------------------------------------------------------------------------------

if (!window.MammoReading) {
  listenToThePage(() => current);
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
      if (!current?.editor) return null;
      const store = current.store;
      return {
        label: current.editor.value(),
        version: store.version,
        dirty: store.dirty,
        saving: store.saving,
        blocked: store.blocked,
        readOnly: current.readOnly,
        activeLat: current.activeLat,
        drawMode: current.drawMode,
      };
    },
  });
}
