// MammoRead reading screen, the images side: the viewer's four panes (zoom, pan, window / level
// and the presets are viewer.js's, window.MammoViewer), the box overlay mounted on them, the draw
// mode and its status line, the short messages flashed there and the banners above the screen.
// Methods of the screen (screen.js, mix-in.js).

const { BoxOverlay } = await import(`./box-overlay.js${new URL(import.meta.url).search}`);

const FLASH_MS = 3500;

const { h } = window.MammoCommon;

export const stage = {
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
  },

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
  },

  renderMode() {
    this.panel.drawButton.setAttribute("aria-pressed", String(this.drawMode));
    this.panel.drawButton.disabled = this.readOnly;
    this.viewerEl.classList.toggle("rd-drawing", this.drawMode);
    const text = this.drawMode ? "Draw mode: drag on a view to draw a box · M or Esc to leave" : "";
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
