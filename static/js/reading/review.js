// MammoRead study review (administrators): the study's four views, read-only, with the boxes of
// each read drawn on them in the read's colour (reader 1, reader 2, and the final label or the
// arbitration), each layer shown or hidden by its checkbox or by Shift + 1 / 2 / 3. Mounts on
// `#review[data-review]` (templates/reading/study.html); the boxes are box-overlay.js's, with
// every editing gesture off. Needs common.js and viewer.js (classic scripts loaded before it).

const { BoxOverlay } = await import(`./box-overlay.js${new URL(import.meta.url).search}`);

const { Screen, keepMounted, isTextEntry } = window.MammoCommon;
const LAYERS = { Digit1: "1", Digit2: "2", Digit3: "final" };

class Review extends Screen {
  start() {
    let data;
    try {
      data = JSON.parse(this.root.dataset.review || "null");
    } catch (_error) {
      data = null;
    }
    this.viewerEl = this.root.querySelector(".rv-viewer");
    if (!data || !this.viewerEl || !window.MammoViewer) {
      if (this.viewerEl) this.viewerEl.textContent = "The image viewer did not load.";
      return;
    }
    this.reads = new Map(); // slot -> label, the newest read of each reader slot
    for (const read of data.reads) if (read.slot > 0) this.reads.set(read.slot, read.label);
    const arbitrations = data.reads.filter((read) => read.slot === 0);
    this.final = data.final_label || arbitrations.at(-1)?.label || null;
    this.hot = new Set();
    for (const d of data.discordances || []) {
      for (const id of d.box_ids || []) this.hot.add(`${d.reader ?? ""}:${id}`);
    }
    this.boxes = this.root.querySelectorAll("[data-layer]");
    const images = new Map(data.images.map((i) => [i.image_id, { columns: i.columns, rows: i.rows }]));
    this.viewer = window.MammoViewer.mount(this.viewerEl, {
      images: data.images,
      layout: "four",
      tool: "pan",
      onReady: () => {
        if (!this.alive()) return;
        this.root.dataset.state = "ready";
        this.overlay.drawAll();
      },
      onViewChange: (imageId) => {
        if (this.alive()) this.overlay.draw(imageId);
      },
    });
    this.overlay = new BoxOverlay({ viewer: this.viewer, viewerEl: this.viewerEl, images, host: this.host() });
    for (const input of this.boxes) this.on(input, "change", () => this.overlay.drawAll());
    this.on(window, "resize", () => this.overlay.drawAll());
  }

  shown(layer) {
    const input = [...this.boxes].find((el) => el.dataset.layer === layer);
    return Boolean(input?.checked);
  }

  /** What the box overlay asks: nothing is editable or selectable here. */
  host() {
    return {
      alive: () => this.alive(),
      editable: () => false,
      drawing: () => false,
      ownBoxes: () => (this.final && this.shown("final") ? this.final.boxes : []),
      readerBoxes: (slot) => (this.shown(String(slot)) && this.reads.get(slot)?.boxes) || null,
      isSelected: () => false,
      isHot: (slot, id) => this.hot.has(`${slot}:${id}`),
      select: () => {},
      findBox: () => null,
      snapshot: () => null,
      commit: () => {},
      addBox: () => {},
    };
  }

  onKey(e) {
    const layer = LAYERS[e.code];
    if (!layer || !e.shiftKey || e.ctrlKey || e.metaKey || e.altKey || isTextEntry(e.target)) return;
    const input = [...this.boxes].find((el) => el.dataset.layer === layer);
    if (!input || input.disabled) return;
    e.preventDefault();
    e.stopPropagation();
    input.checked = !input.checked;
    this.overlay?.drawAll();
  }

  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const cleanup of this.cleanups) cleanup();
    this.viewer?.destroy();
  }
}

let current = null;
if (!window.MammoReview) {
  keepMounted("review", {
    current: () => current,
    create(root) {
      current = new Review(root);
      current.start();
    },
  });
  window.MammoReview = Object.freeze({
    /** For tests: the layers shown and how many boxes each draws. */
    state() {
      if (!current?.overlay) return null;
      const drawn = {};
      for (const el of current.viewerEl.querySelectorAll(".rd-box")) {
        const owner = el.dataset.owner || "draft";
        drawn[owner] = (drawn[owner] || 0) + 1;
      }
      return { ready: current.root.dataset.state === "ready", drawn };
    },
  });
}
