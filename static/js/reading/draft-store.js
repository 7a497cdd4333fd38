// MammoRead reading screen, the draft store: never lose a mark. No DOM; it talks to the task
// API through the `api` it is given and tells the screen what happened through callbacks.
//
//   * every change is saved as a draft (PUT {url}/draft), debounced 400 ms, one request in
//     flight at a time; the next save always sends the newest label with the newest version;
//   * an unsaved copy sits in localStorage under "mammoread:draft:<task>:<base version>" until
//     the server has it, and is offered back on load (restorable());
//   * a 409 version_conflict (another tab saved first) stops saving (blocked "conflict") and
//     the screen asks the reader what to do: nothing is overwritten silently; a 409
//     reassigned / submitted or a 404 closes editing (blocked with that reason);
//   * network and server errors are retried with backoff while the page says "Not saved".

export const SAVE_DELAY_MS = 400;
export const RETRY_MS = [1000, 2000, 4000, 8000, 15000, 30000];
export const NAVIGATION_WAIT_MS = 3000;
const STORAGE_PREFIX = "mammoread:draft:";

/** The copies of unsaved work this browser keeps for one task (at most one at a time). */
export class LocalCopies {
  constructor(taskId) {
    this.prefix = `${STORAGE_PREFIX}${taskId}:`;
  }

  key(version) {
    return `${this.prefix}${version}`;
  }

  /** [{key, version, label, at}], newest first; damaged copies are skipped. */
  entries() {
    const found = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const key = localStorage.key(i);
        if (!key?.startsWith(this.prefix)) continue;
        const entry = this.read(key);
        if (entry) found.push(entry);
      }
    } catch (_error) {
      // storage unavailable (privacy mode): the server copy is all there is
    }
    return found.sort((a, b) => b.at - a.at);
  }

  read(key) {
    try {
      const value = JSON.parse(localStorage.getItem(key));
      if (!value?.label) return null;
      return { key, version: Number(value.version), label: value.label, at: Number(value.at) || 0 };
    } catch (_error) {
      return null; // a damaged copy is ignored
    }
  }

  write(version, label) {
    try {
      const key = this.key(version);
      for (const entry of this.entries()) if (entry.key !== key) localStorage.removeItem(entry.key);
      localStorage.setItem(key, JSON.stringify({ version, label, at: Date.now() }));
      return true;
    } catch (_error) {
      return false;
    }
  }

  clear() {
    try {
      for (const entry of this.entries()) localStorage.removeItem(entry.key);
    } catch (_error) {
      // nothing to clear
    }
  }
}

/** The save queue of one task's draft.
 * options: api (common.js's), url (the task's API), taskId, version (the server's), label()
 * (the newest label, a copy), canSave() (false once the screen is read-only), held() (true
 * while a submit is under way: saves wait), troubleText (common.js's), and the callbacks onSaved(data) (the server took a draft),
 * onBlocked(reason, error) (saving stopped: "conflict", "reassigned", "submitted", "gone") and
 * onUpdate() (anything the save state line shows changed). */
export class DraftStore {
  constructor(options) {
    this.options = options;
    this.local = new LocalCopies(options.taskId);
    this.version = options.version;
    this.dirty = false;
    this.editSeq = 0;
    this.inFlight = null;
    this.saveTimer = 0;
    this.retryTimer = 0;
    this.retryIndex = 0;
    this.saveError = "";
    this.blocked = null; // "conflict" | "reassigned" | "submitted" | "gone"
    this.closed = false;
  }

  /** Saving now or soon. */
  get saving() {
    return Boolean(this.inFlight || this.saveTimer);
  }

  destroy() {
    this.closed = true;
    clearTimeout(this.saveTimer);
    clearTimeout(this.retryTimer);
  }

  allowed() {
    return !this.closed && !this.blocked && this.options.canSave();
  }

  /** The label changed: keep a local copy and save soon. */
  changed() {
    this.editSeq++;
    this.dirty = true;
    this.local.write(this.version, this.options.label());
    if (!this.blocked) this.schedule();
  }

  schedule(delay = SAVE_DELAY_MS) {
    if (!this.allowed()) return;
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => {
      this.saveTimer = 0;
      this.flush();
    }, delay);
    this.options.onUpdate();
  }

  /** Stop a debounced save (a submit sends the label itself). */
  cancelScheduled() {
    clearTimeout(this.saveTimer);
    this.saveTimer = 0;
  }

  /** Send the newest label now (unless a request is in flight: it follows that one). */
  flush() {
    this.cancelScheduled();
    if (!this.allowed() || this.options.held() || !this.dirty || this.inFlight) {
      return this.inFlight || Promise.resolve();
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    const seq = this.editSeq;
    const body = { label: this.options.label(), version: this.version };
    const request = (async () => {
      const result = await this.options.api("PUT", `${this.options.url}/draft`, body);
      this.inFlight = null;
      if (this.closed) return;
      if (result.ok) this.saved(result.data, seq);
      else this.failed(result);
      this.options.onUpdate();
      if (this.dirty && !this.saveTimer && !this.retryTimer && !this.blocked) this.flush();
    })();
    this.inFlight = request;
    this.options.onUpdate();
    return request;
  }

  saved(data, seq) {
    this.version = data.version;
    this.retryIndex = 0;
    this.saveError = "";
    if (this.editSeq === seq) {
      this.dirty = false;
      this.local.clear();
    } else {
      this.local.write(this.version, this.options.label()); // the newer edits, on the new base
    }
    this.options.onSaved(data);
  }

  /** A refused save (or submit: 409 and 404 mean the same there). */
  failed(result) {
    const { status, error } = result;
    if (status === 409 && error.code === "version_conflict") {
      this.blocked = "conflict";
      this.local.write(this.version, this.options.label());
    } else if (status === 409 && (error.code === "reassigned" || error.code === "submitted")) {
      this.blocked = error.code;
      this.dirty = false;
      this.local.clear();
    } else if (status === 404) {
      this.blocked = "gone";
    } else if (status === 422) {
      // The label itself was refused: retrying the same would fail again. The next edit retries.
      this.saveError = error.message;
      return;
    } else {
      this.retryLater(result);
      return;
    }
    this.options.onBlocked(this.blocked, error);
  }

  /** Network, server or session trouble: keep the local copy and retry with backoff. */
  retryLater(result) {
    const delay = RETRY_MS[Math.min(this.retryIndex, RETRY_MS.length - 1)];
    this.retryIndex++;
    const trouble = this.options.troubleText(result);
    this.saveError = `${trouble}; retrying in ${Math.round(delay / 1000)} s (kept in this browser)`;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = 0;
      this.flush();
    }, delay);
  }

  /** The local copy of unsaved work, if the server has not got it: null, or {label, at, current}
   * (`current`: based on the version the server still has, so it can be saved at once).
   * `normalise` makes a stored label comparable; `serverLabel` is the server's, normalised. */
  restorable(serverLabel, normalise) {
    const serverJson = JSON.stringify(serverLabel);
    const [entry] = this.local.entries();
    if (!entry) return null;
    const label = normalise(entry.label);
    if (JSON.stringify(label) === serverJson) {
      this.local.clear();
      return null;
    }
    return { label, at: entry.at, current: entry.version === this.version };
  }

  /** The restored copy is now the label: save it right away. */
  adoptRestored() {
    this.dirty = true;
    this.editSeq++;
    this.schedule(0);
  }

  /** Forget the copy in this browser (the reader discarded it, or the case is closed). */
  discardLocal() {
    this.local.clear();
  }

  /** The server's newest version replaced the label (after a conflict). */
  reset(version) {
    this.local.clear();
    this.version = version;
    this.blocked = null;
    this.dirty = false;
    this.saveError = "";
  }

  /** After a conflict: save this tab's label on top of the server's `version`. */
  overwrite(version) {
    this.version = version;
    this.blocked = null;
    this.dirty = true;
    this.editSeq++;
    this.options.onUpdate();
    this.flush();
  }

  /** Wait for the request in flight, so the version is the newest (before a submit). */
  async idle() {
    while (this.inFlight) await this.inFlight;
  }

  /** The label was submitted: nothing is left to save. */
  submitted() {
    this.dirty = false;
    this.local.clear();
  }

  unsaved() {
    return !this.closed && this.options.canSave() && (this.dirty || Boolean(this.inFlight));
  }

  /** Last chance when the page goes away: send the newest label without waiting. */
  flushOnExit() {
    if (!this.dirty || !this.allowed() || this.inFlight) return;
    const label = this.options.label();
    this.local.write(this.version, label);
    this.options.api("PUT", `${this.options.url}/draft`, { label, version: this.version }, { keepalive: true });
  }

  /** Before navigating away: save first (at most a few seconds). */
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

  /** The save state line: {state: "saved" | "saving" | "error", text}. */
  describe() {
    if (this.blocked === "conflict") return { state: "error", text: "Not saved: changed in another tab" };
    if (this.blocked) return { state: "error", text: "Not saved: editing is closed" };
    if (this.saveError) return { state: "error", text: `Not saved: ${this.saveError}` };
    if (this.saving) return { state: "saving", text: "Saving…" };
    if (this.dirty) return { state: "error", text: "Not saved" };
    return { state: "saved", text: "Saved" };
  }
}
