// MammoRead reading screen, the images side: the viewer's four panes (zoom, pan, window / level
// and the presets are viewer.js's, window.MammoViewer), the box overlay mounted on them, the draw
// mode and its status line, the short messages flashed there and the banners above the screen.
// Methods of the screen (screen.js, mix-in.js).

const version = new URL(import.meta.url).search;
const [{ BoxOverlay }, { monthsText }] = await Promise.all([
  import(`./box-overlay.js${version}`),
  import(`./panel-aid.js${version}`),
]);

const FLASH_MS = 3500;
const PREFERENCES_URL = "/api/v1/me/preferences";
const PREFERENCE_SAVE_MS = 300;
const PRIOR_FLASH = {
  off: "Prior hidden (O shows it again).",
  cc: "Each CC beside its prior (O: the MLOs).",
  mlo: "Each MLO beside its prior (O: all eight views).",
  eight: "All eight views: current above, prior below (O: prior hidden).",
};

const { h, api } = window.MammoCommon;

// Esc in the browser's full screen leaves it: reading mode ends with it (once per page load).
document.addEventListener("fullscreenchange", () => {
  if (!document.fullscreenElement) document.documentElement.classList.remove("mr-reading-mode");
});

export const stage = {
  /** The viewer with the case's four views and, where the project shows priors, the woman's
   * most recent earlier exam (key O; never part of the read: no box may be drawn on it). */
  mountViewer(images, prior) {
    if (!window.MammoViewer) {
      this.viewerEl.textContent = "The image viewer did not load.";
      return;
    }
    this.viewer = window.MammoViewer.mount(this.viewerEl, {
      images,
      layout: "four",
      tool: "pan",
      priors: prior ? prior.images : [],
      priorLabel: prior ? `${monthsText(prior.months_before)} earlier` : "",
      onPriorsChange: (mode) => {
        this.savePreference({ priors: mode });
        this.flash(PRIOR_FLASH[mode] || "");
      },
      onHangingChange: (hanging) => this.savePreference({ hanging }),
      onLinkedChange: (linked) => {
        this.savePreference({ linked });
        this.flash(linked ? "Zoom and pan linked across the pair (L)." : "Zoom and pan unlinked (L).");
      },
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
    this.loadPreferences();
  },

  /** The user's hanging and linked zoom, kept on the server (GET/PATCH /api/v1/me/preferences). */
  async loadPreferences() {
    const result = await api("GET", PREFERENCES_URL);
    if (!result.ok || !this.alive() || !this.viewer) return;
    this.applyingPreferences = true;
    try {
      this.viewer.setHanging(result.data.hanging);
      if (this.viewer.hasPriors() && result.data.priors) this.viewer.setPriors(result.data.priors);
      if (result.data.linked !== this.viewer.linked()) this.viewer.setLinked(result.data.linked);
    } finally {
      this.applyingPreferences = false;
    }
    this.viewerEl.dataset.preferences = "loaded";
  },

  savePreference(change) {
    if (this.applyingPreferences || this.destroyed) return;
    this.pendingPreferences = { ...this.pendingPreferences, ...change };
    clearTimeout(this.preferenceTimer);
    this.preferenceTimer = setTimeout(() => {
      const body = this.pendingPreferences;
      this.pendingPreferences = null;
      if (body) api("PATCH", PREFERENCES_URL, body, { keepalive: true });
    }, PREFERENCE_SAVE_MS);
  },

  /** Reading mode (W): no navigation bar, the browser full screen; W again (or Esc) leaves. */
  toggleReadingMode() {
    const root = document.documentElement;
    const on = !root.classList.contains("mr-reading-mode");
    root.classList.toggle("mr-reading-mode", on);
    if (on) {
      if (!document.fullscreenElement && root.requestFullscreen) root.requestFullscreen().catch(() => {});
    } else if (document.fullscreenElement && document.exitFullscreen) {
      document.exitFullscreen().catch(() => {});
    }
    this.flash(on ? "Reading mode: W to leave." : "Reading mode off.");
  },

  /** What the box overlay asks of the screen. */
  overlayHost() {
    return {
      alive: () => this.alive(),
      editable: () => !this.readOnly,
      drawing: () => this.drawMode,
      ownBoxes: () => this.editor.label.boxes,
      readerBoxes: (slot) =>
        (this.show[slot] && (slot === "ai" ? this.aid?.marks : this.otherReads.get(slot)?.boxes)) || null,
      isSelected: (owner, id) => this.isSelected(owner, id),
      isHot: (slot, id) => this.isHot(slot, id),
      select: (selection) => this.select(selection),
      findBox: (id) => this.editor.findBox(id),
      snapshot: () => this.editor.snapshot(),
      commit: (before) => {
        this.editor.commit(before);
        this.edited();
      },
      addBox: (imageId, rect, options) => {
        // One box per draw mode: it ends unless Shift was held (the flash then says so).
        if (!options?.keepDrawing && this.drawMode) this.setDrawMode(false);
        this.addBox(imageId, rect);
      },
    };
  },

  renderMode() {
    this.panel.drawButton.setAttribute("aria-pressed", String(this.drawMode));
    this.panel.drawButton.disabled = this.readOnly;
    this.viewerEl.classList.toggle("rd-drawing", this.drawMode);
    const text = this.drawMode
      ? "Draw mode: drag to draw one box (Shift held as it ends: another) · Space + drag pans · M or Esc to leave"
      : "";
    this.modeEl.textContent = text;
    this.modeEl.hidden = !text;
  },

  setDrawMode(on) {
    this.drawMode = this.readOnly ? false : on;
    this.renderMode();
  },

  returnFocus() {
    const pane = this.overlay?.lastPane;
    const target = pane?.isConnected ? pane : this.viewerEl.querySelector(".mr-pane[data-image-id]");
    if (target) target.focus({ preventScroll: true });
  },

  flash(text) {
    clearTimeout(this.flashTimer);
    this.modeEl.textContent = text;
    this.modeEl.hidden = false;
    this.flashTimer = setTimeout(() => {
      if (!this.destroyed) this.renderMode();
    }, FLASH_MS);
  },

  notice(text) {
    this.banner("ok", text, [["Dismiss", () => this.clearBanner()]]);
  },

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
  },

  clearBanner() {
    this.bannerEl.replaceChildren();
  },
};
