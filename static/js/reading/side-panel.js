// MammoRead reading screen, the side panel: the form beside the images. This class builds the
// panel's frame (heading, save state and time, tools, note, submit), renders it all from the
// screen's state, puts every message next to its field and shows the submitted result; its other
// methods come from one module per part of the form (mix-in.js):
//   panel-breasts.js      the breast rows (BI-RADS and density per breast);
//   panel-findings.js     the list of the reader's boxes;
//   panel-categories.js   the selected box's editor: category picker and finding BI-RADS;
//   panel-arbitration.js  the two readers' values, boxes and discordances (arbitration only);
//   panel-aid.js          a reader study's session, the AI's help, excluding a case.
// It calls the screen's actions and keeps no state of its own beyond its elements. Each module
// here loads the ones it needs with its own ?v=<version> query (see screen.js). Needs common.js
// (window.MammoCommon).

const version = new URL(import.meta.url).search;
const [
  { mixIn },
  { fill, msgs },
  { breastRows },
  { findingsList },
  { categoryPicker },
  { arbitrationView },
  { studyPanel },
] = await Promise.all(
  ["mix-in", "panel-dom", "panel-breasts", "panel-findings", "panel-categories", "panel-arbitration", "panel-aid"].map(
    (name) => import(`./${name}.js${version}`),
  ),
);

export class SidePanel {
  /** `screen` is the reading screen: its state is read at every render. */
  constructor(screen) {
    this.screen = screen;
    this.filterEl = null;
  }

  get label() {
    return this.screen.editor.label;
  }

  // --- building --------------------------------------------------------------------------------

  /** The panel's element (heading, tools, form, submit) for the task `detail`. */
  build(detail, help) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const arbitration = s.kind === "arbitrate";
    this.saveEl = h("span", { class: "rd-save", role: "status", "aria-live": "polite" });
    this.timeEl = h("span", { class: "rd-time", title: "Active reading time, measured on the server" });
    const helpButton = h(
      "button",
      {
        type: "button",
        class: "btn btn-small btn-quiet rd-help-button",
        "aria-keyshortcuts": "?",
        on: { click: () => help.toggle(true) },
      },
      "Keys ",
      h("kbd", { text: "?" }),
    );
    const heading = h(
      "div",
      { class: "rd-head" },
      h(
        "h1",
        { class: "rd-title" },
        h("span", { text: arbitration ? "Arbitration" : "Read" }),
        h("span", {
          class: "muted rd-case",
          text: ` · ${detail.project_name} · ${String(detail.study_id).slice(0, 12)}`,
        }),
      ),
      this.sessionTag(detail),
      this.priorTag(detail),
      h("div", { class: "rd-status-row" }, this.saveEl, this.timeEl, helpButton),
    );
    // The answer to a submit sits at the top of the panel, where the reader looks, and is read out.
    this.resultEl = h("div", { class: "rd-result", role: "status", "aria-live": "polite", hidden: true });
    const side = h(
      "aside",
      { class: "rd-side", "aria-label": arbitration ? "Arbitration form" : "Reading form" },
      heading,
      this.resultEl,
      this.buildTools(arbitration),
    );
    this.element = side;
    if (detail.session && !arbitration) this.buildExclude(side.querySelector(".rd-tools"));
    if (detail.session?.aided) side.append(this.buildAid());
    if (detail.instructions) {
      side.append(
        h(
          "details",
          { class: "rd-instructions" },
          h("summary", { text: "Instructions" }),
          h("p", { text: detail.instructions }),
        ),
      );
    }
    if (arbitration) side.append(this.buildDiscordances(), this.buildReaderNotes());
    side.append(this.buildBreasts(arbitration));
    this.findingsEl = h("section", { class: "rd-section rd-findings", "aria-label": "Findings" });
    this.editorEl = h("section", { class: "rd-section rd-editor", "aria-label": "Selected box" });
    side.append(this.findingsEl, this.editorEl);
    if (arbitration) {
      this.readerListsEl = h("section", { class: "rd-section rd-reader-lists", "aria-label": "The readers' boxes" });
      side.append(this.readerListsEl);
    }
    side.append(this.buildNote(), this.buildSubmit(arbitration));
    return side;
  }

  buildTools(arbitration) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    this.drawButton = h(
      "button",
      {
        type: "button",
        class: "btn btn-small rd-draw-toggle",
        "aria-pressed": "false",
        "aria-keyshortcuts": "M",
        on: { click: () => s.setDrawMode(!s.drawMode) },
      },
      "Draw boxes ",
      h("kbd", { text: "M" }),
    );
    const tools = h("div", { class: "rd-tools" }, this.drawButton);
    this.readerToggles = {};
    if (arbitration) this.addReaderToggles(tools);
    return tools;
  }

  buildNote() {
    const { h } = window.MammoCommon;
    this.noteEl = h("textarea", {
      id: "rd-note",
      class: "rd-note",
      rows: "3",
      maxlength: "10000",
      on: { input: (e) => this.screen.setNote(e.target.value) },
    });
    return h(
      "section",
      { class: "rd-section" },
      h("label", { for: "rd-note", text: "Note" }),
      this.noteEl,
      msgs("note"),
    );
  }

  buildSubmit(arbitration) {
    const { h } = window.MammoCommon;
    this.submitButton = h(
      "button",
      {
        type: "button",
        class: "btn btn-primary btn-block rd-submit",
        "aria-keyshortcuts": "Control+Enter",
        on: { click: () => this.screen.submit() },
      },
      arbitration ? "Submit arbitration " : "Submit read ",
      h("kbd", { text: "Ctrl+Enter" }),
    );
    return h("section", { class: "rd-section rd-submit-area" }, msgs(""), this.submitButton);
  }

  // --- rendering -------------------------------------------------------------------------------

  render() {
    const s = this.screen;
    const focus = this.focusToken();
    this.renderBreasts();
    this.renderFindings();
    this.renderEditor();
    this.renderReaderLists();
    this.renderAid();
    if (this.excludeButton) this.excludeButton.disabled = s.readOnly || s.submitting;
    if (document.activeElement !== this.noteEl && this.noteEl.value !== this.label.note)
      this.noteEl.value = this.label.note;
    this.noteEl.readOnly = s.readOnly;
    this.renderMessages();
    this.submitButton.disabled = s.readOnly || s.submitting || Boolean(s.store.blocked);
    if (focus && !this.element.contains(document.activeElement)) {
      const again = this.element.querySelector(focus);
      if (again && !again.disabled) again.focus({ preventScroll: true });
    }
  }

  /** A selector for the focused panel control that survives a re-render of its list. */
  focusToken() {
    const el = document.activeElement;
    if (!(el instanceof Element) || !this.element.contains(el)) return null;
    const row = el.closest(".rd-finding");
    const own = [...el.classList].find((c) => c.startsWith("rd-"));
    if (row && own) {
      const slot = row.dataset.slot ? `[data-slot="${row.dataset.slot}"]` : ":not([data-slot])";
      return `.rd-finding[data-box-id="${CSS.escape(row.dataset.boxId)}"]${slot} .${own}`;
    }
    const category = el.closest(".rd-category");
    if (category) return `.rd-category[data-name="${CSS.escape(category.dataset.name)}"] input`;
    if (el.closest(".rd-finding-grade") && el.dataset.value)
      return `.rd-finding-grade button[data-value="${el.dataset.value}"]`;
    return null;
  }

  /** Every message next to its field: submit violations (errors) over live hints. */
  renderMessages() {
    const s = this.screen;
    if (!s.root.isConnected) return;
    const containers = new Map();
    for (const el of s.root.querySelectorAll(".rd-msgs")) {
      el.replaceChildren();
      containers.set(el.dataset.field, el);
    }
    const place = this.placer(containers);
    for (const v of s.violations) place(v, "violation");
    for (const hint of s.hints) if (!s.violations.some((v) => v.field === hint.field)) place(hint, "hint");
    for (const message of s.generalMessages) {
      const item = { field: "", message: message.text, severity: message.severity };
      place(item, message.severity === "error" ? "violation" : "hint");
    }
    for (const [field, el] of containers) {
      el.hidden = !el.childElementCount;
      const parts = field.split(".");
      if (parts[0] !== "breasts" || parts.length !== 2) continue;
      const group = s.root.querySelector(`.rd-breast[data-lat="${parts[1]}"]`);
      if (group)
        group.classList.toggle(
          "rd-invalid",
          s.violations.some((v) => v.field.startsWith(field)),
        );
    }
  }

  /** place(item, kind): a message in the container of its field, or of the nearest parent. */
  placer(containers) {
    const { h } = window.MammoCommon;
    const shown = new Set();
    return (item, kind) => {
      let field = String(item.field || "");
      let target = containers.get(field);
      while (!target && field) {
        field = field.includes(".") ? field.slice(0, field.lastIndexOf(".")) : "";
        target = containers.get(field);
      }
      if (!target) return;
      const key = `${item.field}|${item.message}`;
      if (shown.has(key)) return;
      shown.add(key);
      const severity = kind === "violation" ? "error" : item.severity === "warning" ? "warning" : "hint";
      target.append(h("p", { class: `rd-msg rd-msg-${severity}`, "data-for": item.field, text: item.message }));
    };
  }

  /** The save state line. */
  renderSave() {
    const s = this.screen;
    const { state, text } =
      s.submitted || s.status === "submitted" ? { state: "saved", text: "Submitted" } : s.store.describe();
    this.saveEl.dataset.save = state;
    if (this.saveEl.textContent !== text) this.saveEl.textContent = text;
  }

  /** The submitted case: what happened and the way on. */
  showResult(text, nextUrl, worklistUrl) {
    const { h } = window.MammoCommon;
    this.submitButton.hidden = true;
    const next = h(
      "a",
      { class: "btn btn-primary rd-next", href: nextUrl, "aria-keyshortcuts": "N" },
      "Next case ",
      h("kbd", { text: "N" }),
    );
    fill(
      this.resultEl,
      h("p", { class: "rd-result-text" }, h("strong", { text })),
      next,
      h("a", { class: "btn btn-quiet", href: worklistUrl, text: "Worklist" }),
    );
    this.resultEl.hidden = false;
    this.element.scrollTop = 0;
    this.resultEl.scrollIntoView({ block: "nearest" });
    if (window.htmx && typeof window.htmx.process === "function") window.htmx.process(this.resultEl);
    return next;
  }

  /** After N: the next case is on its way (the result line says so while it loads). */
  showLeaving(text) {
    const next = this.resultEl.querySelector(".rd-next");
    if (next) next.setAttribute("aria-disabled", "true");
    const line = this.resultEl.querySelector(".rd-result-text");
    if (line) line.after(window.MammoCommon.h("p", { class: "muted rd-leaving", role: "status", text }));
  }

  /** Focus the control of the first refused field. */
  focusViolation(field) {
    const s = this.screen;
    const parts = field.split(".");
    if (parts[0] === "breasts" && this.breastEls[parts[1]]) {
      s.setActive(parts[1]);
      this.focusChoice(parts[1], parts[2] === "density" ? "density" : "birads");
    } else if (parts[0] === "boxes" && s.editor.findBox(parts[1])) {
      s.select({ owner: "own", id: parts[1] });
      const focus =
        parts[2] === "birads"
          ? this.editorEl.querySelector(".rd-finding-grade button")
          : parts[2] === "categories"
            ? this.filterEl
            : this.element.querySelector(`.rd-finding[data-box-id="${parts[1]}"] .rd-finding-select`);
      if (focus) focus.focus();
    }
  }
}

mixIn(SidePanel, breastRows, findingsList, categoryPicker, arbitrationView, studyPanel);
