// MammoRead reading screen: the four-view viewer with boxes drawn on it, the per-breast
// BI-RADS / density form, the findings list and box editor, live hints, submit, and (for an
// arbitration) both blinded reads shown on the images. Mounts on `#reading[data-api]`
// (DOMContentLoaded, htmx:load, htmx:historyRestore: common.js keepMounted).
//
// The screen composes its parts, each a module of this folder:
//   label-editor.js  the label and its undo / redo (no DOM);
//   draft-store.js   the local copy, the save queue, backoff and conflicts (no DOM);
//   box-overlay.js   the boxes over the viewer's views and the gestures that draw them;
//   side-panel.js    the form beside the images;
//   keys.js          the keyboard and the help overlay's list.
// The parts import nothing: this file loads them with its own ?v=<version> query (the base
// layout loads it with one), so an upgrade never mixes an old part with a new screen. Needs
// common.js (window.MammoCommon) and viewer.js (window.MammoViewer), classic scripts loaded
// before it. The scales (breast BI-RADS, densities, finding BI-RADS and what each means) come
// from the server in the root's data-scales.

const version = new URL(import.meta.url).search;
const [{ LabelEditor, normaliseLabel }, { DraftStore }, { BoxOverlay }, { SidePanel }, keys] = await Promise.all(
  ["label-editor", "draft-store", "box-overlay", "side-panel", "keys"].map((name) => import(`./${name}.js${version}`)),
);

const ACTIVITY_EVERY_MS = 15000;
const IDLE_DISPLAY_MS = 60000;
const FLASH_MS = 3500;
const READER_SLOTS = [1, 2];

const { h, api, troubleText, Screen, HelpOverlay, keepMounted } = window.MammoCommon;

function formatDuration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const minutes = Math.floor(total / 60);
  const rest = String(total % 60).padStart(2, "0");
  if (minutes < 60) return `${minutes}:${rest}`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

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
    this.show = { 1: true, 2: true };
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
    this.root.replaceChildren(h("p", { class: "muted rd-loading", text: "Loading the case…" }));
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
    };
  }

  biradsMeaning(value) {
    const item = this.scales.birads.find((b) => b.value === value);
    return item ? item.meaning : "";
  }

  /** The local copy of unsaved work, if the server has not got it. */
  restoreLocal() {
    if (this.readOnly) {
      this.store.discardLocal();
      return;
    }
    const copy = this.store.restorable(this.editor.label, (raw) => normaliseLabel(raw, this.scaleValues()));
    if (!copy) return;
    if (copy.current) {
      this.editor.replace(copy.label);
      this.notice("Restored changes from this browser that had not reached the server; saving them now.");
      this.store.adoptRestored();
      return;
    }
    // Based on an older version: the server moved on (another tab). Ask, never overwrite.
    const when = copy.at ? new Date(copy.at).toLocaleString() : "earlier";
    this.banner(
      "warn",
      `This browser holds changes to this case that never reached the server (made ${when}), ` +
        "but the case has been saved since from elsewhere. Use them instead of the saved version?",
      [
        [
          "Use the changes from this browser",
          () => {
            this.clearBanner();
            this.change(() => this.editor.useLabel(copy.label));
          },
        ],
        [
          "Discard them",
          () => {
            this.store.discardLocal();
            this.clearBanner();
          },
        ],
      ],
    );
  }

  // --- building the page -----------------------------------------------------------------------

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

    this.mountViewer(detail.images || []);
    this.on(this.viewerEl, "wheel", () => this.interacted(), { passive: true });
    this.on(this.viewerEl, "pointerdown", () => this.interacted(), { passive: true });
    this.on(side, "pointerdown", () => this.interacted(), { passive: true });
    this.clock = setInterval(() => this.renderTime(), 1000);
    if (this.readOnly) this.showSubmittedState();
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
        this.overlay?.drawAll();
      },
      onViewChange: (imageId) => {
        if (!this.destroyed) this.overlay?.draw(imageId);
      },
    });
    this.overlay = new BoxOverlay({
      viewer: this.viewer,
      viewerEl: this.viewerEl,
      images: this.images,
      host: this.overlayHost(),
    });
    this.overlay.listen((target, type, handler, options) => this.on(target, type, handler, options));
  }

  /** What the box overlay asks of the screen. */
  overlayHost() {
    return {
      alive: () => this.alive(),
      editable: () => !this.readOnly,
      drawing: () => this.drawMode,
      ownBoxes: () => this.editor.label.boxes,
      readerBoxes: (slot) => (this.show[slot] && this.otherReads.get(slot)?.boxes) || null,
      isSelected: (owner, id) => this.isSelected(owner, id),
      isHot: (slot, id) => this.isHot(slot, id),
      select: (selection) => this.select(selection),
      findBox: (id) => this.editor.findBox(id),
      snapshot: () => this.editor.snapshot(),
      commit: (before) => {
        this.editor.commit(before);
        this.edited();
      },
      addBox: (imageId, rect) => this.addBox(imageId, rect),
    };
  }

  // --- rendering -------------------------------------------------------------------------------

  renderAll() {
    if (!this.editor || !this.panel.breastEls) return;
    this.panel.render();
    this.panel.renderSave();
    this.renderTime();
    this.renderMode();
    this.overlay?.drawAll();
    this.root.classList.toggle("rd-readonly", this.readOnly);
  }

  renderTime() {
    if (!this.alive() || !this.panel.timeEl) return;
    const now = Date.now();
    let seconds = this.activeSeconds;
    if (!this.readOnly) {
      // Tick between server updates while the reader is active (the server has the truth).
      const idleMs = (this.detail?.idle_limit_seconds || IDLE_DISPLAY_MS / 1000) * 1000;
      const activeUntil = Math.min(now, this.lastInteraction + idleMs);
      seconds += Math.max(0, activeUntil - this.syncedAt) / 1000;
    }
    this.panel.timeEl.textContent = `Reading time ${formatDuration(seconds)}`;
  }

  renderMode() {
    this.panel.drawButton.setAttribute("aria-pressed", String(this.drawMode));
    this.panel.drawButton.disabled = this.readOnly;
    this.viewerEl.classList.toggle("rd-drawing", this.drawMode);
    const text = this.drawMode ? "Draw mode: drag on a view to draw a box · M or Esc to leave" : "";
    this.modeEl.textContent = text;
    this.modeEl.hidden = !text;
  }

  // --- editing -------------------------------------------------------------------------------

  /** Apply an edit through the label editor (`edit()` returns whether the label changed). */
  change(edit) {
    if (this.readOnly || !this.editor) return false;
    if (this.submitting) {
      this.flash("Submitting… changes are paused until the server answers.");
      this.renderAll();
      return false;
    }
    const changed = edit();
    if (changed) this.edited();
    else this.renderAll();
    return changed;
  }

  /** After every change to the label: local copy, debounced save, re-render. */
  edited() {
    this.interacted();
    this.store.changed();
    if (this.selected && !this.selectedExists()) this.selected = null;
    this.renderAll();
  }

  undo(redo = false) {
    if (this.readOnly) return;
    const step = this.editor.undo(redo);
    if (!step) return;
    if (step.restored) this.selected = { owner: "own", id: step.restored }; // an undone delete: select it again
    this.edited();
    this.flash(redo ? "Redone." : "Undone.");
  }

  setNote(text) {
    this.change(() => this.editor.setNote(text));
  }

  setBreast(lat, field, value) {
    this.setActive(lat);
    this.change(() => this.editor.setBreast(lat, field, value));
  }

  setActive(lat) {
    if (this.activeLat === lat) return;
    this.activeLat = lat;
    if (this.panel.breastEls) this.panel.renderBreasts();
  }

  selectedOwnBox() {
    return this.selected && this.selected.owner === "own" ? this.editor.findBox(this.selected.id) : null;
  }

  readerBox(slot, id) {
    const read = this.otherReads.get(slot);
    return read?.boxes.find((box) => box.id === id) || null;
  }

  selectedExists() {
    const s = this.selected;
    if (!s) return false;
    return Boolean(s.owner === "own" ? this.editor.findBox(s.id) : this.readerBox(s.owner, s.id));
  }

  isSelected(owner, id) {
    return Boolean(this.selected && this.selected.owner === owner && this.selected.id === id);
  }

  isHot(slot, id) {
    return this.highlighted.has(`${slot}:${id}`);
  }

  select(selection) {
    this.selected = selection;
    if (selection) {
      const box =
        selection.owner === "own" ? this.editor.findBox(selection.id) : this.readerBox(selection.owner, selection.id);
      const image = box && this.images.get(box.image_id);
      if (image?.laterality) this.activeLat = image.laterality;
      if (selection.owner !== "own" && !this.show[selection.owner]) this.setShown(selection.owner, true);
    }
    this.renderAll();
    const row = selection && this.panel.element.querySelector(".rd-finding.rd-selected");
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  addBox(imageId, rect) {
    let box = null;
    this.change(() => {
      box = this.editor.addBox(imageId, rect);
      return true;
    });
    if (!box) return;
    this.select({ owner: "own", id: box.id });
    this.flash(`Box ${this.editor.boxNumber(box.id)} drawn: press / to choose its category.`);
  }

  deleteBox(id) {
    const number = this.editor.boxNumber(id);
    if (!number) return;
    this.change(() => this.editor.deleteBox(id) > 0);
    this.flash(`Box ${number} deleted (Ctrl + Z to undo).`);
  }

  /** Delete the selected box (the Delete key); false when none is selected. */
  deleteSelected() {
    const box = this.selectedOwnBox();
    if (!box) return false;
    this.deleteBox(box.id);
    return true;
  }

  toggleCategory(name) {
    const box = this.selectedOwnBox();
    if (box) this.change(() => this.editor.toggleCategory(box.id, name));
  }

  setFindingBirads(value) {
    const box = this.selectedOwnBox();
    if (!box) {
      this.flash("Select a box first (Tab, or click it).");
      return;
    }
    if (!this.editor.isGraded(box)) {
      this.flash("Choose a graded lesion category first: only graded lesions carry a finding BI-RADS.");
      return;
    }
    this.change(() => this.editor.setFindingBirads(box.id, value) === "changed");
  }

  cycleBoxes(step) {
    const boxes = this.editor.label.boxes;
    if (!boxes.length) return false;
    const index =
      this.selected && this.selected.owner === "own" ? boxes.findIndex((b) => b.id === this.selected.id) : -1;
    const first = step > 0 ? 0 : boxes.length - 1;
    const next = index < 0 ? first : (index + step + boxes.length) % boxes.length;
    this.select({ owner: "own", id: boxes[next].id });
    return true;
  }

  setDrawMode(on) {
    this.drawMode = this.readOnly ? false : on;
    this.renderMode();
  }

  setShown(slot, on) {
    this.show[slot] = on;
    if (this.panel.readerToggles[slot]) this.panel.readerToggles[slot].checked = on;
    if (!on && this.selected && this.selected.owner === slot) this.selected = null;
    this.renderAll();
  }

  takeBox(slot, id) {
    const source = this.readerBox(slot, id);
    if (!source || this.readOnly) return;
    let box = null;
    this.change(() => {
      box = this.editor.copyBox(source);
      return true;
    });
    if (!box) return;
    this.select({ owner: "own", id: box.id });
    this.flash(`Reader ${slot}'s box taken as your box ${this.editor.boxNumber(box.id)}; edit it as you like.`);
  }

  /** T: take the selected reader box (true: the key was used, even to say how). */
  takeSelected() {
    if (this.selected && this.selected.owner !== "own") this.takeBox(this.selected.owner, this.selected.id);
    else this.flash("Click a reader's box first, then T takes it.");
    return true;
  }

  takeBreast(slot, lat) {
    const read = this.otherReads.get(slot);
    if (!read) return;
    this.setActive(lat);
    this.change(() => this.editor.setBreastValues(lat, read.breasts[lat]));
  }

  showDiscordance(d) {
    if (d.laterality) this.setActive(d.laterality);
    const ids = d.box_ids || [];
    for (const slot of READER_SLOTS) {
      const read = this.otherReads.get(slot);
      const box = read?.boxes.find((b) => ids.includes(b.id) && this.isHot(slot, b.id));
      if (box) {
        this.select({ owner: slot, id: box.id });
        return;
      }
    }
    if (d.laterality) this.panel.focusChoice(d.laterality, d.kind === "density" ? "density" : "birads");
  }

  returnFocus() {
    const pane = this.overlay?.lastPane;
    const target = pane?.isConnected ? pane : this.viewerEl.querySelector(".mr-pane[data-image-id]");
    if (target) target.focus({ preventScroll: true });
  }

  onKey(e) {
    if (this.alive() && this.editor && this.panel.breastEls) keys.onKey(this, e);
  }

  // --- messages and banners ------------------------------------------------------------------

  flash(text) {
    clearTimeout(this.flashTimer);
    this.modeEl.textContent = text;
    this.modeEl.hidden = false;
    this.flashTimer = setTimeout(() => {
      if (!this.destroyed) this.renderMode();
    }, FLASH_MS);
  }

  notice(text) {
    this.banner("ok", text, [["Dismiss", () => this.clearBanner()]]);
  }

  banner(kind, text, actions = []) {
    const buttons = actions.map(([label, fn], index) =>
      h(
        "button",
        { type: "button", class: `btn btn-small${index === 0 ? " btn-primary" : ""}`, on: { click: fn } },
        label,
      ),
    );
    const box = h(
      "div",
      { class: `alert alert-${kind} rd-banner`, role: kind === "error" ? "alert" : "status", "data-kind": kind },
      h("p", { text }),
      buttons.length ? h("div", { class: "rd-banner-actions" }, buttons) : null,
    );
    this.bannerEl.replaceChildren(box);
    return box;
  }

  clearBanner() {
    this.bannerEl.replaceChildren();
  }

  // --- saving --------------------------------------------------------------------------------

  /** The server took a draft: its time, and its live hints. */
  saved(data) {
    this.activeSeconds = Number(data.active_seconds) || this.activeSeconds;
    this.lastTouch = Date.now();
    this.syncedAt = this.lastTouch;
    this.hints = data.hints || [];
    // A submit violation disappears once the live hints no longer report its field.
    this.violations = this.violations.filter((v) => this.hints.some((hint) => hint.field === v.field));
    if (!this.violations.length) this.generalMessages = [];
    this.panel.renderMessages();
  }

  /** Saving stopped: a conflict asks the reader; anything else closes editing. */
  savingStopped(reason, error) {
    const back = [["Back to the worklist", () => this.go(this.worklistUrl)]];
    if (reason === "conflict") {
      this.banner(
        "error",
        "This case was changed in another tab or window after this one loaded it, so this tab has " +
          "stopped saving rather than overwrite that work. Your latest changes here are not on the server.",
        [
          ["Reload the newest version", () => this.reloadFromServer()],
          ["Keep this tab's version (overwrites the other)", () => this.overwriteFromHere()],
        ],
      );
    } else if (reason === "gone") {
      this.readOnly = true;
      this.banner("error", `This case is no longer yours to read: ${error.message}`, back);
    } else {
      this.readOnly = true;
      this.drawMode = false;
      this.banner("error", error.message, back);
    }
    this.renderAll();
  }

  async reloadFromServer() {
    const result = await api("GET", this.apiUrl);
    if (!this.alive()) return;
    if (!result.ok) {
      this.banner("error", `The newest version could not be loaded: ${result.error.message}`, [
        ["Try again", () => this.reloadFromServer()],
      ]);
      return;
    }
    const detail = result.data;
    this.store.reset(detail.version);
    this.editor.replace(detail.draft);
    this.status = detail.status;
    this.readOnly = detail.status === "submitted";
    this.activeSeconds = Number(detail.active_seconds) || this.activeSeconds;
    this.syncedAt = Date.now();
    this.hints = [];
    this.violations = [];
    if (this.selected && !this.selectedExists()) this.selected = null;
    this.panel.noteEl.value = this.editor.label.note;
    this.clearBanner();
    if (this.readOnly) this.showSubmittedState();
    this.renderAll();
    this.flash("Loaded the newest version.");
  }

  async overwriteFromHere() {
    const result = await api("GET", this.apiUrl);
    if (!this.alive()) return;
    if (!result.ok) {
      this.banner("error", `Could not reach the server: ${result.error.message}`, [
        ["Try again", () => this.overwriteFromHere()],
      ]);
      return;
    }
    if (result.data.status === "submitted") {
      this.banner("error", "This case has been submitted from elsewhere; it can no longer change.", []);
      return;
    }
    this.clearBanner();
    this.store.overwrite(result.data.version);
    this.renderAll();
  }

  interacted() {
    this.lastInteraction = Date.now();
    if (this.readOnly || !this.store || this.store.blocked) return;
    // Zooming and windowing count as reading time too (saves count by themselves).
    if (Date.now() - this.lastTouch >= ACTIVITY_EVERY_MS && !this.store.inFlight) {
      this.lastTouch = Date.now();
      api("POST", `${this.apiUrl}/activity`).then((result) => {
        if (result.ok) this.syncedAt = Date.now();
      });
    }
  }

  unsaved() {
    return !this.destroyed && Boolean(this.store?.unsaved());
  }

  // --- submitting ----------------------------------------------------------------------------

  async submit() {
    if (this.submitting || this.readOnly || !this.editor || this.store.blocked) return;
    const button = this.panel.submitButton;
    this.submitting = true;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    this.store.cancelScheduled();
    try {
      await this.store.idle(); // the version must be the newest
      if (this.store.blocked) return;
      const body = { label: this.editor.value(), version: this.store.version };
      const result = await api("POST", `${this.apiUrl}/submit`, body);
      if (!this.destroyed) this.submitAnswered(result);
    } finally {
      this.submitting = false;
      button.removeAttribute("aria-busy");
      if (!this.destroyed) {
        this.renderAll();
        if (this.store.dirty && !this.readOnly) this.store.schedule();
      }
    }
  }

  submitAnswered(result) {
    if (result.ok) {
      this.submitted = result.data;
      this.status = "submitted";
      this.readOnly = true;
      this.drawMode = false;
      this.violations = [];
      this.hints = (result.data.warnings || []).map((w) => ({ ...w, severity: "warning" }));
      this.store.submitted();
      this.showSubmittedState();
    } else if (result.status === 422 && result.error.code === "read_invalid") {
      this.violations = result.error.details.map((d) => ({
        field: d.field || "",
        message: d.message,
        severity: "error",
      }));
      this.generalMessages = [{ text: result.error.message, severity: "error" }];
      this.renderAll();
      this.focusFirstViolation();
    } else if (result.status === 409 || result.status === 404) {
      this.store.failed(result);
    } else {
      const text = `Not submitted: ${result.error.message}. Your work is kept; try again.`;
      this.generalMessages = [{ text, severity: "error" }];
    }
  }

  focusFirstViolation() {
    const first = this.violations[0];
    if (!first) return;
    this.panel.focusViolation(first.field);
    const message = this.root.querySelector(".rd-msg-error");
    if (message) message.scrollIntoView({ block: "nearest" });
  }

  showSubmittedState() {
    const done = this.submitted;
    const arbitration = this.kind === "arbitrate";
    this.generalMessages = [];
    let text = "This case is submitted; it can no longer change.";
    if (done) {
      // A reader learns only that their read is in (blinding); an arbitration ends the study.
      const after = arbitration ? "the study is final" : "your read is in";
      const what = arbitration ? "Arbitration submitted" : "Submitted";
      text = `${what}${done.repeated ? " (already submitted before)" : ""}; ${after}.`;
    }
    this.nextLink = this.panel.showResult(text, this.nextUrl, this.worklistUrl);
    this.renderAll();
    this.nextLink.focus({ preventScroll: true });
  }

  goNext() {
    if (this.nextLink?.isConnected) this.nextLink.click();
    else this.go(this.nextUrl);
  }

  go(url) {
    window.location.assign(url);
  }
}

// --- mounting and page-level listeners ---------------------------------------------------------

function listenToThePage() {
  window.addEventListener("beforeunload", (e) => {
    if (current?.unsaved()) {
      current.store.flushOnExit();
      e.preventDefault();
      e.returnValue = "";
    }
  });
  window.addEventListener("pagehide", () => {
    if (current?.unsaved()) current.store.flushOnExit();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && current?.unsaved() && !current.store.inFlight) current.store.flush();
  });
  // htmx navigation away (boosted links): let the last save land first.
  document.addEventListener("htmx:confirm", (e) => {
    const reading = current;
    if (!reading?.alive() || !reading.unsaved()) return;
    if (e.detail?.elt && reading.root.contains(e.detail.elt) && !e.detail.elt.matches("a")) return;
    e.preventDefault();
    reading.store.settle().then(() => e.detail.issueRequest(true));
  });
}

if (!window.MammoReading) {
  listenToThePage();
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
