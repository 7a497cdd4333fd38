// MammoRead reading screen, submitting and the way on: submit (after the last save lands), the
// server's answer (refused fields shown and focused, or the submitted state), and the next case.
// Methods of the screen (screen.js, mix-in.js).

const { api } = window.MammoCommon;

export const submitting = {
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
      if (this.detail?.session?.aided) body.aid = { accepted: this.acceptedMarks() };
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
  },

  /** A reader study's case set aside with `reason` (after the last save lands); the answer, or
   * null when the screen cannot act now. */
  async exclude(reason) {
    if (this.submitting || this.readOnly || !this.editor) return null;
    this.submitting = true;
    this.store.cancelScheduled();
    try {
      await this.store.idle();
      if (this.store.blocked) return { ok: false, error: { message: "Your work could not be saved: see above." } };
      const result = await api("POST", `${this.apiUrl}/exclude`, { reason, version: this.store.version });
      if (result.ok && !this.destroyed) {
        this.excluded = reason;
        this.submitAnswered(result);
      }
      return result;
    } finally {
      this.submitting = false;
      if (!this.destroyed) this.renderAll();
    }
  },

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
  },

  focusFirstViolation() {
    const first = this.violations[0];
    if (!first) return;
    this.panel.focusViolation(first.field);
    const message = this.root.querySelector(".rd-msg-error");
    if (message) message.scrollIntoView({ block: "nearest" });
  },

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
      if (this.excluded) text = `Case excluded (${this.excluded}); this reading is done.`;
    }
    this.nextLink = this.panel.showResult(text, this.nextUrl, this.worklistUrl);
    this.renderAll();
    this.nextLink.focus({ preventScroll: true });
  },

  goNext() {
    // Keys pressed while the next case loads are refused out loud (keys.js), and the screen says
    // it is no longer the one to type into: its state leaves "ready" (what tests and assistive
    // technology wait for) and the result line says the next case is on its way.
    this.leaving = true;
    this.root.dataset.state = "leaving";
    this.panel.showLeaving("Loading the next case…");
    if (this.nextLink?.isConnected) this.nextLink.click();
    else this.go(this.nextUrl);
  },

  go(url) {
    window.location.assign(url);
  },
};
