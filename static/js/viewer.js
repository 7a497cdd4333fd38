// MammoRead mammogram viewer: hanging protocols, client-side window/level, zoom/pan, and the
// image <-> screen coordinate mapping that annotation tools build on. No dependencies.
//
// Pipeline of one pane:
//   1. first paint: the server renders the image through the full display chain at the
//      pyramid width that covers the pane (GET /api/v1/images/{id}/render);
//   2. then the uint16 storage values of that pyramid level arrive (GET .../raw) and from
//      then on every window/level change is a 65,536-entry LUT gather done here, per frame,
//      with no server round trip;
//   3. zoomed in past that level, the finer level comes as the 512x512 tiles on screen
//      (GET .../tiles/{level}/{row}/{col}, uint16 values windowed here too), drawn over the
//      coarser level as they arrive; fetched tiles are kept (least recently drawn go first),
//      so panning back or zooming in again costs no request.
// Images are always requested UNFLIPPED; mirroring is part of the canvas transform, so the
// server-rendered and the client-windowed sources share one coordinate mapping.
"use strict";

(() => {
  // Loaded twice (page template and base layout)? One copy owns every viewer.
  if (window.MammoViewer) return;

  const LUT_SIZE = 65536;
  const SIGNED_OFFSET = 32768;
  const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  // Opaque grey RGBA as one 32-bit word per grey level (byte order of the platform).
  const GREY32 = new Uint32Array(256);
  for (let g = 0; g < 256; g++) {
    GREY32[g] = LITTLE_ENDIAN
      ? (0xff000000 | (g << 16) | (g << 8) | g) >>> 0
      : ((g << 24) | (g << 16) | (g << 8) | 0xff) >>> 0;
  }

  // Hanging protocols. `chestWall` is the pane edge the breast's chest wall should touch:
  // mirrored four-view hanging puts the chest walls back to back; the pairwise (CSAW-M)
  // screen shows both breasts pointing the same way, chest wall on the left.
  const LAYOUTS = {
    four: [
      { view: "R-CC", laterality: "R", projection: "CC", chestWall: "R" },
      { view: "L-CC", laterality: "L", projection: "CC", chestWall: "L" },
      { view: "R-MLO", laterality: "R", projection: "MLO", chestWall: "R" },
      { view: "L-MLO", laterality: "L", projection: "MLO", chestWall: "L" },
    ],
    pair: [{ chestWall: "L" }, { chestWall: "L" }],
    single: [{ chestWall: null }],
  };

  // Hangings of the four-view layout (the user's choice, key H): 2x2, 1x4 in a row, the CC
  // pair, the MLO pair. The CSS places and hides the panes; each pane fits its breast to it.
  const HANGINGS = ["grid", "row", "cc", "mlo"];
  // The woman's prior exam beside the current one (key O, where the reading screen passes
  // `priors`): off, each CC beside its prior, each MLO beside its prior, all eight views. The
  // priors are prefetched once the current views show, so switching costs no wait.
  const PRIOR_MODES = ["off", "cc", "mlo", "eight"];
  const LENS_CSS_PX = 280; // the magnifier's diameter
  const LENS_ZOOM = 3; // the magnifier's zoom over what the pane shows

  const MAX_ZOOM = 8; // device pixels per full-resolution image pixel
  const WL_PIXELS = 250; // CSS pixels of drag that change the window by its starting width
  const LEVEL_CHECK_MS = 150; // settle time after zooming before fetching a finer level
  const TILE = 512; // the server's tile size (app/imaging/tiled.py), level pixels
  const TILE_CACHE = 96; // tiles a viewer keeps (about 1.5 MB each: values and canvas)
  const TILE_FETCHES = 6; // tile requests in flight per pane
  const FALLBACK_RENDER_MS = 150; // debounce of server re-renders while raw data is missing
  // While the reader works (window / level drag, zoom, pan, a new hanging) a downscaled image is
  // drawn with the fast filter; once input has been still this long it is drawn again with the
  // high-quality one. Chromium's high-quality downscale of a 2560x1440 hanging costs more than
  // a frame, the fast one a few milliseconds: the change shows at once and sharpens right after.
  const REFINE_MS = 120;

  // --- the grey-scale display chain (mirrors app/imaging/display.py) -----------------------

  function normaliseFunction(name) {
    const value = String(name || "")
      .trim()
      .toUpperCase();
    return value === "LINEAR_EXACT" || value === "SIGMOID" ? value : "LINEAR";
  }

  /** Smallest and largest modality value representable with bits_stored bits. */
  function storedRange(display) {
    const bits = display.bits_stored;
    const low = display.signed ? -(2 ** (bits - 1)) : 0;
    const high = display.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    const a = low * slopeOf(display) + interceptOf(display);
    const b = high * slopeOf(display) + interceptOf(display);
    return [Math.min(a, b), Math.max(a, b)];
  }

  function slopeOf(display) {
    return display.rescale_slope == null ? 1 : Number(display.rescale_slope);
  }

  function interceptOf(display) {
    return display.rescale_intercept == null ? 0 : Number(display.rescale_intercept);
  }

  /** Whether the display is inverted once (MONOCHROME1, or MONOCHROME2 + INVERSE). */
  function invertsNatively(display) {
    if (String(display.photometric || "").toUpperCase() === "MONOCHROME1") return true;
    return String(display.presentation_lut_shape || "").toUpperCase() === "INVERSE";
  }

  /**
   * The VOI transform for a shared viewer state, with the server's priority: explicit
   * window; else the requested preset; else the VOI LUT Sequence; else the first preset;
   * else a LINEAR_EXACT ramp over the value range (or the full stored range).
   * state: {kind: "default"} | {kind: "preset", index} | {kind: "custom", center, width}
   */
  function resolveVoi(display, state) {
    const windows = display.windows || [];
    const fn = normaliseFunction(display.voi_function);
    if (state.kind === "custom") {
      return { kind: "window", center: state.center, width: state.width, fn, explanation: "" };
    }
    if (state.kind === "preset" && state.index < windows.length) {
      const w = windows[state.index];
      return { kind: "window", center: w.center, width: w.width, fn, explanation: w.explanation || "" };
    }
    if (display.voi_lut?.data?.length) {
      return { kind: "lut", lut: display.voi_lut };
    }
    if (windows.length) {
      const w = windows[0];
      return { kind: "window", center: w.center, width: w.width, fn, explanation: w.explanation || "" };
    }
    let [low, high] = display.value_range || storedRange(display);
    if (low > high) [low, high] = [high, low];
    return {
      kind: "window",
      center: (low + high) / 2,
      width: high > low ? high - low : 1,
      fn: "LINEAR_EXACT",
      explanation: "range",
    };
  }

  /** A window to start dragging from, for a pane whose VOI is a LUT (drag goes linear). */
  function draggableWindow(display, resolved) {
    if (resolved.kind === "window") return { center: resolved.center, width: resolved.width };
    const fallback = resolveVoi({ ...display, voi_lut: null }, { kind: "default" });
    return { center: fallback.center, width: fallback.width };
  }

  /**
   * Fill `out` (Uint8Array(65536), indexed by storage value) with display grey levels:
   * storage -> stored value -> modality rescale -> VOI (PS3.3 C.11.2.1.2 LINEAR /
   * LINEAR_EXACT / SIGMOID, or the VOI LUT Sequence scaled by its largest entry) -> 0..255
   * rounded half up -> inverted when `invert`.
   */
  function fillLut(out, display, resolved, invert) {
    const slope = slopeOf(display);
    const intercept = interceptOf(display);
    const offset = display.signed ? SIGNED_OFFSET : 0;
    const flipGrey = invert ? 255 : 0;
    let fraction;
    if (resolved.kind === "lut") {
      const data = resolved.lut.data;
      const first = resolved.lut.first_mapped;
      const last = data.length - 1;
      let top = 0;
      for (let i = 0; i < data.length; i++) if (data[i] > top) top = data[i];
      fraction = (x) => {
        if (top <= 0) return 0;
        const index = Math.floor(x - first);
        return data[index < 0 ? 0 : Math.min(index, last)] / top;
      };
    } else if (resolved.fn === "SIGMOID") {
      const center = resolved.center;
      const width = resolved.width;
      fraction = (x) => 1 / (1 + Math.exp((-4 * (x - center)) / width));
    } else {
      // LINEAR is LINEAR_EXACT with the centre moved by -0.5 and the width by -1.
      const exact = resolved.fn === "LINEAR_EXACT";
      const center = exact ? resolved.center : resolved.center - 0.5;
      const width = exact ? resolved.width : resolved.width - 1;
      const low = center - width / 2;
      const high = center + width / 2;
      fraction = (x) => {
        if (width === 0) return x > high ? 1 : 0;
        if (x <= low) return 0;
        if (x > high) return 1;
        return (x - center) / width + 0.5;
      };
    }
    for (let s = 0; s < LUT_SIZE; s++) {
      let f = fraction((s - offset) * slope + intercept);
      f = f > 0 ? Math.min(f, 1) : 0; // also maps NaN to 0
      out[s] = Math.floor(f * 255 + 0.5) ^ flipGrey;
    }
    return out;
  }

  function voiKey(resolved, invert) {
    if (resolved.kind === "lut") return `lut|${invert}`;
    return `${resolved.fn}|${resolved.center}|${resolved.width}|${invert}`;
  }

  /** Query string that makes the server render the same VOI (inversion excluded). */
  function serverVoiQuery(image, state) {
    const presets = image.display?.windows || [];
    if (state.kind === "custom") return `&wc=${state.center}&ww=${state.width}`;
    if (state.kind === "preset" && state.index < presets.length) return `&preset=${state.index}`;
    return "";
  }

  /** A display protocol the image is shown under (masking pairs set `image.protocol`, and its
   * `display` is already the protocol's); none for an image shown as its header says. */
  function protocolQuery(image) {
    return image.protocol ? `&protocol=${encodeURIComponent(image.protocol)}` : "";
  }

  /** Index of the narrowest pyramid level at least `wanted` wide; level 0 when none is. */
  function pickLevel(widths, wanted) {
    let best = 0;
    for (let k = 0; k < widths.length; k++) {
      if (widths[k] >= wanted && widths[k] <= widths[best]) best = k;
    }
    return best;
  }

  function formatValue(value) {
    const abs = Math.abs(value);
    if (abs >= 100) return String(Math.round(value));
    if (abs >= 1) return String(Math.round(value * 10) / 10);
    return String(Math.round(value * 1000) / 1000);
  }

  function isAbort(error) {
    return error && error.name === "AbortError";
  }

  // --- one pane -------------------------------------------------------------------------

  /** Raw storage values of one pyramid level, or of one tile of it (at level pixel x, y),
   * windowed into an off-screen canvas. */
  class Level {
    constructor(k, width, height, data, x = 0, y = 0) {
      this.k = k;
      this.x = x;
      this.y = y;
      this.width = width;
      this.height = height;
      this.factor = 2 ** k; // full-resolution pixels per level pixel
      this.data = data;
      this.canvas = document.createElement("canvas");
      this.canvas.width = width;
      this.canvas.height = height;
      this.ctx = this.canvas.getContext("2d");
      this.imageData = this.ctx.createImageData(width, height);
      this.pixels = new Uint32Array(this.imageData.data.buffer);
      this.key = "";
    }

    window(lut32, key) {
      const src = this.data;
      const out = this.pixels;
      for (let i = 0, n = src.length; i < n; i++) out[i] = lut32[src[i]];
      this.ctx.putImageData(this.imageData, 0, 0);
      this.key = key;
    }

    /** Draw in image space (full-resolution pixels, unflipped). */
    drawOn(ctx) {
      const f = this.factor;
      ctx.drawImage(this.canvas, this.x * f, this.y * f, this.width * f, this.height * f);
    }

    release() {
      // Shrinking the canvas frees its backing store now rather than at garbage collection.
      this.canvas.width = 0;
      this.canvas.height = 0;
      this.data = this.imageData = this.pixels = null;
    }
  }

  /** A raw level (or tile), or the server-rendered image, drawn in image space. */
  function drawSource(ctx, source) {
    if (source instanceof Level) {
      source.drawOn(ctx);
    } else {
      const { bitmap, factor } = source;
      ctx.drawImage(bitmap, 0, 0, bitmap.width * factor, bitmap.height * factor);
    }
  }

  /** Uint16 storage values from a little-endian response body. */
  function storageValues(buffer) {
    const data = new Uint16Array(buffer);
    if (!LITTLE_ENDIAN) {
      for (let i = 0; i < data.length; i++) data[i] = ((data[i] & 0xff) << 8) | (data[i] >> 8);
    }
    return data;
  }

  /** The tiles a viewer has fetched, least recently drawn first; at most TILE_CACHE. */
  class TileCache {
    constructor() {
      this.tiles = new Map(); // "image/level/row/col" -> Level
    }

    get(key) {
      const tile = this.tiles.get(key);
      if (tile) {
        this.tiles.delete(key); // to the end: drawn most recently
        this.tiles.set(key, tile);
      }
      return tile;
    }

    has(key) {
      return this.tiles.has(key);
    }

    add(key, tile) {
      this.tiles.set(key, tile);
      for (const [old, stale] of this.tiles) {
        if (this.tiles.size <= TILE_CACHE) break;
        stale.release();
        this.tiles.delete(old);
      }
    }

    /** Drop one image's tiles (its pane is gone), or all. */
    drop(prefix = "") {
      for (const [key, tile] of this.tiles) {
        if (key.startsWith(prefix)) {
          tile.release();
          this.tiles.delete(key);
        }
      }
    }
  }

  class Pane {
    constructor(viewer, slot, image) {
      this.viewer = viewer;
      this.image = image;
      this.prior = Boolean(slot.prior);
      this.view = slot.view || (image ? `${image.laterality || "?"}-${image.view || "?"}` : "?");
      const wall = image?.chest_wall_side;
      // Mirror when the detected chest wall is on the other edge than the protocol wants.
      this.flip = Boolean(image && slot.chestWall && wall && wall !== slot.chestWall);
      const shownWall = wall ? (this.flip ? (wall === "L" ? "R" : "L") : wall) : slot.chestWall;
      this.align = shownWall === "L" ? "left" : shownWall === "R" ? "right" : "center";

      this.el = document.createElement("div");
      this.el.className = "mr-pane";
      this.el.dataset.view = this.view;
      this.el.dataset.align = this.align;
      const name = this.view.replace("-", " ") + (this.prior ? ` prior, ${viewer.priorLabel}` : "");
      if (this.prior) this.el.dataset.prior = "true";
      const label = document.createElement("span");
      label.className = "mr-label";
      label.textContent = name;
      if (!image) {
        this.el.classList.add("mr-pane-missing");
        this.el.setAttribute("role", "note");
        const missing = document.createElement("span");
        missing.className = "mr-missing";
        missing.textContent = `${this.view}${this.prior ? " prior" : ""} missing`;
        this.el.append(label, missing);
        this.painted = this.rawReady = true;
        return;
      }
      this.el.dataset.imageId = image.image_id;
      this.el.dataset.flip = String(this.flip);
      this.el.tabIndex = 0;
      this.el.setAttribute("role", "group");
      this.el.setAttribute("aria-label", `${name} mammogram`);
      this.canvas = document.createElement("canvas");
      this.canvas.setAttribute("aria-hidden", "true");
      this.ctx = this.canvas.getContext("2d", { alpha: false });
      this.overlay = document.createElement("span");
      this.overlay.className = "mr-wl";
      this.status = document.createElement("span");
      this.status.className = "mr-status";
      this.status.hidden = true;
      this.el.append(this.canvas, label, this.overlay, this.status);

      this.columns = image.columns;
      this.rows = image.rows;
      const widths = Array.isArray(image.pyramid_widths) ? image.pyramid_widths : [];
      this.widths = widths.length ? widths : [image.columns];
      // Each level halves the one above, rounding up (app/imaging/pyramid.py).
      this.heights = this.widths.map((_, k) => {
        let height = image.rows;
        for (let i = 0; i < k; i++) height = Math.ceil(height / 2);
        return height;
      });
      this.scale = this.fitScale = 1; // device pixels per full-resolution image pixel
      this.ox = 0; // device position of the displayed (possibly mirrored) image's left edge
      this.oy = 0;
      this.fitLevel = this.wantLevel = this.widths.length - 1;
      this.lensLevel = -1; // the level the magnifier asked for, kept while it shows
      this.tissue = null; // fraction of the width the breast reaches from the chest wall
      this.fitted = true;
      this.oneToOne = false;
      this.levels = new Map();
      this.loading = new Set();
      this.failedLevels = new Set();
      this.viewTiles = []; // tiles the view still needs, nearest its centre first
      this.lensTiles = []; // tiles the magnifier still needs (fetched before the view's)
      this.tileLoading = new Set();
      this.failedTiles = new Set();
      this.rendered = null; // {bitmap, factor, key}
      this.renderSeq = 0;
      this.renderTimer = 0;
      this.levelTimer = 0;
      this.lut8 = new Uint8Array(LUT_SIZE);
      this.lut32 = new Uint32Array(LUT_SIZE);
      this.lutKey = "";
      this.started = false;
      this.renderFailed = false;
      this.painted = false;
      this.rawReady = false;
      this.rawFailed = false;
      this.failed = false;
      this.dirty = true;
      this.overlayText = "";
    }

    // geometry ------------------------------------------------------------------------

    /** Match the canvas backing store to its CSS size; false while the pane is hidden. */
    measure() {
      const rect = this.canvas.getBoundingClientRect();
      if (rect.width < 1 || rect.height < 1) return false;
      const dpr = window.devicePixelRatio || 1;
      const width = Math.max(1, Math.round(rect.width * dpr));
      const height = Math.max(1, Math.round(rect.height * dpr));
      if (this.canvas.width !== width || this.canvas.height !== height) {
        this.canvas.width = width;
        this.canvas.height = height;
      }
      return true;
    }

    /** Whole image (four views: whole breast) in view, its chest wall against the pane edge
     * chosen by the protocol. */
    fit() {
      const cw = this.canvas.width;
      const ch = this.canvas.height;
      // The four views fill the pane's height as far as the breast allows: only air beyond
      // the breast (away from the chest wall, see measureTissue) may be cut.
      const viewer = this.viewer;
      const wide = viewer.layout === "four" ? this.columns * (this.tissue || 1) : this.columns;
      const scale = Math.min(ch / this.rows, cw / wide);
      const shownWidth = this.columns * scale;
      this.scale = this.fitScale = scale;
      this.ox = this.align === "right" ? cw - shownWidth : this.align === "left" ? 0 : (cw - shownWidth) / 2;
      this.oy = (ch - this.rows * scale) / 2;
      this.oneToOne = false;
      this.fitted = true; // until the user zooms or pans
      this.fitLevel = pickLevel(this.widths, Math.ceil(shownWidth - 1e-6));
      this.setWantLevel(this.fitLevel);
      this.invalidate();
    }

    /** Zoom to `scale` keeping the canvas point (dx, dy) (device pixels) still. */
    zoomTo(scale, dx, dy) {
      const min = Math.min(this.fitScale * 0.5, 1);
      const next = Math.min(Math.max(scale, min), Math.max(MAX_ZOOM, this.fitScale));
      const u = (dx - this.ox) / this.scale;
      const v = (dy - this.oy) / this.scale;
      this.scale = next;
      this.ox = dx - u * next;
      this.oy = dy - v * next;
      this.fitted = false;
      this.clampPan();
      this.invalidate();
      this.viewer.follow(this);
    }

    panBy(dx, dy) {
      this.ox += dx;
      this.oy += dy;
      this.fitted = false;
      this.clampPan();
      this.invalidate();
      this.viewer.follow(this);
    }

    /** The displayed image point at the pane's centre (0..1) and the zoom over the fit. */
    viewState() {
      const cw = this.canvas.width;
      const ch = this.canvas.height;
      return {
        u: (cw / 2 - this.ox) / (this.columns * this.scale),
        v: (ch / 2 - this.oy) / (this.rows * this.scale),
        zoom: this.scale / this.fitScale,
        oneToOne: this.oneToOne,
      };
    }

    /** Show what the partner shows: same zoom, same point, mirrored when the walls face. */
    copyView(state, mirrored) {
      const u = mirrored ? 1 - state.u : state.u;
      this.scale = this.fitScale * state.zoom;
      this.ox = this.canvas.width / 2 - u * this.columns * this.scale;
      this.oy = this.canvas.height / 2 - state.v * this.rows * this.scale;
      this.oneToOne = state.oneToOne;
      this.fitted = false;
      this.clampPan();
      this.invalidate();
      this.scheduleLevelCheck();
    }

    /** Keep at least a strip of the image on screen so it cannot be lost by panning. */
    clampPan() {
      const keep = Math.min(64, this.canvas.width / 4, this.canvas.height / 4);
      const w = this.columns * this.scale;
      const h = this.rows * this.scale;
      this.ox = Math.min(Math.max(this.ox, keep - w), this.canvas.width - keep);
      this.oy = Math.min(Math.max(this.oy, keep - h), this.canvas.height - keep);
    }

    canvasPoint(clientX, clientY) {
      const rect = this.canvas.getBoundingClientRect();
      if (rect.width < 1 || rect.height < 1) return null;
      return {
        dx: ((clientX - rect.left) * this.canvas.width) / rect.width,
        dy: ((clientY - rect.top) * this.canvas.height) / rect.height,
      };
    }

    /** Client (CSS) point -> original, unflipped, full-resolution pixel coordinates. */
    toImage(clientX, clientY) {
      const p = this.canvasPoint(clientX, clientY);
      if (!p) return null;
      const u = (p.dx - this.ox) / this.scale;
      return { x: this.flip ? this.columns - u : u, y: (p.dy - this.oy) / this.scale };
    }

    toScreen(x, y) {
      const rect = this.canvas.getBoundingClientRect();
      if (rect.width < 1 || rect.height < 1) return null;
      const u = this.flip ? this.columns - x : x;
      return {
        clientX: rect.left + ((this.ox + u * this.scale) * rect.width) / this.canvas.width,
        clientY: rect.top + ((this.oy + y * this.scale) * rect.height) / this.canvas.height,
      };
    }

    // data --------------------------------------------------------------------------------

    /** First paint request; raw levels may be fetched from now on. */
    start() {
      if (this.started) return;
      this.started = true;
      this.loadRendered(this.viewer.voi);
    }

    setWantLevel(k) {
      if (k !== this.wantLevel) this.previousLevel = this.wantLevel;
      this.wantLevel = k;
      this.ensureLevel(k);
      this.prune();
    }

    /** Pick the level matching the current zoom, once zooming has settled. */
    scheduleLevelCheck() {
      clearTimeout(this.levelTimer);
      this.levelTimer = setTimeout(() => {
        if (this.viewer.destroyed) return;
        this.setWantLevel(pickLevel(this.widths, Math.ceil(this.columns * this.scale - 1e-6)));
        this.invalidate();
      }, LEVEL_CHECK_MS);
    }

    async loadRendered(state) {
      const seq = ++this.renderSeq;
      const k = this.fitLevel;
      const id = encodeURIComponent(this.image.image_id);
      const url =
        `/api/v1/images/${id}/render?width=${this.widths[k]}&flip=false&format=jpeg` +
        serverVoiQuery(this.image, state) +
        protocolQuery(this.image);
      try {
        const response = await fetch(url, { signal: this.viewer.abort.signal, credentials: "same-origin" });
        if (!response.ok) throw new Error(`render failed: HTTP ${response.status}`);
        const bitmap = await createImageBitmap(await response.blob());
        if (this.viewer.destroyed || seq !== this.renderSeq) {
          bitmap.close();
          return;
        }
        if (this.rendered) this.rendered.bitmap.close();
        // Requested at a pyramid width, so the server did not resize: one bitmap pixel is
        // one level-k pixel, i.e. 2**k full-resolution pixels.
        this.rendered = { bitmap, factor: 2 ** k, key: this.serverKey(state) };
        this.invalidate();
      } catch (error) {
        if (isAbort(error) || this.viewer.destroyed) return;
        if (seq === this.renderSeq && !this.rendered) {
          this.renderFailed = true;
          this.checkFailure();
        }
      }
    }

    /** Whether level k comes as tiles: it is finer than the level that fits the pane, which
     * (like any coarser one) comes whole. */
    tiled(k) {
      return k >= 0 && k < this.fitLevel;
    }

    async ensureLevel(k) {
      if (!this.started || this.tiled(k)) return;
      if (this.levels.has(k) || this.loading.has(k) || this.failedLevels.has(k)) return;
      this.loading.add(k);
      try {
        const id = encodeURIComponent(this.image.image_id);
        const response = await fetch(`/api/v1/images/${id}/raw?level=${k}`, {
          signal: this.viewer.abort.signal,
          credentials: "same-origin",
        });
        if (!response.ok) throw new Error(`raw level ${k} failed: HTTP ${response.status}`);
        const width = Number(response.headers.get("X-Image-Width"));
        const height = Number(response.headers.get("X-Image-Height"));
        const buffer = await response.arrayBuffer(); // gzip is undone by the browser
        if (!(width > 0 && height > 0) || buffer.byteLength !== width * height * 2) {
          throw new Error(`raw level ${k}: unexpected size`);
        }
        if (this.viewer.destroyed) return;
        this.levels.set(k, new Level(k, width, height, storageValues(buffer)));
        this.prune();
        this.invalidate();
      } catch (error) {
        if (isAbort(error) || this.viewer.destroyed) return;
        this.failedLevels.add(k);
        if (k === this.fitLevel && !this.levels.size) {
          this.rawFailed = true;
          this.viewer.checkReady();
          this.checkFailure();
        }
      } finally {
        this.loading.delete(k);
      }
    }

    /** Drop levels no longer needed. Kept: the fit level, the wanted one, the magnifier's, and
     * the one wanted before (switching hangings back and forth, 2x2 <-> 1x4, alternates two
     * levels: the way back then needs no fetch and no re-windowing). */
    prune() {
      // keep what we show until what we want arrives
      if (!this.tiled(this.wantLevel) && !this.levels.has(this.wantLevel)) return;
      const kept = new Set([this.wantLevel, this.fitLevel, this.lensLevel, this.previousLevel]);
      for (const [k, level] of this.levels) {
        if (!kept.has(k)) {
          level.release();
          this.levels.delete(k);
        }
      }
    }

    /** The image rectangle on screen, in full-resolution pixels (unflipped), and its centre. */
    visibleRect() {
      const u0 = -this.ox / this.scale;
      const u1 = (this.canvas.width - this.ox) / this.scale;
      const [x0, x1] = this.flip ? [this.columns - u1, this.columns - u0] : [u0, u1];
      const y0 = -this.oy / this.scale;
      const y1 = (this.canvas.height - this.oy) / this.scale;
      return { x0, y0, x1, y1, cx: (x0 + x1) / 2, cy: (y0 + y1) / 2 };
    }

    /** The tiles of level k that cover an image rectangle (full-resolution pixels), the one
     * nearest its centre first. */
    tilesCovering(k, { x0, y0, x1, y1, cx, cy }) {
      const f = 2 ** k;
      const across = Math.ceil(this.widths[k] / TILE);
      const down = Math.ceil(this.heights[k] / TILE);
      const c0 = Math.max(0, Math.floor(x0 / f / TILE));
      const c1 = Math.min(across, Math.ceil(x1 / f / TILE));
      const r0 = Math.max(0, Math.floor(y0 / f / TILE));
      const r1 = Math.min(down, Math.ceil(y1 / f / TILE));
      const tiles = [];
      for (let row = r0; row < r1; row++) {
        for (let col = c0; col < c1; col++) {
          const dx = (col + 0.5) * TILE * f - cx;
          const dy = (row + 0.5) * TILE * f - cy;
          const key = `${this.image.image_id}/${k}/${row}/${col}`;
          tiles.push({ k, row, col, key, distance: dx * dx + dy * dy });
        }
      }
      return tiles.sort((a, b) => a.distance - b.distance);
    }

    /** The tiles of `wanted` at hand; the missing ones become `queue` ("viewTiles" or
     * "lensTiles"), fetched from now on. */
    collectTiles(wanted, queue) {
      const cache = this.viewer.tiles;
      const loaded = [];
      const missing = [];
      for (const t of wanted) {
        const tile = cache.get(t.key);
        if (tile) loaded.push(tile);
        else if (!this.tileLoading.has(t.key) && !this.failedTiles.has(t.key)) missing.push(t);
      }
      this[queue] = missing;
      this.pumpTiles();
      return loaded;
    }

    pumpTiles() {
      if (!this.started || this.viewer.destroyed) return;
      while (this.tileLoading.size < TILE_FETCHES) {
        const next = this.lensTiles.shift() || this.viewTiles.shift();
        if (!next) return;
        if (!this.tileLoading.has(next.key) && !this.viewer.tiles.has(next.key)) this.loadTile(next);
      }
    }

    async loadTile(t) {
      this.tileLoading.add(t.key);
      try {
        const id = encodeURIComponent(this.image.image_id);
        const response = await fetch(`/api/v1/images/${id}/tiles/${t.k}/${t.row}/${t.col}`, {
          signal: this.viewer.abort.signal,
          credentials: "same-origin",
        });
        if (!response.ok) throw new Error(`tile ${t.key} failed: HTTP ${response.status}`);
        const width = Number(response.headers.get("X-Tile-Width"));
        const height = Number(response.headers.get("X-Tile-Height"));
        const buffer = await response.arrayBuffer(); // gzip is undone by the browser
        if (!(width > 0 && height > 0) || buffer.byteLength !== width * height * 2) {
          throw new Error(`tile ${t.key}: unexpected size`);
        }
        if (this.viewer.destroyed) return;
        const tile = new Level(t.k, width, height, storageValues(buffer), t.col * TILE, t.row * TILE);
        this.viewer.tiles.add(t.key, tile);
        this.invalidate();
        if (this.viewer.lens?.pane === this) this.viewer.drawLens();
      } catch (error) {
        if (isAbort(error) || this.viewer.destroyed) return;
        this.failedTiles.add(t.key); // the coarser level stays in its place
      } finally {
        this.tileLoading.delete(t.key);
        this.pumpTiles();
      }
    }

    /** The best source to draw: the wanted raw level, else the finest raw level, else the
     * server-rendered image. */
    source() {
      const wanted = this.levels.get(this.wantLevel);
      if (wanted) return wanted;
      let best = null;
      for (const level of this.levels.values()) if (!best || level.k < best.k) best = level;
      return best || this.rendered;
    }

    serverKey(state) {
      return serverVoiQuery(this.image, state);
    }

    checkFailure() {
      if (this.renderFailed && this.rawFailed && !this.painted) {
        this.failed = true;
        this.el.classList.add("mr-pane-failed");
        this.status.hidden = false;
        this.status.textContent = "Image could not be loaded";
        this.viewer.checkReady();
      }
    }

    // drawing -----------------------------------------------------------------------------

    invalidate() {
      this.dirty = true;
      this.viewer.schedule();
    }

    /** Called once per animation frame when dirty: re-window if needed, then draw. */
    update() {
      this.dirty = false;
      const viewer = this.viewer;
      const display = this.image.display;
      const resolved = resolveVoi(display, viewer.voi);
      const invert = invertsNatively(display) !== viewer.inverted;
      const key = voiKey(resolved, invert);
      const source = this.source();
      // Zoomed past the whole levels: the wanted level's tiles on screen, over the source.
      let wanted = [];
      if (this.tiled(this.wantLevel) && !this.levels.has(this.wantLevel) && this.el.offsetWidth) {
        wanted = this.tilesCovering(this.wantLevel, this.visibleRect());
      }
      const tiles = this.collectTiles(wanted, "viewTiles");
      const complete = tiles.length > 0 && tiles.length === wanted.length;
      let clientInvert = false;
      if (source instanceof Level || tiles.length) this.ensureLut(display, resolved, invert, key);
      for (const tile of tiles) if (tile.key !== key) tile.window(this.lut32, key);
      if (source instanceof Level) {
        // Hidden under a complete set of tiles, the (larger) whole level is windowed again
        // only once the reader stops dragging: the frames of a drag window the tiles alone.
        if (source.key !== key && !(complete && viewer.moving())) source.window(this.lut32, key);
        else if (source.key !== key) this.refineSoon();
        if (this.tissue == null && source.k === this.fitLevel) this.measureTissue(source);
      } else if (source) {
        // No raw data (yet, or it failed): ask the server for this VOI, invert here.
        clientInvert = viewer.inverted;
        if (source.key !== this.serverKey(viewer.voi)) this.scheduleFallbackRender();
      }
      this.draw(source, clientInvert, tiles, complete);
      this.updateOverlay(resolved);
    }

    ensureLut(display, resolved, invert, key) {
      if (this.lutKey === key) return;
      fillLut(this.lut8, display, resolved, invert);
      for (let s = 0; s < LUT_SIZE; s++) this.lut32[s] = GREY32[this.lut8[s]];
      this.lutKey = key;
    }

    /** How far the breast reaches from the chest wall, as a fraction of the width (the rest is
     * air, dark once windowed): rows sampled, a run of 3 lit pixels counts. Once per pane; a
     * view still as fitted is fitted again to it. */
    measureTissue(level) {
      const { width, height, data } = level;
      const lut = this.lut8;
      const fromLeft = this.image.chest_wall_side !== "R"; // stored image: wall at x = 0
      const step = Math.max(1, Math.floor(height / 128));
      let reach = 0;
      for (let y = 0; y < height; y += step) {
        const row = y * width;
        let run = 0;
        for (let i = 0; i < width; i++) {
          const x = fromLeft ? width - 1 - i : i; // from the outer edge inwards
          run = lut[data[row + x]] > 24 ? run + 1 : 0;
          if (run === 3) {
            reach = Math.max(reach, width - i + 2);
            break;
          }
        }
      }
      this.tissue = reach ? Math.min(1, Math.max(0.4, (reach + width * 0.02) / width)) : 1;
      this.el.dataset.tissue = this.tissue.toFixed(4);
      if (this.fitted && this.tissue < 1 && this.measure()) {
        this.fit();
        this.viewer.follow(this);
      }
    }

    scheduleFallbackRender() {
      clearTimeout(this.renderTimer);
      this.renderTimer = setTimeout(() => {
        if (!this.viewer.destroyed && !this.levels.size) this.loadRendered(this.viewer.voi);
      }, FALLBACK_RENDER_MS);
    }

    /** Draw the source, then the tiles of a finer level over it (`complete`: every tile on
     * screen is among them). */
    draw(source, clientInvert, tiles = [], complete = false) {
      const ctx = this.ctx;
      const cw = this.canvas.width;
      const ch = this.canvas.height;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.globalCompositeOperation = "source-over";
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, cw, ch);
      if (!source) return;
      const s = this.scale;
      // Image space (full-resolution pixels, unflipped) -> device pixels; mirroring maps
      // x = columns to the displayed left edge `ox`.
      if (this.flip) ctx.setTransform(-s, 0, 0, s, this.ox + s * this.columns, this.oy);
      else ctx.setTransform(s, 0, 0, s, this.ox, this.oy);
      const downscaled = s * source.factor < 1;
      const quick = downscaled && this.viewer.moving();
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = downscaled && !quick ? "high" : "low";
      drawSource(ctx, source);
      if (clientInvert) {
        ctx.globalCompositeOperation = "difference";
        ctx.fillStyle = "#fff";
        ctx.fillRect(0, 0, this.columns, this.rows);
        ctx.globalCompositeOperation = "source-over";
      }
      if (tiles.length) {
        ctx.imageSmoothingQuality = s * tiles[0].factor < 1 && !quick ? "high" : "low";
        for (const tile of tiles) tile.drawOn(ctx);
      }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      this.el.dataset.level = complete ? String(tiles[0].k) : source instanceof Level ? String(source.k) : "rendered";
      this.el.dataset.tiles = String(tiles.length);
      this.el.dataset.quality = quick ? "fast" : "final";
      if (quick) this.refineSoon();
      if (!this.painted) {
        this.painted = true;
        this.viewer.checkReady();
      }
      if (source instanceof Level && source.k === this.fitLevel && !this.rawReady) {
        this.rawReady = true;
        this.viewer.checkReady();
      }
      this.viewer.notifyView(this);
      if (this.viewer.lens?.pane === this) this.viewer.drawLens();
    }

    /** Draw again with the high-quality filter once the input has been still REFINE_MS. */
    refineSoon() {
      clearTimeout(this.refineTimer);
      this.refineTimer = setTimeout(() => {
        if (this.viewer.destroyed) return;
        if (this.viewer.moving()) this.refineSoon();
        else this.invalidate();
      }, REFINE_MS);
    }

    updateOverlay(resolved) {
      let text;
      if (resolved.kind === "lut") {
        text = "VOI LUT";
      } else {
        text = `W ${formatValue(resolved.width)} L ${formatValue(resolved.center)}`;
        if (resolved.explanation && resolved.explanation !== "range") text += ` ${resolved.explanation}`;
        if (resolved.fn === "SIGMOID") text += " sigmoid";
      }
      if (this.viewer.inverted) text += " INV";
      if (this.oneToOne) text += " 1:1";
      if (text !== this.overlayText) {
        this.overlay.textContent = text;
        this.overlayText = text;
      }
    }

    destroy() {
      clearTimeout(this.renderTimer);
      clearTimeout(this.levelTimer);
      clearTimeout(this.refineTimer);
      if (this.rendered) this.rendered.bitmap.close();
      this.rendered = null;
      if (this.levels) for (const level of this.levels.values()) level.release();
      if (this.levels) this.levels.clear();
      if (this.image) this.viewer.tiles.drop(`${this.image.image_id}/`);
      this.viewTiles = this.lensTiles = [];
    }
  }

  // --- the viewer -----------------------------------------------------------------------

  const viewers = new Set();
  const byElement = new WeakMap();

  function isEditable(target) {
    if (!(target instanceof Element)) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])"));
  }

  class Viewer {
    constructor(element, options) {
      this.element = element;
      this.options = options;
      this.tool = options.tool === "none" ? "none" : "pan";
      this.layout = LAYOUTS[options.layout] ? options.layout : "four";
      this.voi = { kind: "default" };
      this.inverted = false;
      this.destroyed = false;
      this.readyFired = false;
      this.frame = 0;
      this.movedAt = -Infinity; // the last input that changed a view (moving())
      this.drag = null;
      this.hover = null; // {pane, clientX, clientY}
      this.abort = new AbortController();
      this.tiles = new TileCache();
      this.hanging = HANGINGS.includes(options.hanging) ? options.hanging : "grid";
      this.priorImages = this.layout === "four" && Array.isArray(options.priors) ? options.priors : [];
      this.priorLabel = String(options.priorLabel || "prior");
      this.priorMode = "off";
      this.solo = null; // the pane shown alone (X or double-click), if any
      this.linked = Boolean(options.linked); // zoom and pan follow across the bilateral pair
      this.lens = null; // {pane, el, canvas, ctx} while the magnifier shows
      this.lensHeld = false;
      this.panKey = false; // Space held: a left drag pans, even in draw mode

      element.replaceChildren();
      element.classList.add("mr-viewer");
      element.dataset.layout = this.layout;
      if (this.layout === "four") element.dataset.hanging = this.hanging;
      if (this.priorImages.length) element.dataset.priors = "off";
      else delete element.dataset.priors;
      element.dataset.linked = String(this.linked);
      element.dataset.state = "loading";
      delete element.dataset.raw;
      this.panes = this.hang(options.images || []).map(([slot, image]) => new Pane(this, slot, image));
      for (const pane of this.panes) element.append(pane.el);
      this.imagePanes = this.panes.filter((pane) => pane.image);
      this.currentPanes = this.imagePanes.filter((pane) => !pane.prior);
      this.priorPanes = this.imagePanes.filter((pane) => pane.prior);

      this.listen();
      // Lay out now (the element is in the document), so the first requests leave at once:
      // every first-paint image before any raw level, as the browser queues requests in
      // order. The resize observer covers panes that are hidden at this point.
      const shown = this.imagePanes.filter((pane) => pane.measure());
      for (const pane of shown) pane.fit();
      for (const pane of shown) pane.start();
      for (const pane of shown) pane.ensureLevel(pane.wantLevel);
      this.checkReady();
    }

    /** Images for the protocol's slots, in slot order: [[slot, image|null], ...]. */
    hang(images) {
      const slots = LAYOUTS[this.layout];
      if (this.layout !== "four") return slots.map((slot, i) => [slot, images[i] || null]);
      const matching = (list, slot) =>
        list.find(
          (image) =>
            String(image.laterality || "").toUpperCase() === slot.laterality &&
            String(image.view || "").toUpperCase() === slot.projection,
        ) || null;
      const hung = slots.map((slot) => [slot, matching(images, slot)]);
      if (!this.priorImages.length) return hung;
      return [...hung, ...slots.map((slot) => [{ ...slot, prior: true }, matching(this.priorImages, slot)])];
    }

    listen() {
      const el = this.element;
      const on = (target, type, handler, opts) => {
        target.addEventListener(type, handler, opts);
        this.cleanups.push(() => target.removeEventListener(type, handler, opts));
      };
      this.cleanups = [];
      on(el, "contextmenu", (e) => e.preventDefault());
      on(el, "pointerdown", (e) => this.onPointerDown(e));
      on(el, "pointermove", (e) => this.onPointerMove(e));
      on(el, "pointerup", (e) => this.endDrag(e));
      on(el, "pointercancel", (e) => this.endDrag(e));
      on(el, "lostpointercapture", (e) => this.endDrag(e));
      on(el, "pointerleave", () => {
        this.hover = null;
        this.hideLens();
      });
      on(el, "dblclick", (e) => {
        const pane = this.paneAt(e.target);
        if (pane) this.toggleSolo(pane);
      });
      on(el, "mousedown", (e) => {
        if (e.button === 1) e.preventDefault(); // no autoscroll: the middle button pans
      });
      on(document, "keyup", (e) => this.onKeyUp(e));
      on(window, "blur", () => {
        this.panKey = false;
        this.lensHeld = false;
        this.hideLens();
      });
      on(el, "wheel", (e) => this.onWheel(e), { passive: false });
      on(document, "keydown", (e) => this.onKey(e));
      if (typeof ResizeObserver === "function") {
        this.resizer = new ResizeObserver(() => this.onResize());
        for (const pane of this.imagePanes) this.resizer.observe(pane.el);
        this.cleanups.push(() => this.resizer.disconnect());
      } else {
        on(window, "resize", () => this.onResize());
      }
    }

    paneAt(target) {
      const el = target instanceof Element ? target.closest(".mr-pane") : null;
      return this.imagePanes.find((pane) => pane.el === el) || null;
    }

    paneById(imageId) {
      return this.imagePanes.find((pane) => pane.image.image_id === imageId) || null;
    }

    // events --------------------------------------------------------------------------

    onPointerDown(e) {
      const pane = this.paneAt(e.target);
      if (!pane || this.drag) return;
      pane.el.focus({ preventScroll: true });
      const windowing = e.button === 2 || (e.button === 0 && e.ctrlKey);
      const panning = e.button === 1 || (e.button === 0 && !e.ctrlKey && (this.tool === "pan" || this.panKey));
      if (!windowing && !panning) return;
      e.preventDefault();
      try {
        pane.el.setPointerCapture(e.pointerId); // keep the drag when leaving the pane
      } catch (_error) {
        // not an active pointer (synthetic event): the drag simply ends at the pane edge
      }
      const drag = { pane, pointerId: e.pointerId, x0: e.clientX, y0: e.clientY };
      drag.mode = windowing ? "window" : "pan";
      if (windowing) {
        const resolved = resolveVoi(pane.image.display, this.voi);
        Object.assign(drag, draggableWindow(pane.image.display, resolved));
      } else {
        drag.ox = pane.ox;
        drag.oy = pane.oy;
      }
      this.drag = drag;
    }

    onPointerMove(e) {
      const pane = this.drag && this.drag.pointerId === e.pointerId ? this.drag.pane : this.paneAt(e.target);
      if (pane) {
        this.hover = { pane, clientX: e.clientX, clientY: e.clientY };
        this.reportPointer(pane, e.clientX, e.clientY);
        if (this.lensHeld) this.showLens();
      }
      const drag = this.drag;
      if (!drag || drag.pointerId !== e.pointerId) return;
      this.movedAt = performance.now();
      const dx = e.clientX - drag.x0;
      const dy = e.clientY - drag.y0;
      if (drag.mode === "window") {
        // Horizontal: width (exponential, so it never crosses zero); vertical: centre; both
        // proportional to the width at the start of the drag. Dragging down darkens.
        const width = Math.max(1, drag.width * Math.exp(dx / WL_PIXELS));
        this.setWindow(drag.center + (dy * drag.width) / WL_PIXELS, width);
      } else {
        const rect = drag.pane.canvas.getBoundingClientRect();
        const ratio = rect.width ? drag.pane.canvas.width / rect.width : 1;
        drag.pane.ox = drag.ox;
        drag.pane.oy = drag.oy;
        drag.pane.panBy(dx * ratio, dy * ratio);
      }
    }

    endDrag(e) {
      const drag = this.drag;
      if (!drag || drag.pointerId !== e.pointerId) return;
      this.drag = null;
      if (drag.pane.el.hasPointerCapture(e.pointerId)) drag.pane.el.releasePointerCapture(e.pointerId);
    }

    onWheel(e) {
      const pane = this.paneAt(e.target);
      if (!pane) return;
      e.preventDefault();
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
      const p = pane.canvasPoint(e.clientX, e.clientY);
      if (!p) return;
      this.movedAt = performance.now();
      pane.oneToOne = false;
      pane.zoomTo(pane.scale * Math.exp(-e.deltaY * unit * 0.002), p.dx, p.dy);
      pane.scheduleLevelCheck();
    }

    onKey(e) {
      if (this.destroyed || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
      if (!this.element.isConnected) {
        this.destroy();
        return;
      }
      const inside = e.target instanceof Node && this.element.contains(e.target);
      if (!inside && (viewers.size !== 1 || isEditable(e.target))) return;
      const focused = inside ? this.paneAt(e.target) : null;
      const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
      if (key === " ") {
        // Space + drag pans; only where Space would not press a button or tick a box.
        if (this.layout !== "four" || (!inside && e.target !== document.body)) return;
        this.panKey = true;
        e.preventDefault();
        return;
      }
      switch (key) {
        case "h":
          if (this.layout !== "four") return;
          this.cycleHanging(e.shiftKey ? -1 : 1);
          break;
        case "o":
          if (!this.priorImages.length) return;
          this.cyclePriors(e.shiftKey ? -1 : 1);
          break;
        case "x": {
          const pane = this.hover?.pane || focused || this.solo;
          if (!pane) return;
          this.toggleSolo(pane);
          break;
        }
        case "l":
          this.setLinked(!this.linked);
          break;
        case "g":
          this.lensHeld = true;
          if (!e.repeat) this.showLens();
          break;
        case "p":
          this.cyclePreset();
          break;
        case "i":
          this.invert();
          break;
        case "r":
          this.reset();
          break;
        case "f":
          this.fit();
          break;
        case "z":
          this.toggleOneToOne(this.hover?.pane || focused);
          break;
        case "+":
        case "=":
        case "-": {
          const pane = focused || this.hover?.pane;
          if (!pane) return;
          pane.oneToOne = false;
          const factor = key === "-" ? 1 / 1.25 : 1.25;
          pane.zoomTo(pane.scale * factor, pane.canvas.width / 2, pane.canvas.height / 2);
          pane.scheduleLevelCheck();
          break;
        }
        case "ArrowLeft":
        case "ArrowRight":
        case "ArrowUp":
        case "ArrowDown": {
          if (!focused) return; // leave page scrolling alone
          const step = Math.round(Math.min(focused.canvas.width, focused.canvas.height) / 10);
          const dx = key === "ArrowLeft" ? step : key === "ArrowRight" ? -step : 0;
          const dy = key === "ArrowUp" ? step : key === "ArrowDown" ? -step : 0;
          focused.panBy(dx, dy);
          break;
        }
        default:
          return;
      }
      e.preventDefault();
    }

    onKeyUp(e) {
      if (e.key === " ") this.panKey = false;
      if (e.key.toLowerCase() === "g" && this.lensHeld) {
        this.lensHeld = false;
        this.hideLens();
      }
    }

    // hangings, one view alone, linked pairs, the magnifier -------------------------------

    /** Show the four views hung as `name` (grid, row, cc, mlo); false when unknown. */
    setHanging(name) {
      if (this.layout !== "four" || !HANGINGS.includes(name)) return false;
      if (this.priorMode !== "off") this.setPriors("off");
      if (name === this.hanging && !this.solo) return true;
      this.hanging = name;
      this.element.dataset.hanging = name;
      this.setSolo(null, false);
      this.relayout();
      if (typeof this.options.onHangingChange === "function") this.options.onHangingChange(name);
      return true;
    }

    /** Show the prior exam as `mode` (PRIOR_MODES); false when there is no prior. */
    setPriors(mode) {
      if (!this.priorImages.length || !PRIOR_MODES.includes(mode)) return false;
      if (mode === this.priorMode && !this.solo) return true;
      this.priorMode = mode;
      this.element.dataset.priors = mode;
      // the prior layouts replace the hanging while they show; the hanging comes back after
      if (mode === "off") this.element.dataset.hanging = this.hanging;
      else delete this.element.dataset.hanging;
      this.setSolo(null, false);
      this.relayout();
      if (typeof this.options.onPriorsChange === "function") this.options.onPriorsChange(mode);
      return true;
    }

    cyclePriors(step) {
      const index = PRIOR_MODES.indexOf(this.priorMode);
      this.setPriors(PRIOR_MODES[(index + step + PRIOR_MODES.length) % PRIOR_MODES.length]);
    }

    cycleHanging(step) {
      const index = HANGINGS.indexOf(this.hanging);
      this.setHanging(HANGINGS[(index + step + HANGINGS.length) % HANGINGS.length]);
    }

    /** One view alone in the whole viewer; the same call (key X, double-click) goes back. */
    toggleSolo(pane) {
      this.setSolo(this.solo === pane ? null : pane, true);
    }

    setSolo(pane, relayout) {
      if (this.solo) this.solo.el.classList.remove("mr-solo");
      this.solo = pane || null;
      if (this.solo) {
        this.solo.el.classList.add("mr-solo");
        this.element.dataset.solo = this.solo.view;
      } else {
        delete this.element.dataset.solo;
      }
      if (relayout) this.relayout();
    }

    /** After the panes changed size: fit and draw the shown ones now, in this task, so the
     * new layout is on screen in the next frame (a resized canvas is blank until drawn). */
    relayout() {
      this.movedAt = performance.now();
      this.hideLens();
      for (const pane of this.imagePanes) {
        if (!pane.measure()) continue;
        pane.fit();
        if (!pane.started) {
          pane.start();
          pane.ensureLevel(pane.wantLevel);
        }
        pane.update();
      }
      if (this.linked) for (const pane of this.imagePanes) this.follow(pane);
    }

    setLinked(on) {
      this.linked = Boolean(on);
      this.element.dataset.linked = String(this.linked);
      if (this.linked) {
        const lead = this.hover?.pane || this.imagePanes[0];
        if (lead) this.follow(lead);
      }
      if (typeof this.options.onLinkedChange === "function") this.options.onLinkedChange(this.linked);
    }

    /** The other breast's view of the same projection (R-CC <-> L-CC), shown or not. */
    partnerOf(pane) {
      const [lat, projection] = pane.view.split("-");
      const other = `${lat === "R" ? "L" : "R"}-${projection}`;
      return this.imagePanes.find((p) => p !== pane && p.view === other && p.prior === pane.prior) || null;
    }

    /** Linked: the partner of a pane that zoomed or panned shows the same, mirrored. */
    follow(pane) {
      if (!this.linked || this.following || this.layout !== "four") return;
      const partner = this.partnerOf(pane);
      if (!partner?.measure()) return;
      this.following = true;
      try {
        partner.copyView(pane.viewState(), partner.align !== pane.align);
      } finally {
        this.following = false;
      }
    }

    /** The magnifier (hold G): a round lens at the pointer, LENS_ZOOM times the pane's zoom. */
    showLens() {
      const hover = this.hover;
      const pane = hover?.pane;
      if (!pane?.painted) {
        this.hideLens();
        return;
      }
      if (!this.lens) {
        const el = document.createElement("div");
        el.className = "mr-lens";
        el.setAttribute("aria-hidden", "true");
        const canvas = document.createElement("canvas");
        el.append(canvas);
        this.element.append(el);
        this.lens = { pane, el, canvas, ctx: canvas.getContext("2d", { alpha: false }) };
      }
      const lens = this.lens;
      if (lens.pane !== pane) this.releaseLensLevel(lens.pane);
      lens.pane = pane;
      // A finer level for the lens, when the pyramid has one.
      const wanted = pickLevel(pane.widths, Math.ceil(pane.columns * pane.scale * LENS_ZOOM - 1e-6));
      if (wanted !== pane.lensLevel) {
        pane.lensLevel = wanted;
        pane.ensureLevel(wanted);
      }
      const host = this.element.getBoundingClientRect();
      lens.el.style.left = `${hover.clientX - host.left - this.element.clientLeft - LENS_CSS_PX / 2}px`;
      lens.el.style.top = `${hover.clientY - host.top - this.element.clientTop - LENS_CSS_PX / 2}px`;
      lens.el.hidden = false;
      this.element.dataset.lens = pane.view;
      this.drawLens();
    }

    drawLens() {
      const lens = this.lens;
      const hover = this.hover;
      if (!lens || lens.el.hidden || !hover || hover.pane !== lens.pane) return;
      const pane = lens.pane;
      const dpr = window.devicePixelRatio || 1;
      const size = Math.round(LENS_CSS_PX * dpr);
      if (lens.canvas.width !== size) lens.canvas.width = lens.canvas.height = size;
      const ctx = lens.ctx;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, size, size);
      const p = pane.canvasPoint(hover.clientX, hover.clientY);
      if (!p) return;
      // pane device -> lens device: scale LENS_ZOOM about the pointer, which sits at the centre
      const m = LENS_ZOOM; // pane and lens share the device pixel ratio
      const s = pane.scale * m;
      let source = pane.levels.get(pane.lensLevel);
      let tiles = [];
      if (source && pane.lutKey) {
        if (source.key !== pane.lutKey) source.window(pane.lut32, pane.lutKey);
      } else {
        source = pane.source();
        if (pane.tiled(pane.lensLevel) && pane.lutKey) {
          // the lens's finer level, as the tiles under it
          const u = (p.dx - pane.ox) / pane.scale;
          const cx = pane.flip ? pane.columns - u : u;
          const cy = (p.dy - pane.oy) / pane.scale;
          const half = size / 2 / s;
          const rect = { x0: cx - half, x1: cx + half, y0: cy - half, y1: cy + half, cx, cy };
          tiles = pane.collectTiles(pane.tilesCovering(pane.lensLevel, rect), "lensTiles");
          for (const tile of tiles) if (tile.key !== pane.lutKey) tile.window(pane.lut32, pane.lutKey);
        }
      }
      if (!source) return;
      const e0 = size / 2 + m * ((pane.flip ? pane.ox + pane.scale * pane.columns : pane.ox) - p.dx);
      const f0 = size / 2 + m * (pane.oy - p.dy);
      ctx.setTransform(pane.flip ? -s : s, 0, 0, s, e0, f0);
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = "low";
      drawSource(ctx, source);
      if (pane.viewer.inverted && !(source instanceof Level)) {
        ctx.globalCompositeOperation = "difference";
        ctx.fillStyle = "#fff";
        ctx.fillRect(0, 0, pane.columns, pane.rows);
        ctx.globalCompositeOperation = "source-over";
      }
      for (const tile of tiles) tile.drawOn(ctx);
      ctx.setTransform(1, 0, 0, 1, 0, 0);
    }

    hideLens() {
      const lens = this.lens;
      if (!lens || lens.el.hidden) return;
      lens.el.hidden = true;
      delete this.element.dataset.lens;
      this.releaseLensLevel(lens.pane);
    }

    releaseLensLevel(pane) {
      if (!pane || pane.lensLevel < 0) return;
      pane.lensLevel = -1;
      pane.lensTiles = [];
      pane.prune();
    }

    onResize() {
      if (this.destroyed) return;
      if (!this.element.isConnected) {
        this.destroy();
        return;
      }
      for (const pane of this.imagePanes) {
        const { width, height } = pane.canvas;
        if (!pane.measure()) continue;
        // Sized already (relayout() fitted it in the same frame): keep the view as it is.
        if (pane.started && pane.canvas.width === width && pane.canvas.height === height) continue;
        pane.fit();
        if (!pane.started) {
          pane.start();
          pane.ensureLevel(pane.wantLevel);
        }
      }
    }

    // rendering -------------------------------------------------------------------------

    /** The reader is changing the view (input in the last REFINE_MS): draw fast. */
    moving() {
      return performance.now() - this.movedAt < REFINE_MS;
    }

    /** Coalesce any number of changes into one repaint per animation frame. */
    schedule() {
      if (this.frame || this.destroyed) return;
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        if (this.destroyed) return;
        for (const pane of this.imagePanes) if (pane.dirty) pane.update();
      });
    }

    invalidateAll() {
      for (const pane of this.imagePanes) pane.invalidate();
    }

    checkReady() {
      const el = this.element;
      if (this.destroyed) return;
      const panes = this.currentPanes;
      this.checkPriorsReady();
      if (panes.every((pane) => pane.painted)) {
        el.dataset.state = "ready";
        if (!this.readyFired) {
          this.readyFired = true;
          if (typeof this.options.onReady === "function") this.options.onReady();
          this.prefetchPriors();
        }
      } else if (panes.every((pane) => pane.painted || pane.failed)) {
        el.dataset.state = "error";
      }
      if (panes.every((pane) => pane.rawReady)) el.dataset.raw = "ready";
      else if (panes.every((pane) => pane.rawReady || pane.rawFailed)) el.dataset.raw = "failed";
    }

    /** The priors are ready to show (first paint and fit level in memory): data-priors-state. */
    checkPriorsReady() {
      const panes = this.priorPanes;
      if (!panes?.length) return;
      const state = panes.every((pane) => pane.painted && pane.rawReady)
        ? "ready"
        : panes.every((pane) => pane.painted || pane.failed)
          ? "painted"
          : "loading";
      this.element.dataset.priorsState = state;
    }

    /** Once the current views show: fetch the priors' first paint and the raw level their
     * partner views use, so that O shows them at once. */
    prefetchPriors() {
      for (const pane of this.priorPanes) {
        if (pane.started) continue;
        const partner = this.currentPanes.find((p) => p.view === pane.view);
        const wanted = partner ? Math.ceil(partner.columns * partner.fitScale) : 1024;
        pane.fitLevel = pane.wantLevel = pickLevel(pane.widths, wanted);
        pane.start();
        pane.ensureLevel(pane.fitLevel);
      }
    }

    reportPointer(pane, clientX, clientY) {
      const point = pane.toImage(clientX, clientY);
      if (!point) return;
      this.element.dataset.pointer = `${pane.image.image_id} ${point.x.toFixed(2)} ${point.y.toFixed(2)}`;
      if (typeof this.options.onPointer === "function") {
        this.options.onPointer(pane.image.image_id, point.x, point.y);
      }
    }

    notifyView(pane) {
      if (typeof this.options.onViewChange === "function") this.options.onViewChange(pane.image.image_id);
    }

    // public API ------------------------------------------------------------------------

    /** One window for every pane (modality units, each image's VOI LUT Function). */
    setWindow(center, width) {
      center = Number(center);
      width = Number(width);
      if (!Number.isFinite(center) || !Number.isFinite(width)) return;
      this.voi = { kind: "custom", center, width: Math.max(1, width) };
      this.invalidateAll();
    }

    /** Next window preset of the images (each pane uses its own preset at that index). */
    cyclePreset() {
      const count = Math.max(0, ...this.imagePanes.map((pane) => (pane.image.display.windows || []).length));
      if (!count) return;
      const usesLut = this.imagePanes.some((pane) => pane.image.display.voi_lut);
      let current = -1;
      if (this.voi.kind === "preset") current = this.voi.index;
      else if (this.voi.kind === "default" && !usesLut) current = 0;
      this.voi = { kind: "preset", index: (current + 1) % count };
      this.invalidateAll();
    }

    invert() {
      this.inverted = !this.inverted;
      this.invalidateAll();
    }

    /** Default window, no user inversion, every pane fitted. */
    reset() {
      this.voi = { kind: "default" };
      this.inverted = false;
      this.fit();
    }

    fit() {
      for (const pane of this.imagePanes) {
        if (pane.measure()) pane.fit();
      }
      this.invalidateAll();
    }

    /** `Z`: 1:1 (one image pixel per device pixel) at the pointer, or back to fit. */
    toggleOneToOne(preferred) {
      const hover = this.hover;
      const pane = preferred || this.imagePanes[0];
      if (!pane?.measure()) return;
      if (pane.oneToOne) {
        pane.fit();
        return;
      }
      const p = hover && hover.pane === pane ? pane.canvasPoint(hover.clientX, hover.clientY) : null;
      pane.zoomTo(1, p ? p.dx : pane.canvas.width / 2, p ? p.dy : pane.canvas.height / 2);
      pane.oneToOne = true;
      // Level 0 starts loading now; the current level is drawn scaled up meanwhile.
      clearTimeout(pane.levelTimer);
      pane.setWantLevel(0);
      pane.invalidate();
    }

    toImage(imageId, clientX, clientY) {
      const pane = this.paneById(imageId);
      return pane ? pane.toImage(clientX, clientY) : null;
    }

    toScreen(imageId, x, y) {
      const pane = this.paneById(imageId);
      return pane ? pane.toScreen(x, y) : null;
    }

    destroy() {
      if (this.destroyed) return;
      this.destroyed = true;
      this.abort.abort();
      if (this.frame) cancelAnimationFrame(this.frame);
      for (const cleanup of this.cleanups) cleanup();
      for (const pane of this.panes) pane.destroy();
      const el = this.element;
      el.replaceChildren();
      delete el.dataset.state;
      delete el.dataset.raw;
      delete el.dataset.pointer;
      viewers.delete(this);
      byElement.delete(el);
    }
  }

  /** Public handle: only the documented methods. */
  function handle(viewer) {
    return Object.freeze({
      element: viewer.element,
      setWindow: (center, width) => viewer.setWindow(center, width),
      cyclePreset: () => viewer.cyclePreset(),
      invert: () => viewer.invert(),
      reset: () => viewer.reset(),
      fit: () => viewer.fit(),
      setHanging: (name) => viewer.setHanging(name),
      hanging: () => viewer.hanging,
      setPriors: (mode) => viewer.setPriors(mode),
      priors: () => viewer.priorMode,
      hasPriors: () => viewer.priorImages.length > 0,
      setLinked: (on) => viewer.setLinked(on),
      linked: () => viewer.linked,
      toggleSolo: (view) => {
        const pane = viewer.imagePanes.find((p) => p.view === view);
        if (pane) viewer.toggleSolo(pane);
      },
      panKeyHeld: () => viewer.panKey,
      destroy: () => viewer.destroy(),
      toImage: (imageId, clientX, clientY) => viewer.toImage(imageId, clientX, clientY),
      toScreen: (imageId, x, y) => viewer.toScreen(imageId, x, y),
    });
  }

  function mount(element, options = {}) {
    const existing = byElement.get(element);
    if (existing) existing.viewer.destroy();
    const viewer = new Viewer(element, options);
    const api = handle(viewer);
    viewers.add(viewer);
    byElement.set(element, { viewer, api });
    return api;
  }

  /** Mount every `.mr-viewer[data-images]` in `root` that is not mounted yet. */
  function autoMount(root) {
    const scope = root?.querySelectorAll ? root : document;
    const found = [...scope.querySelectorAll(".mr-viewer[data-images]")];
    if (scope instanceof Element && scope.matches(".mr-viewer[data-images]")) found.unshift(scope);
    for (const element of found) {
      if (byElement.has(element)) continue;
      let images;
      try {
        images = JSON.parse(element.dataset.images || "[]");
      } catch (_error) {
        element.dataset.state = "error";
        continue;
      }
      mount(element, { images, layout: element.dataset.layout, tool: element.dataset.tool });
    }
  }

  /** Viewers whose element left the document (htmx swaps) release their memory. */
  function sweep() {
    for (const viewer of [...viewers]) if (!viewer.element.isConnected) viewer.destroy();
  }

  window.MammoViewer = Object.freeze({
    mount,
    autoMount,
    get: (element) => (byElement.has(element) ? byElement.get(element).api : null),
    // Exposed for tests and other tools: the LUT the viewer windows with.
    buildLut(display, choice = {}, userInvert = false) {
      const state =
        choice.center != null
          ? { kind: "custom", center: choice.center, width: choice.width }
          : choice.preset != null
            ? { kind: "preset", index: choice.preset }
            : { kind: "default" };
      const invert = invertsNatively(display) !== userInvert;
      return fillLut(new Uint8Array(LUT_SIZE), display, resolveVoi(display, state), invert);
    },
    // Exposed for masking.js, which prefetches the first requests of the viewers to come.
    pickLevel,
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => autoMount(document));
  } else {
    autoMount(document);
  }
  document.addEventListener("htmx:load", (e) => autoMount(e.detail?.elt));
  document.addEventListener("htmx:afterSettle", sweep);
})();
