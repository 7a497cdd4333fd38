// MammoRead reading screen, the box overlay: the boxes drawn over each view of the viewer
// (static/js/viewer.js) and the pointer gestures that draw, move and resize them.
//
// Boxes are stored in each image's ORIGINAL, unflipped, full-resolution pixel grid: every
// screen <-> image conversion goes through the viewer's toImage / toScreen. What to draw and
// what a gesture does are the host's (the screen's) business; see BoxOverlay's constructor.

const SVG_NS = "http://www.w3.org/2000/svg";
const MIN_DRAW_PX = 4; // a smaller drag is a click, not a box
const MOVE_THRESHOLD_PX = 3;
const READER_SLOTS = [1, 2];
// The owner of an aided session's model marks (like a reader's boxes: picked, never edited).
const AI_SLOT = "ai";

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
  return value < low ? low : Math.min(value, high);
}

/** The box-shaped {xmin, ymin, xmax, ymax} spanned by two points. */
function span(a, b) {
  return { xmin: Math.min(a.x, b.x), ymin: Math.min(a.y, b.y), xmax: Math.max(a.x, b.x), ymax: Math.max(a.y, b.y) };
}

/** The overlays of one viewer. `images` maps image_id -> {columns, rows}; `host` is the screen:
 *   alive(), editable(), drawing(): whether it still runs, may change the label, is in draw mode;
 *   ownBoxes(): the label's boxes (a gesture changes them in place); readerBoxes(slot): the
 *   shown boxes of reader 1 or 2 (or "ai": the model's marks, with scores), or null; isSelected(owner, id); isHot(slot, id): discordant;
 *   select(selection), findBox(id), snapshot(), commit(before): after a move or resize;
 *   addBox(imageId, rect, {keepDrawing}): after a draw (keepDrawing: Shift held at the end). */
export class BoxOverlay {
  constructor({ viewer, viewerEl, images, host }) {
    this.viewer = viewer;
    this.viewerEl = viewerEl;
    this.images = images;
    this.host = host;
    this.overlays = new Map(); // image_id -> svg
    this.drag = null;
    this.lastPane = null;
    // a prior's views carry no boxes: they are never part of the read
    for (const pane of viewerEl.querySelectorAll(".mr-pane[data-image-id]:not([data-prior])")) {
      const overlay = svg("svg", { class: "rd-overlay", "aria-hidden": "true" });
      const canvas = pane.querySelector("canvas");
      if (canvas) canvas.after(overlay);
      else pane.append(overlay);
      this.overlays.set(pane.dataset.imageId, overlay);
    }
  }

  /** Listen through `on(target, type, handler, options)` (the screen's, undone on destroy). */
  listen(on) {
    // Capture phase on the viewer: a box gesture never reaches the viewer's pan handler.
    on(this.viewerEl, "pointerdown", (e) => this.onPointerDown(e), true);
    on(window, "pointermove", (e) => this.onPointerMove(e));
    on(window, "pointerup", (e) => this.onPointerUp(e, false));
    on(window, "pointercancel", (e) => this.onPointerUp(e, true));
  }

  // --- drawing -------------------------------------------------------------------------------

  drawAll() {
    for (const imageId of this.overlays.keys()) this.draw(imageId);
  }

  draw(imageId) {
    const overlay = this.overlays.get(imageId);
    if (!overlay) return;
    const frame = overlay.getBoundingClientRect();
    if (frame.width < 1) return;
    const children = [];
    for (const item of this.items(imageId)) {
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

  /** The boxes on one image, the readers' under the reader's own: {owner, box, tag}. */
  items(imageId) {
    const items = [];
    for (const slot of READER_SLOTS) {
      const boxes = this.host.readerBoxes(slot);
      if (!boxes) continue;
      boxes.forEach((box, index) => {
        if (box.image_id === imageId) items.push({ owner: slot, box, tag: `${slot}·${index + 1}` });
      });
    }
    // an aided session's model marks, tagged with their score
    for (const box of this.host.readerBoxes(AI_SLOT) || []) {
      if (box.image_id === imageId) items.push({ owner: AI_SLOT, box, tag: `AI ${Math.round(box.score * 100)}%` });
    }
    this.host.ownBoxes().forEach((box, index) => {
      if (box.image_id === imageId) items.push({ owner: "own", box, tag: String(index + 1) });
    });
    return items;
  }

  screenRect(imageId, frame, box) {
    const a = this.viewer.toScreen(imageId, box.xmin, box.ymin);
    const b = this.viewer.toScreen(imageId, box.xmax, box.ymax);
    if (!a || !b) return null;
    const x = Math.min(a.clientX, b.clientX) - frame.left;
    const y = Math.min(a.clientY, b.clientY) - frame.top;
    return { x, y, w: Math.abs(b.clientX - a.clientX), h: Math.abs(b.clientY - a.clientY) };
  }

  boxGraphic(imageId, frame, { owner, box, tag }) {
    const r = this.screenRect(imageId, frame, box);
    if (!r) return null;
    const draft = owner === "draft";
    const selected = !draft && this.host.isSelected(owner, box.id);
    const hot = owner !== "own" && !draft && this.host.isHot(owner, box.id);
    const kind = owner === "own" ? "rd-own" : draft ? "rd-draft" : `rd-r${owner}`;
    const group = svg("g", {
      class: `rd-box ${kind}${selected ? " rd-selected" : ""}${hot ? " rd-hot" : ""}`,
      "data-box-id": draft ? null : box.id,
      "data-owner": draft ? null : String(owner),
    });
    const geometry = { x: r.x, y: r.y, width: Math.max(r.w, 1), height: Math.max(r.h, 1) };
    if (!draft) group.append(svg("rect", { class: "rd-hit", ...geometry }));
    if (hot) group.append(svg("rect", { class: "rd-halo", ...geometry }));
    group.append(svg("rect", { class: "rd-line", ...geometry }));
    if (tag) group.append(this.tagGraphic(r, tag));
    if (owner === "own" && selected && this.host.editable()) {
      group.append(...this.handles(imageId, frame, box, r));
    }
    return group;
  }

  tagGraphic(r, tag) {
    const width = 8 + 7 * tag.length;
    const ty = r.y >= 17 ? r.y - 17 : r.y + 1;
    const group = svg("g", { class: "rd-tag" });
    group.append(svg("rect", { x: r.x, y: ty, width, height: 16, rx: 2 }));
    group.append(svg("text", { x: r.x + 4, y: ty + 12, text: tag }));
    return group;
  }

  /** Resize handles on the image corners, wherever the (possibly mirrored) view puts them. */
  handles(imageId, frame, box, r) {
    const found = [];
    for (const cx of [0, 1]) {
      for (const cy of [0, 1]) {
        const p = this.viewer.toScreen(imageId, cx ? box.xmax : box.xmin, cy ? box.ymax : box.ymin);
        if (!p) continue;
        const px = p.clientX - frame.left;
        const py = p.clientY - frame.top;
        const leftOnScreen = px <= r.x + r.w / 2;
        const topOnScreen = py <= r.y + r.h / 2;
        const cursor = leftOnScreen === topOnScreen ? "rd-nwse" : "rd-nesw";
        const attrs = { "data-corner": `${cx}${cy}`, x: px - 5, y: py - 5, width: 10, height: 10 };
        found.push(svg("rect", { class: `rd-handle ${cursor}`, ...attrs }));
      }
    }
    return found;
  }

  // --- gestures ------------------------------------------------------------------------------

  clampToImage(imageId, p) {
    const image = this.images.get(imageId);
    if (!image) return p;
    return { x: clamp(p.x, 0, image.columns), y: clamp(p.y, 0, image.rows) };
  }

  /** Stop drawing a box (Esc); true when one was being drawn. */
  cancelDraw() {
    if (this.drag?.mode !== "draw") return false;
    const imageId = this.drag.imageId;
    this.drag = null;
    this.draw(imageId);
    return true;
  }

  onPointerDown(e) {
    if (!this.host.alive() || e.button !== 0 || e.ctrlKey || e.metaKey || e.altKey || this.drag) return;
    if (this.viewer.panKeyHeld?.()) return; // Space + drag pans, even in draw mode
    const target = e.target instanceof Element ? e.target : null;
    const pane = target?.closest(".mr-pane[data-image-id]");
    if (!pane || pane.dataset.prior) return;
    const boxEl = target.closest("[data-box-id]");
    const owner = boxEl ? boxEl.dataset.owner : null;
    if (owner === "1" || owner === "2" || owner === AI_SLOT) {
      // Reader boxes and model marks are not editable: a click picks one (to take it).
      e.preventDefault();
      e.stopPropagation();
      pane.focus({ preventScroll: true });
      this.host.select({ owner: owner === AI_SLOT ? AI_SLOT : Number(owner), id: boxEl.dataset.boxId });
      return;
    }
    if (!this.host.editable()) return;
    const imageId = pane.dataset.imageId;
    const start = this.viewer.toImage(imageId, e.clientX, e.clientY);
    if (!start) return;
    const drag = this.gestureAt(imageId, start, owner === "own" ? boxEl : null, target, e.shiftKey);
    if (!drag) return; // the viewer pans
    e.preventDefault();
    e.stopPropagation();
    pane.focus({ preventScroll: true });
    try {
      pane.setPointerCapture(e.pointerId);
    } catch (_error) {
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
      before: this.host.snapshot(),
    });
  }

  /** What a press at image point `start` begins: a move, a resize, a draw, or null. */
  gestureAt(imageId, start, boxEl, target, shift) {
    if (boxEl) {
      const box = this.host.findBox(boxEl.dataset.boxId);
      if (!box) return null;
      this.host.select({ owner: "own", id: box.id });
      const corner = target.dataset.corner;
      if (!corner) return { mode: "move", box, start, original: { ...box } };
      // The opposite image corner stays put; the dragged one follows the pointer.
      const fixed = { x: corner[0] === "0" ? box.xmax : box.xmin, y: corner[1] === "0" ? box.ymax : box.ymin };
      return { mode: "resize", box, fixed };
    }
    if (this.host.drawing() || shift) return { mode: "draw", start: this.clampToImage(imageId, start), rect: null };
    return null;
  }

  onPointerMove(e) {
    const d = this.drag;
    if (!d || e.pointerId !== d.pointerId || !this.host.alive()) return;
    if (!d.moved && Math.hypot(e.clientX - d.x0, e.clientY - d.y0) < MOVE_THRESHOLD_PX) return;
    d.moved = true;
    const raw = this.viewer.toImage(d.imageId, e.clientX, e.clientY);
    if (!raw) return;
    if (d.mode === "draw") {
      d.rect = span(d.start, this.clampToImage(d.imageId, raw));
      d.last = { clientX: e.clientX, clientY: e.clientY };
    } else if (d.mode === "move") {
      this.moveBox(d, raw);
    } else if (d.mode === "resize") {
      const p = this.clampToImage(d.imageId, raw);
      const rect = span(d.fixed, p);
      Object.assign(d.box, { xmin: rect.xmin, xmax: rect.xmax, ymin: rect.ymin, ymax: rect.ymax });
    }
    this.draw(d.imageId);
  }

  /** Move the dragged box with the pointer, never past the image's edges. */
  moveBox(d, raw) {
    const o = d.original;
    const image = this.images.get(d.imageId);
    let dx = raw.x - d.start.x;
    let dy = raw.y - d.start.y;
    if (image) {
      dx = clamp(dx, -o.xmin, image.columns - o.xmax);
      dy = clamp(dy, -o.ymin, image.rows - o.ymax);
    }
    Object.assign(d.box, { xmin: o.xmin + dx, xmax: o.xmax + dx, ymin: o.ymin + dy, ymax: o.ymax + dy });
  }

  onPointerUp(e, cancelled) {
    const d = this.drag;
    if (!d || e.pointerId !== d.pointerId) return;
    this.drag = null;
    try {
      if (d.pane.hasPointerCapture(e.pointerId)) d.pane.releasePointerCapture(e.pointerId);
    } catch (_error) {
      // already released
    }
    if (!this.host.alive()) return;
    if (d.mode !== "draw") {
      if (d.moved) this.host.commit(d.before);
      else this.draw(d.imageId);
      return;
    }
    const big =
      d.last && Math.abs(d.last.clientX - d.x0) >= MIN_DRAW_PX && Math.abs(d.last.clientY - d.y0) >= MIN_DRAW_PX;
    if (!cancelled && d.moved && d.rect && big && d.rect.xmax > d.rect.xmin && d.rect.ymax > d.rect.ymin) {
      // Draw mode ends with this box unless Shift is held as it is finished.
      this.host.addBox(d.imageId, d.rect, { keepDrawing: e.shiftKey });
    } else {
      this.draw(d.imageId);
    }
  }
}
