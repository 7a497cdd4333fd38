// MammoRead reading screen, saving and time: what the draft store (draft-store.js) reports (saved,
// a conflict, the case gone), the choices a conflict or an older local copy offers, the active
// reading time (the server measures it; the screen ticks between its answers) and the listeners
// that let the last save land before the page goes. Methods of the screen (screen.js, mix-in.js),
// and listenToThePage.

const { normaliseLabel } = await import(`./label-editor.js${new URL(import.meta.url).search}`);

const ACTIVITY_EVERY_MS = 15000;
const IDLE_DISPLAY_MS = 60000;

const { api } = window.MammoCommon;

function formatDuration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const minutes = Math.floor(total / 60);
  const rest = String(total % 60).padStart(2, "0");
  if (minutes < 60) return `${minutes}:${rest}`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

export const saving = {
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
  },

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
  },

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
  },

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
  },

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
  },

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
  },

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
  },

  unsaved() {
    return !this.destroyed && Boolean(this.store?.unsaved());
  },
};

/** The page-level listeners: leaving the page (closing or reloading it, hiding it, an htmx
 * link) lets the last save land first. `current()` is the mounted screen, if any. */
export function listenToThePage(current) {
  window.addEventListener("beforeunload", (e) => {
    const reading = current();
    if (reading?.unsaved()) {
      reading.store.flushOnExit();
      e.preventDefault();
      e.returnValue = "";
    }
  });
  window.addEventListener("pagehide", () => {
    const reading = current();
    if (reading?.unsaved()) reading.store.flushOnExit();
  });
  document.addEventListener("visibilitychange", () => {
    const reading = current();
    if (document.visibilityState === "hidden" && reading?.unsaved() && !reading.store.inFlight) reading.store.flush();
  });
  // htmx navigation away (boosted links): let the last save land first.
  document.addEventListener("htmx:confirm", (e) => {
    const reading = current();
    if (!reading?.alive() || !reading.unsaved()) return;
    if (e.detail?.elt && reading.root.contains(e.detail.elt) && !e.detail.elt.matches("a")) return;
    e.preventDefault();
    reading.store.settle().then(() => e.detail.issueRequest(true));
  });
}
