// MammoRead masking sort (CSAW-M): the reader's comparison screen. Two mammograms side by side
// (static/js/viewer.js, layout "pair": both breasts pointing the same way, one window for both),
// one question: which image makes it harder to be sure there is no tumour? Needs common.js
// (window.MammoCommon) loaded first; mounts on `#masking[data-api]` (DOMContentLoaded, htmx:load,
// htmx:historyRestore).
//
// Keyboard first, because every second of overhead is paid thousands of times:
//   1 left harder, 2 right harder, 9 no difference (mapped to "query" / "reference" through the
//   pair's query_side; the screen itself only ever says left and right), D discard the image
//   being placed (inline chooser 1 / 2 / 3), U undo, Esc pause, ? help.
//
// Never lose or duplicate an answer:
//   * one request at a time; keys that would send are ignored while one is in flight, and while
//     the images of a new pair are not painted yet;
//   * an answer that did not get through is re-sent, unchanged, with backoff ("Not sent —
//     retrying"); the server treats the same answer twice as a replay;
//   * an undo is NOT re-sent blindly (twice would take back two answers): after a failure the
//     current pair is fetched and compared with the one shown before the undo.
// The reply to an answer carries the next pair, shown at once. Its `prefetch` list names the
// images of every pair an answer can lead to: their first-paint JPEG and raw level are fetched
// into the HTTP cache with exactly the URLs the viewer will ask for (the imaging API marks
// them immutable), so the next pair appears without a round trip.
"use strict";

(() => {
  if (window.MammoMasking) return;

  const RETRY_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  const FLASH_MS = 150;
  const BANNER_MS = 6000;
  const PREFETCH_REMEMBER = 600; // URLs remembered as already fetched

  const REASONS = [
    ["1", "distorted", "Distorted"],
    ["2", "incomplete", "Incomplete breast"],
    ["3", "other", "Other…"],
  ];

  // Shown in the help overlay; keep in step with Masking.handleKey.
  const SHORTCUTS = [
    [
      "Answer",
      [
        ["1", "The left image is harder"],
        ["2", "The right image is harder"],
        ["9", "No discernible difference"],
        ["D", "Discard the image being placed (it cannot be judged), then 1 / 2 / 3 for the reason"],
        ["U", "Undo the last answer"],
      ],
    ],
    [
      "Screen",
      [
        ["Esc", "Pause (Space, Enter or Esc resumes); also closes this help and the discard chooser"],
        ["?", "This help"],
      ],
    ],
    [
      "Viewer",
      [
        ["Wheel", "Zoom at the pointer (both images)"],
        ["Drag", "Pan the image under the pointer"],
        ["Right-drag or Ctrl + drag", "Window / level (both images)"],
        ["P", "Next window preset"],
        ["I", "Invert"],
        ["R", "Reset window and zoom"],
        ["F", "Fit both images"],
        ["Z", "1:1 at the pointer"],
        ["+ / −", "Zoom the image under the pointer"],
        ["Arrows", "Pan the focused image"],
      ],
    ],
  ];

  // --- small helpers --------------------------------------------------------------------------

  const { h, api, troubleText, isTextEntry, Screen, HelpOverlay, keepMounted } = window.MammoCommon;

  /** Worth sending again unchanged: no connection, server trouble, signed out meanwhile. */
  function retryable(result) {
    const s = result.status;
    return s === 0 || s === 401 || s === 403 || s === 408 || s === 429 || s >= 500;
  }

  function sideName(side) {
    return side === "left" ? "Left" : "Right";
  }

  function count(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  // --- prefetch: the viewer's own first requests, made early -----------------------------------

  /** The URLs a freshly mounted viewer requests first for `image` in a pane whose canvas is
   * `width` x `height` device pixels, at the default window: the server-rendered first paint
   * and the raw values of the same pyramid level (viewer.js Pane.fit / loadRendered /
   * ensureLevel; the level is the viewer's own pickLevel). */
  function firstUrls(image, width, height, protocol = "") {
    const columns = Number(image.columns);
    const rows = Number(image.rows);
    if (!(columns > 0 && rows > 0 && width > 0 && height > 0)) return [];
    const widths =
      Array.isArray(image.pyramid_widths) && image.pyramid_widths.length ? image.pyramid_widths : [columns];
    const scale = Math.min(width / columns, height / rows);
    const k = window.MammoViewer.pickLevel(widths, Math.ceil(columns * scale - 1e-6));
    const id = encodeURIComponent(image.image_id);
    return [
      `/api/v1/images/${id}/render?width=${widths[k]}&flip=false&format=jpeg` +
        (protocol ? `&protocol=${encodeURIComponent(protocol)}` : ""),
      `/api/v1/images/${id}/raw?level=${k}`,
    ];
  }

  /** The project's display protocol, unless it is each image's own header VOI. */
  function protocolOf(pair) {
    return pair.display_protocol && pair.display_protocol !== "header" ? pair.display_protocol : "";
  }

  /** The pair's images marked with the project's display protocol: the viewer then asks the
   * server for first paints under it (their `display` data are under it already), so both
   * images of a pair go through one grey-scale function. */
  function withProtocol(pair) {
    const marked = {};
    const images = pair.images || {};
    const wanted = protocolOf(pair);
    for (const [role, image] of Object.entries(images)) {
      marked[role] = image && wanted ? { ...image, protocol: wanted } : image;
    }
    return marked;
  }

  // --- the screen -------------------------------------------------------------------------------

  let current = null; // the mounted Masking, if any
  // the header's question when the project gives no instructions of its own
  const GENERIC_QUESTION = "Which image makes it harder to be sure there is no tumour?";

  class Masking extends Screen {
    constructor(root) {
      super(root);
      this.apiUrl = String(root.dataset.api || "").replace(/\/+$/, "");
      this.projectId = root.dataset.project;
      this.backUrl = root.dataset.back || "/masking";
      this.projectName = root.dataset.name || "";
      this.mode = root.dataset.mode || "";
      this.instructions = root.dataset.instructions || "";
      this.pair = null; // the PairOut shown (or the done reply)
      this.busy = false; // a request is in flight (answers and undo wait)
      this.paused = false;
      this.viewReady = false; // the images of the pair are painted (or failed)
      this.discardOpen = false;
      this.viewer = null;
      this.abort = new AbortController();
      this.prefetched = new Set();
      this.prefetchSeq = 0;
      this.retryTimer = 0;
      this.retryWake = null;
      this.flashTimers = new Map();
      this.bannerTimer = 0;
    }

    destroy() {
      if (this.destroyed) return;
      this.destroyed = true;
      this.abort.abort();
      clearTimeout(this.retryTimer);
      clearTimeout(this.bannerTimer);
      for (const timer of this.flashTimers.values()) clearTimeout(timer);
      if (this.retryWake) this.retryWake();
      for (const cleanup of this.cleanups) cleanup();
      if (this.viewer) this.viewer.destroy();
      this.viewer = null;
      if (current === this) current = null;
    }

    url(path) {
      return `${this.apiUrl}${path}`;
    }

    /** Every API call of the screen: cancelled when it goes, never answered from the cache. */
    requestOptions() {
      return { signal: this.abort.signal, cache: "no-store" };
    }

    // building the screen ------------------------------------------------------------------

    build() {
      const root = this.root;
      root.replaceChildren();
      root.classList.add("mk");
      root.dataset.state = "loading";

      const title = this.mode === "levels" ? "Masking levels" : "Masking sort";
      this.progressEl = h("p", { class: "mk-progress", "aria-label": "Progress" }, "…");
      this.statusEl = h("p", { class: "mk-status", role: "status", "aria-live": "polite" });
      this.retryButton = h(
        "button",
        { type: "button", class: "btn btn-small mk-retry-now", hidden: true, on: { click: () => this.retryNow() } },
        "Retry now",
      );
      this.undoButton = this.toolButton("Undo", "U", "u", "Undo the last answer", () => this.undo());
      this.discardButton = this.toolButton(
        "Discard…",
        "D",
        "d",
        "Discard the image being placed: it cannot be judged",
        () => this.openDiscard(),
      );
      this.pauseButton = this.toolButton("Pause", "Esc", "Escape", "Pause: cover the images", () => this.pause());
      this.helpButton = this.toolButton("Keys", "?", "?", "Keyboard shortcuts", () => this.help.toggle(true));
      const head = h(
        "header",
        { class: "mk-head" },
        h(
          "h1",
          { class: "mk-title" },
          h("span", { text: title }),
          this.projectName ? h("span", { class: "muted mk-project", text: ` · ${this.projectName}` }) : null,
        ),
        this.buildQuestion(),
        this.progressEl,
        h(
          "div",
          { class: "mk-tools" },
          this.statusEl,
          this.retryButton,
          this.discardButton,
          this.undoButton,
          this.pauseButton,
          this.helpButton,
        ),
      );
      if (this.instructions && this.instructionsLong()) {
        head.append(
          h(
            "details",
            { class: "mk-instructions" },
            h("summary", { text: "All instructions" }),
            h("p", { text: this.instructions }),
          ),
        );
      }

      this.bannerEl = h("div", { class: "mk-banners", "aria-live": "assertive" });

      this.viewerEl = h("div", {
        class: "mr-viewer mk-viewer",
        id: "masking-viewer",
        "aria-label": "The two images to compare",
      });
      this.flashEls = {
        left: h("div", { class: "mk-flash mk-flash-left", "aria-hidden": "true" }),
        right: h("div", { class: "mk-flash mk-flash-right", "aria-hidden": "true" }),
      };
      this.loadingEl = h("p", { class: "mk-loading", "aria-hidden": "true", text: "Loading images…" });
      this.coverEl = this.buildCover();
      this.doneEl = h("div", { class: "mk-done", hidden: true });
      this.discardEl = this.buildDiscard();
      this.stageEl = h(
        "section",
        { class: "mk-stage", "aria-label": "Images", tabindex: "-1" },
        this.viewerEl,
        this.flashEls.left,
        this.flashEls.right,
        this.loadingEl,
        this.discardEl,
        this.coverEl,
        this.doneEl,
      );

      this.answerButtons = {
        left: h(
          "button",
          {
            type: "button",
            class: "btn mk-answer mk-answer-left",
            "aria-keyshortcuts": "1",
            on: { click: (e) => this.clickAnswer(e, "left") },
          },
          h("kbd", { text: "1" }),
          " Left is harder",
        ),
        same: h(
          "button",
          {
            type: "button",
            class: "btn mk-answer mk-answer-same",
            "aria-keyshortcuts": "9",
            on: { click: (e) => this.clickAnswer(e, "same") },
          },
          h("kbd", { text: "9" }),
          " No difference",
        ),
        right: h(
          "button",
          {
            type: "button",
            class: "btn mk-answer mk-answer-right",
            "aria-keyshortcuts": "2",
            on: { click: (e) => this.clickAnswer(e, "right") },
          },
          "Right is harder ",
          h("kbd", { text: "2" }),
        ),
      };
      this.answersEl = h(
        "div",
        { class: "mk-answers", role: "group", "aria-label": "Answer" },
        this.answerButtons.left,
        this.answerButtons.same,
        this.answerButtons.right,
      );

      this.help = new HelpOverlay({
        prefix: "mk",
        groups: SHORTCUTS,
        intro:
          "Which image makes it harder to be sure there is no tumour? Answer with one key; the next pair follows at once. There are no confirmations: U takes the last answer back.",
      });
      root.append(head, this.bannerEl, this.stageEl, this.answersEl, this.help.element);

      // Zoom both images together: the viewer zooms the pane under the wheel; the same wheel
      // step is replayed on the other pane at the same place (the panes are the same size and
      // both breasts point the same way).
      this.on(this.viewerEl, "wheel", (e) => this.linkWheel(e), { capture: true, passive: true });
      // The viewer reports a failed image through its data-state only.
      this.stateWatch = new MutationObserver(() => this.onViewerState());
      this.stateWatch.observe(this.viewerEl, { attributes: true, attributeFilter: ["data-state"] });
      this.cleanups.push(() => this.stateWatch.disconnect());
      this.on(document, "visibilitychange", () => {
        // Time away from the tab is not reading time: cover the pair; resuming restarts the clock.
        if (document.visibilityState === "hidden" && this.canPause()) this.pause();
      });
    }

    toolButton(label, keyLabel, shortcut, title, action) {
      return h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-quiet mk-tool",
          title,
          "aria-keyshortcuts": shortcut,
          on: {
            click: (e) => {
              this.dropFocus(e);
              action();
            },
          },
        },
        `${label} `,
        h("kbd", { text: keyLabel }),
      );
    }

    /** The header's question: the project's instructions when it has any (as text, never as
     * markup), else the product's generic question. Long instructions show their first line here
     * (at most two lines tall) and in full under "All instructions". */
    buildQuestion() {
      const text = this.instructions.trim();
      if (!text) return h("p", { class: "mk-question", text: GENERIC_QUESTION });
      const first = text.split(/\r?\n/).find((line) => line.trim()) || text;
      return h("p", { class: "mk-question mk-question-project", title: text, text: first.trim() });
    }

    instructionsLong() {
      const text = this.instructions.trim();
      return text.includes("\n") || text.length > 160;
    }

    buildCover() {
      this.resumeButton = h(
        "button",
        { type: "button", class: "btn btn-primary", on: { click: () => this.resume() } },
        "Resume ",
        h("kbd", { text: "Space" }),
      );
      return h(
        "div",
        { class: "mk-cover", hidden: true, role: "dialog", "aria-label": "Paused" },
        h(
          "div",
          { class: "mk-cover-box" },
          h("h2", { text: "Paused" }),
          h("p", { class: "muted", text: "The clock is stopped. Space, Enter or Esc resumes." }),
          this.resumeButton,
        ),
      );
    }

    buildDiscard() {
      this.discardTitle = h("p", { class: "mk-discard-title" });
      this.reasonButtons = REASONS.map(([key, reason, label]) =>
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small mk-reason",
            "data-reason": reason,
            "aria-keyshortcuts": key,
            on: { click: () => this.chooseReason(reason) },
          },
          h("kbd", { text: key }),
          ` ${label}`,
        ),
      );
      this.noteInput = h("input", {
        type: "text",
        class: "mk-note",
        maxlength: "2000",
        "aria-label": "What is wrong with the image (optional)",
        placeholder: "What is wrong (optional) — Enter sends, Esc cancels",
      });
      this.on(this.noteInput, "keydown", (e) => this.onNoteKey(e));
      this.noteRow = h(
        "div",
        { class: "mk-note-row", hidden: true },
        this.noteInput,
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small btn-primary",
            on: { click: () => this.sendDiscard("other", this.noteInput.value) },
          },
          "Discard ",
          h("kbd", { text: "Enter" }),
        ),
      );
      const cancel = h(
        "button",
        { type: "button", class: "btn btn-small btn-quiet", on: { click: () => this.closeDiscard() } },
        "Cancel ",
        h("kbd", { text: "Esc" }),
      );
      return h(
        "div",
        { class: "mk-discard", hidden: true, role: "group", "aria-label": "Discard the image being placed" },
        this.discardTitle,
        h("div", { class: "mk-reasons" }, this.reasonButtons, cancel),
        this.noteRow,
      );
    }

    // loading and showing pairs --------------------------------------------------------------

    async start() {
      this.build();
      const result = await this.withRetry(
        "GET",
        this.url(`/projects/${encodeURIComponent(this.projectId)}/next`),
        undefined,
        "Not loaded",
      );
      if (!result) return;
      if (!result.ok) {
        this.fatal(`The comparisons could not be opened: ${result.error.message}`);
        return;
      }
      this.show(result.data);
    }

    fatal(message) {
      this.root.dataset.state = "error";
      this.root.replaceChildren(
        h("div", { class: "alert alert-error", role: "alert" }, h("p", { text: message })),
        h("p", {}, h("a", { href: this.backUrl, text: "Back to the masking projects" })),
      );
      if (this.viewer) this.viewer.destroy();
      this.viewer = null;
    }

    /** Show a PairOut (a fresh pair, the same one again, or the done state). */
    show(pair) {
      if (!this.alive() || !pair) return;
      const previous = this.pair;
      this.pair = pair;
      this.renderProgress(pair.progress);
      if (pair.done) {
        this.showDone();
        return;
      }
      this.doneEl.hidden = true;
      this.root.dataset.comparison = pair.comparison_id;
      const same = previous && !previous.done && previous.comparison_id === pair.comparison_id && this.viewer;
      if (!same) this.mountPair(pair);
      else if (this.viewReady) this.prefetch(pair);
      this.renderState();
    }

    mountPair(pair) {
      const querySide = pair.query_side === "right" ? "right" : "left";
      const images = withProtocol(pair);
      const left = querySide === "left" ? images.query : images.reference;
      const right = querySide === "left" ? images.reference : images.query;
      this.viewReady = false;
      this.closeDiscard();
      if (!window.MammoViewer) {
        this.viewerEl.textContent = "The image viewer did not load.";
        this.viewReady = true;
        return;
      }
      const seq = ++this.prefetchSeq;
      this.viewer = window.MammoViewer.mount(this.viewerEl, {
        images: [left, right].filter(Boolean),
        layout: "pair",
        tool: "pan",
        onReady: () => {
          if (!this.alive() || seq !== this.prefetchSeq) return;
          this.viewReady = true;
          this.renderState();
          this.prefetch(pair);
        },
      });
      if (left && right) {
        const panes = this.viewerEl.querySelectorAll(".mr-pane");
        if (panes[0]) panes[0].dataset.side = "left";
        if (panes[1]) panes[1].dataset.side = "right";
      }
    }

    onViewerState() {
      if (this.destroyed || this.viewReady) return;
      if (this.viewerEl.dataset.state === "error") {
        // An image would not load: let the reader act (discard, undo, or answer) anyway.
        this.viewReady = true;
        this.banner(
          "error",
          "An image could not be loaded. Reload the page to try again, or discard the image with D.",
        );
        this.renderState();
      }
    }

    showDone() {
      this.closeDiscard();
      if (this.viewer) this.viewer.destroy();
      this.viewer = null;
      this.viewReady = false;
      delete this.root.dataset.comparison;
      const p = this.pair.progress || {};
      const extra = [];
      if (p.discarded) extra.push(count(p.discarded, "image discarded", "images discarded"));
      if (p.reported) extra.push(count(p.reported, "image left unresolved", "images left unresolved"));
      this.doneEl.replaceChildren(
        h(
          "div",
          { class: "mk-done-box" },
          h("h2", { text: "All done" }),
          h("p", {
            text: `No pairs are left for you in this project: ${p.placed ?? 0} of ${p.total ?? 0} images placed in ${count(p.comparisons ?? 0, "comparison", "comparisons")}.`,
          }),
          extra.length ? h("p", { class: "muted", text: `${extra.join(", ")}.` }) : null,
          h(
            "p",
            { class: "mk-done-actions" },
            h("a", { class: "btn btn-primary mk-back", href: this.backUrl, text: "Back to the masking projects" }),
            h(
              "button",
              { type: "button", class: "btn btn-quiet", on: { click: () => this.undo() } },
              "Undo the last answer ",
              h("kbd", { text: "U" }),
            ),
          ),
        ),
      );
      this.doneEl.hidden = false;
      this.paused = false;
      this.renderState();
      this.say("All done: no pairs left.");
    }

    renderProgress(progress) {
      const p = progress || {};
      const parts = [
        h("span", { class: "mk-p-placed" }, h("b", { text: `${p.placed ?? 0} / ${p.total ?? 0}` }), " placed"),
        h("span", { class: "mk-p-left", text: `${p.remaining ?? 0} left` }),
        h("span", { class: "mk-p-comparisons", text: count(p.comparisons ?? 0, "comparison", "comparisons") }),
        h("span", {
          class: "mk-p-median",
          title: "Median time per comparison",
          text: p.median_seconds == null ? "median –" : `median ${Number(p.median_seconds).toFixed(1)} s`,
        }),
      ];
      if (p.discarded) parts.push(h("span", { class: "mk-p-discarded", text: `${p.discarded} discarded` }));
      if (p.reported)
        parts.push(
          h("span", {
            class: "mk-p-reported",
            title: "Answers stayed inconsistent: set aside for the project lead",
            text: `${p.reported} unresolved`,
          }),
        );
      this.progressEl.replaceChildren(...parts);
    }

    renderState() {
      if (this.destroyed) return;
      const done = Boolean(this.pair?.done);
      const state = done
        ? "done"
        : this.paused
          ? "paused"
          : this.busy
            ? "sending"
            : !this.pair
              ? "loading"
              : this.viewReady
                ? "ready"
                : "loading";
      this.root.dataset.state = state;
      this.root.classList.toggle("mk-busy", this.busy);
      this.stageEl.classList.toggle("mk-waiting", !done && !this.viewReady);
      this.coverEl.hidden = !this.paused || done;
      const canAnswer = this.canAnswer();
      for (const button of Object.values(this.answerButtons)) button.disabled = !canAnswer || this.discardOpen;
      this.answersEl.hidden = done;
      this.discardButton.disabled = !canAnswer || this.discardOpen;
      this.undoButton.disabled = this.busy || this.paused;
      this.pauseButton.disabled = done || this.paused;
    }

    canAnswer() {
      return Boolean(this.pair && !this.pair.done && !this.busy && !this.paused && this.viewReady && !this.destroyed);
    }

    canPause() {
      return Boolean(this.pair && !this.pair.done && !this.paused && !this.destroyed);
    }

    // prefetch -------------------------------------------------------------------------------

    /** Fetch the first requests of every image the possible answers lead to (first paints
     * first, then raw levels) into the HTTP cache, once the shown pair is painted. */
    async prefetch(pair) {
      const images = Array.isArray(pair.prefetch) ? pair.prefetch : [];
      const canvas = this.viewerEl.querySelector(".mr-pane[data-image-id] canvas");
      if (!images.length || !canvas) {
        this.root.dataset.prefetch = "done";
        return;
      }
      // The panes of the next pair have the size of these ones (viewer.js Pane.measure).
      const rect = canvas.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      const width = Math.max(1, Math.round(rect.width * dpr));
      const height = Math.max(1, Math.round(rect.height * dpr));
      const renders = [];
      const raws = [];
      for (const image of images) {
        if (!image?.image_id) continue;
        const [render, raw] = firstUrls(image, width, height, protocolOf(pair));
        if (render) renders.push(render);
        if (raw) raws.push(raw);
      }
      const seq = this.prefetchSeq;
      this.root.dataset.prefetch = "pending";
      await Promise.all(renders.map((url) => this.warm(url)));
      if (this.destroyed) return;
      await Promise.all(raws.map((url) => this.warm(url)));
      if (!this.destroyed && seq === this.prefetchSeq) this.root.dataset.prefetch = "done";
    }

    async warm(url) {
      if (this.prefetched.has(url)) return;
      this.prefetched.add(url);
      if (this.prefetched.size > PREFETCH_REMEMBER) this.prefetched.delete(this.prefetched.values().next().value);
      try {
        // Same URL, same credentials mode, default cache mode: what the viewer's fetch does.
        const response = await fetch(url, { credentials: "same-origin", signal: this.abort.signal });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        await response.arrayBuffer(); // read to the end, or the cache entry is not complete
      } catch (_error) {
        this.prefetched.delete(url); // the viewer will simply fetch it itself
      }
    }

    // linked zoom ------------------------------------------------------------------------------

    linkWheel(e) {
      if (!e.isTrusted || !(e.target instanceof Element)) return;
      const pane = e.target.closest(".mr-pane[data-image-id]");
      if (!pane) return;
      const other = [...this.viewerEl.querySelectorAll(".mr-pane[data-image-id]")].find((p) => p !== pane);
      const canvas = other?.querySelector("canvas");
      if (!canvas) return;
      const a = pane.getBoundingClientRect();
      const b = other.getBoundingClientRect();
      const init = {
        deltaX: e.deltaX,
        deltaY: e.deltaY,
        deltaMode: e.deltaMode,
        clientX: b.left + (e.clientX - a.left),
        clientY: b.top + (e.clientY - a.top),
        bubbles: true,
        cancelable: true,
      };
      canvas.dispatchEvent(new WheelEvent("wheel", init));
    }

    // answering ----------------------------------------------------------------------------------

    clickAnswer(e, side) {
      this.dropFocus(e);
      this.answerSide(side);
    }

    /** A mouse click leaves the focus on the stage, so a later Enter / Space cannot press the
     * button again by accident (keyboard activation, detail 0, keeps the focus). */
    dropFocus(e) {
      if (e && e.detail !== 0 && this.stageEl) this.stageEl.focus({ preventScroll: true });
    }

    /** "left" | "right" | "same": the side the reader finds harder. */
    answerSide(side) {
      if (!this.canAnswer() || this.discardOpen) return;
      const pair = this.pair;
      let answer;
      if (side === "same") answer = "same";
      else answer = side === pair.query_side ? "query" : "reference";
      this.flash(side);
      const words = side === "same" ? "No difference" : `${sideName(side)} is harder`;
      this.send({ answer }, words);
    }

    flash(side) {
      const targets = side === "same" ? ["left", "right"] : [side];
      const button = this.answerButtons[side];
      const els = targets.map((s) => this.flashEls[s]).concat(button ? [button] : []);
      for (const el of els) {
        el.classList.remove("mk-flashing");
        void el.offsetWidth; // restart the animation
        el.classList.add("mk-flashing");
        clearTimeout(this.flashTimers.get(el));
        this.flashTimers.set(
          el,
          setTimeout(() => el.classList.remove("mk-flashing"), FLASH_MS + 50),
        );
      }
    }

    async send(body, words) {
      if (this.busy) return;
      const pair = this.pair;
      const comparisonId = pair.comparison_id;
      this.busy = true;
      this.clearBanner();
      this.renderState();
      const result = await this.withRetry(
        "POST",
        this.url(`/comparisons/${encodeURIComponent(comparisonId)}`),
        body,
        "Not sent",
      );
      if (!result) return; // destroyed
      this.busy = false;
      if (result.ok) {
        this.say(`${words} — sent.`);
        this.show(result.data.next);
        return;
      }
      // comparison_not_current: answered or undone elsewhere; already_answered: answered
      // elsewhere with another answer (the same answer would have been a harmless replay).
      if (
        result.status === 409 &&
        (result.error.code === "comparison_not_current" || result.error.code === "already_answered")
      ) {
        this.banner(
          "warn",
          "That pair had already been answered or undone in another tab or window. Here is the current pair.",
        );
        await this.reload();
        return;
      }
      // Refused (not retryable): say why, keep the pair.
      this.banner("error", `The answer was refused: ${result.error.message}`);
      this.renderState();
    }

    /** Fetch the current pair again (after a conflict), with retry. */
    async reload() {
      this.busy = true;
      this.renderState();
      const result = await this.withRetry(
        "GET",
        this.url(`/projects/${encodeURIComponent(this.projectId)}/next`),
        undefined,
        "Not loaded",
      );
      if (!result) return null;
      this.busy = false;
      if (!result.ok) {
        this.banner("error", `The current pair could not be loaded: ${result.error.message}`);
        this.renderState();
        return null;
      }
      this.show(result.data);
      return result.data;
    }

    async undo() {
      if (this.busy || this.paused || !this.pair || this.destroyed) return;
      this.closeDiscard();
      const before = this.pair.done ? null : this.pair.comparison_id;
      this.busy = true;
      this.clearBanner();
      this.renderState();
      const result = await api(
        "POST",
        this.url(`/projects/${encodeURIComponent(this.projectId)}/undo`),
        undefined,
        this.requestOptions(),
      );
      if (!this.alive()) return;
      this.busy = false;
      if (result.ok) {
        this.say("Last answer undone: this pair again.");
        this.show(result.data.next);
        return;
      }
      if (result.status === 409 && result.error.code === "nothing_to_undo") {
        this.say("Nothing to undo.");
        this.banner("warn", "There is no answer to undo.");
        this.renderState();
        return;
      }
      if (!retryable(result)) {
        this.banner("error", `The undo was refused: ${result.error.message}`);
        this.renderState();
        return;
      }
      // Did it happen? Sending it again could undo two answers: look at the current pair instead.
      const now = await this.reload();
      if (!now) return;
      const after = now.done ? null : now.comparison_id;
      if (after !== before) this.say("Last answer undone: this pair again.");
      else this.banner("error", `The undo did not get through (${troubleText(result)}). Press U to try again.`);
    }

    // discard ------------------------------------------------------------------------------------

    openDiscard() {
      if (!this.canAnswer()) return;
      const side = this.pair.query_side === "right" ? "right" : "left";
      this.discardOpen = true;
      this.discardSide = side;
      this.discardTitle.textContent = `Discard the ${side} image? It cannot be judged because it is:`;
      this.noteRow.hidden = true;
      this.noteInput.value = "";
      this.discardEl.hidden = false;
      this.discardEl.dataset.side = side;
      this.stageEl.dataset.discard = side;
      this.renderState();
      this.say(`Discard the ${side} image: 1 distorted, 2 incomplete breast, 3 other, Esc cancels.`);
    }

    closeDiscard() {
      if (!this.discardEl) return;
      const wasOpen = this.discardOpen;
      this.discardOpen = false;
      this.discardEl.hidden = true;
      this.noteRow.hidden = true;
      delete this.stageEl.dataset.discard;
      if (wasOpen && this.noteInput === document.activeElement) this.stageEl.focus({ preventScroll: true });
      if (wasOpen) this.renderState();
    }

    chooseReason(reason) {
      if (!this.discardOpen) return;
      if (reason === "other") {
        this.noteRow.hidden = false;
        this.noteInput.focus();
        return;
      }
      this.sendDiscard(reason, "");
    }

    sendDiscard(reason, note) {
      if (!this.discardOpen || this.busy) return;
      const side = this.discardSide;
      const body = { answer: "discard", reason };
      const text = String(note || "").trim();
      if (reason === "other" && text) body.note = text;
      this.closeDiscard();
      this.flash(side);
      // canAnswer() held when the chooser opened; the pair cannot have changed meanwhile
      // (nothing else is sent while it is open).
      this.send(body, `${sideName(side)} image discarded`);
    }

    onNoteKey(e) {
      if (e.key === "Enter") {
        e.preventDefault();
        e.stopPropagation();
        this.sendDiscard("other", this.noteInput.value);
      } else if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        this.closeDiscard();
        this.say("Discard cancelled.");
      }
    }

    // pause ----------------------------------------------------------------------------------------

    pause() {
      if (!this.canPause()) return;
      this.closeDiscard();
      this.paused = true;
      this.renderState();
      this.resumeButton.focus({ preventScroll: true });
      this.say("Paused.");
    }

    async resume() {
      if (!this.paused || this.resuming) return;
      this.resuming = true;
      // The cover stays until the server has served the pair again: its clock restarts then.
      const wasBusy = this.busy;
      if (wasBusy) {
        // An answer is still on its way (retrying); it will bring the next pair itself.
        this.resuming = false;
        this.paused = false;
        this.renderState();
        this.stageEl.focus({ preventScroll: true });
        return;
      }
      this.busy = true;
      this.renderState();
      const result = await this.withRetry(
        "GET",
        this.url(`/projects/${encodeURIComponent(this.projectId)}/next`),
        undefined,
        "Not loaded",
      );
      this.resuming = false;
      if (!result) return;
      this.busy = false;
      this.paused = false;
      if (!result.ok) {
        this.banner("error", `The current pair could not be loaded: ${result.error.message}`);
        this.renderState();
        return;
      }
      this.show(result.data);
      this.stageEl.focus({ preventScroll: true });
      this.say("Resumed.");
    }

    // requests with retry --------------------------------------------------------------------------

    /** Send until the server answers (anything but trouble worth retrying); null if the
     * screen went away meanwhile. The request is never changed between attempts. */
    async withRetry(method, url, body, failWords) {
      let attempt = 0;
      for (;;) {
        const result = await api(method, url, body, this.requestOptions());
        if (!this.alive()) return null;
        if (result.ok || !retryable(result)) {
          if (attempt) this.clearRetry();
          return result;
        }
        const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
        attempt++;
        this.showRetry(`${failWords} — retrying in ${Math.round(delay / 1000)} s (${troubleText(result)})`);
        await new Promise((resolve) => {
          this.retryWake = resolve;
          this.retryTimer = setTimeout(resolve, delay);
        });
        clearTimeout(this.retryTimer);
        this.retryWake = null;
        if (!this.alive()) return null;
        this.showRetry(`${failWords} — retrying…`);
      }
    }

    showRetry(text) {
      this.root.dataset.retry = "true";
      this.statusEl.textContent = text;
      this.statusEl.classList.add("mk-status-error");
      this.retryButton.hidden = false;
    }

    clearRetry() {
      delete this.root.dataset.retry;
      this.statusEl.classList.remove("mk-status-error");
      this.statusEl.textContent = "";
      this.retryButton.hidden = true;
    }

    retryNow() {
      if (this.retryWake) this.retryWake();
    }

    // messages -------------------------------------------------------------------------------------

    say(text) {
      if (this.root.dataset.retry) return; // the retry line stays until it is resolved
      this.statusEl.textContent = text;
    }

    banner(kind, text) {
      clearTimeout(this.bannerTimer);
      const box = h(
        "div",
        { class: `alert alert-${kind} mk-banner`, role: kind === "error" ? "alert" : "status", "data-kind": kind },
        h("p", { text }),
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small btn-quiet",
            "aria-label": "Dismiss",
            on: { click: () => this.clearBanner() },
          },
          "×",
        ),
      );
      this.bannerEl.replaceChildren(box);
      if (kind !== "error") this.bannerTimer = setTimeout(() => this.clearBanner(), BANNER_MS);
    }

    clearBanner() {
      clearTimeout(this.bannerTimer);
      if (this.bannerEl) this.bannerEl.replaceChildren();
    }

    // keyboard -------------------------------------------------------------------------------------

    onKey(e) {
      if (!this.alive() || !this.help) return;
      const key = e.key;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const swallow = () => {
        e.preventDefault();
        e.stopPropagation();
      };
      if (this.help.onKey(e)) return; // nothing reaches the viewer behind the help
      if (e.target === this.noteInput) return; // its own handler
      if (isTextEntry(e.target)) return;
      if (key === "?") {
        swallow();
        this.help.toggle(true);
        return;
      }
      if (this.paused) {
        if (key === " " || key === "Enter" || key === "Escape") {
          swallow();
          if (!e.repeat) this.resume();
        } else if (key !== "Tab") {
          swallow(); // nothing else while the images are covered (the viewer's keys neither)
        }
        return;
      }
      if (this.discardOpen) {
        const reason = REASONS.find(([k]) => k === key);
        if (reason) {
          swallow();
          if (!e.repeat) this.chooseReason(reason[1]);
        } else if (key === "Escape") {
          swallow();
          this.closeDiscard();
          this.say("Discard cancelled.");
        } else if (["2", "9", "d", "D", "u", "U"].includes(key)) {
          swallow();
        }
        return;
      }
      // A held Enter / Space on an answer button would answer pair after pair.
      if (
        (key === "Enter" || key === " ") &&
        e.repeat &&
        e.target instanceof Element &&
        e.target.closest(".mk-answer, .mk-tool")
      ) {
        swallow();
        return;
      }
      const lower = key.length === 1 ? key.toLowerCase() : key;
      switch (lower) {
        case "1":
        case "2":
        case "9":
          swallow();
          if (!e.repeat) this.answerSide(lower === "1" ? "left" : lower === "2" ? "right" : "same");
          return;
        case "d":
          swallow();
          if (!e.repeat) this.openDiscard();
          return;
        case "u":
          swallow();
          if (!e.repeat) this.undo();
          return;
        case "Escape":
          swallow();
          if (!e.repeat) this.pause();
          return;
        default:
          // P, I, R, F, Z, +, -, arrows: the viewer's
          return;
      }
    }
  }

  // --- mounting and page-level listeners ------------------------------------------------------

  // Keys reach the screen first (nor the viewer nor app.js's one-key links see the ones it
  // uses); the back-button snapshot keeps no style attributes and no stale pair (the screen is
  // rebuilt from the server): common.js keepMounted.
  keepMounted("masking", {
    current: () => current,
    create(root) {
      current = new Masking(root);
      current.start();
    },
  });

  window.MammoMasking = Object.freeze({
    /** For tests and debugging: what the screen shows and whether it is waiting. */
    state() {
      if (!current || current.destroyed) return null;
      const pair = current.pair;
      return {
        comparisonId: pair && !pair.done ? pair.comparison_id : null,
        done: Boolean(pair?.done),
        busy: current.busy,
        paused: current.paused,
        ready: current.viewReady,
        discardOpen: current.discardOpen,
        progress: pair ? JSON.parse(JSON.stringify(pair.progress || {})) : null,
      };
    },
    /** The URLs a freshly mounted pair viewer fetches first (exposed for tests). */
    firstUrls,
  });
})();
