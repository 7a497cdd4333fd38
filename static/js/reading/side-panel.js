// MammoRead reading screen, the side panel: the per-breast BI-RADS / density form, the findings
// list, the selected box's categories and finding BI-RADS, the readers' boxes (arbitration),
// the note, the messages next to their fields, and submit. It builds and renders the panel from
// the screen's state and calls the screen's actions; it keeps no state of its own beyond its
// elements. Needs common.js (window.MammoCommon).

const READER_SLOTS = [1, 2];

/** replaceChildren that skips null / false (conditional parts). */
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((child) => child != null && child !== false));
  return el;
}

function biradsText(value) {
  return value == null ? "–" : String(value);
}

/** The server calls the two reads A and B (slot 1 and 2); the screen says reader 1 and 2. */
function readerNames(text) {
  return text.replace(/\breader ([AB])\b/g, (_, letter) => `reader ${letter === "A" ? 1 : 2}`);
}

function msgs(field) {
  return window.MammoCommon.h("div", { class: "rd-msgs", "data-field": field });
}

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
      h("div", { class: "rd-status-row" }, this.saveEl, this.timeEl, helpButton),
    );
    const side = h(
      "aside",
      { class: "rd-side", "aria-label": arbitration ? "Arbitration form" : "Reading form" },
      heading,
      this.buildTools(arbitration),
    );
    this.element = side;
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
    if (arbitration) side.append(this.buildDiscordances());
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
    if (!arbitration) return tools;
    for (const slot of READER_SLOTS) {
      const box = h("input", {
        type: "checkbox",
        checked: true,
        on: { change: (e) => s.setShown(slot, e.target.checked) },
      });
      box.checked = true;
      this.readerToggles[slot] = box;
      tools.append(
        h(
          "label",
          { class: `rd-reader-toggle rd-reader-${slot}` },
          box,
          h("span", { class: "rd-swatch", "aria-hidden": "true" }),
          ` Reader ${slot} `,
          h("kbd", { text: `⇧${slot}` }),
        ),
      );
    }
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
    this.resultEl = h("div", { class: "rd-result", role: "status", "aria-live": "polite", hidden: true });
    return h("section", { class: "rd-section rd-submit-area" }, msgs(""), this.submitButton, this.resultEl);
  }

  buildBreasts(arbitration) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const section = h("section", { class: "rd-section rd-breasts", "aria-label": "Breast assessment" });
    const choice = (lat, field, { value, meaning }, title) =>
      h(
        "button",
        {
          type: "button",
          class: "rd-choice",
          "data-value": value,
          "aria-pressed": "false",
          title: `${title} ${value}: ${meaning}`,
          on: { click: () => s.setBreast(lat, field, value) },
        },
        String(value),
      );
    this.breastEls = {};
    for (const { value: lat, name } of s.scales.breasts) {
      const birads = s.scales.birads.map((item) => choice(lat, "birads", item, "BI-RADS"));
      const density = s.scales.densities.map((item) => choice(lat, "density", item, "Density"));
      const biradsGroup = h(
        "div",
        { class: "rd-choices rd-birads", role: "group", "aria-label": `${name} BI-RADS` },
        birads,
      );
      const densityGroup = h(
        "div",
        { class: "rd-choices rd-density", role: "group", "aria-label": `${name} density` },
        density,
      );
      const readers = h("div", { class: "rd-reader-values" });
      const legend = h(
        "legend",
        {},
        h("span", { text: name }),
        h("kbd", { class: "rd-lat-key", text: lat === "R" ? "[" : "]" }),
        h("span", { class: "rd-editing", text: "editing" }),
      );
      const fieldset = h(
        "fieldset",
        { class: "rd-breast", "data-lat": lat, on: { pointerdown: () => s.setActive(lat) } },
        legend,
        h("div", { class: "rd-row" }, h("span", { class: "rd-row-label", text: "BI-RADS" }), biradsGroup),
        msgs(`breasts.${lat}.birads`),
        h("div", { class: "rd-row" }, h("span", { class: "rd-row-label", text: "Density" }), densityGroup),
        msgs(`breasts.${lat}.density`),
        arbitration ? readers : null,
        msgs(`breasts.${lat}`),
      );
      section.append(fieldset);
      this.breastEls[lat] = { fieldset, name, birads, density, biradsGroup, densityGroup, readers };
    }
    return section;
  }

  buildDiscordances() {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const list = h("ul", { class: "rd-discordances" });
    for (const d of s.discordances) {
      const kind = d.kind === "birads" ? "BI-RADS" : d.kind === "density" ? "Density" : "Finding";
      const button = h(
        "button",
        { type: "button", class: "rd-link", on: { click: () => s.showDiscordance(d) } },
        h("span", { class: "badge badge-warn", text: kind }),
        " ",
        readerNames(d.detail || ""),
      );
      list.append(h("li", { class: `rd-discordance rd-discordance-${d.kind}` }, button));
    }
    if (!s.discordances.length) list.append(h("li", { class: "muted", text: "No discordance recorded." }));
    return h(
      "section",
      { class: "rd-section rd-discordance-list", "aria-label": "Discordances" },
      h("h2", { text: `Discordances (${s.discordances.length})` }),
      list,
    );
  }

  // --- rendering -------------------------------------------------------------------------------

  render() {
    const s = this.screen;
    const focus = this.focusToken();
    this.renderBreasts();
    this.renderFindings();
    this.renderEditor();
    this.renderReaderLists();
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

  renderBreasts() {
    const s = this.screen;
    const discordant = {};
    for (const d of s.discordances) {
      if (d.laterality && (d.kind === "birads" || d.kind === "density")) {
        if (!discordant[d.laterality]) discordant[d.laterality] = new Set();
        discordant[d.laterality].add(d.kind);
      }
    }
    for (const [lat, els] of Object.entries(this.breastEls)) {
      const value = this.label.breasts[lat];
      els.fieldset.classList.toggle("rd-active", s.activeLat === lat);
      for (const button of els.birads) {
        button.setAttribute("aria-pressed", String(Number(button.dataset.value) === value.birads));
        button.disabled = s.readOnly;
      }
      for (const button of els.density) {
        button.setAttribute("aria-pressed", String(button.dataset.value === value.density));
        button.disabled = s.readOnly;
      }
      const kinds = discordant[lat] || new Set();
      els.biradsGroup.classList.toggle("rd-discordant", kinds.has("birads"));
      els.densityGroup.classList.toggle("rd-discordant", kinds.has("density"));
      if (s.kind === "arbitrate") this.renderReaderValues(lat, kinds);
    }
  }

  renderReaderValues(lat, kinds) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const els = this.breastEls[lat];
    const side = els.name.toLowerCase();
    const rows = [];
    for (const slot of READER_SLOTS) {
      const read = s.otherReads.get(slot);
      if (!read) continue;
      const value = read.breasts[lat];
      rows.push(
        h(
          "div",
          { class: `rd-reader-value rd-reader-${slot}` },
          h("span", { class: "rd-swatch", "aria-hidden": "true" }),
          h("span", { class: "rd-reader-name", text: `Reader ${slot}` }),
          h("span", { class: kinds.has("birads") ? "rd-flag" : "", text: `BI-RADS ${biradsText(value.birads)}` }),
          h("span", { class: kinds.has("density") ? "rd-flag" : "", text: `density ${value.density || "–"}` }),
          h(
            "button",
            {
              type: "button",
              class: "btn btn-small rd-take-breast",
              disabled: s.readOnly,
              "aria-label": `Take reader ${slot}'s breast labels (${side})`,
              title: `Take reader ${slot}'s BI-RADS and density for the ${side}`,
              on: { click: () => s.takeBreast(slot, lat) },
            },
            "Take",
          ),
        ),
      );
    }
    fill(els.readers, ...rows);
  }

  /** [where, what, grade] of a box, for the lists. */
  describeBox(box) {
    const image = this.screen.images.get(box.image_id);
    const parts = [image ? image.name : "unknown image"];
    parts.push(box.categories.length ? box.categories.join(" + ") : "no category yet");
    if (box.birads != null) parts.push(`BI-RADS ${box.birads}`);
    return parts;
  }

  /** The select button of a box in a list: its number, where, what, and its grade. */
  boxButton(box, number, selected, onClick, extra = null) {
    const { h } = window.MammoCommon;
    const [where, what, grade] = this.describeBox(box);
    return h(
      "button",
      { type: "button", class: "rd-finding-select", "aria-pressed": String(selected), on: { click: onClick } },
      h("span", { class: "rd-num", text: number }),
      h("span", { class: "rd-where", text: where }),
      h("span", { class: "rd-what", text: what }),
      grade ? h("span", { class: "rd-grade", text: grade }) : null,
      extra,
    );
  }

  renderFindings() {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const boxes = this.label.boxes;
    const list = h("ol", { class: "rd-finding-list" });
    boxes.forEach((box, index) => {
      const selected = s.isSelected("own", box.id);
      const remove = h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-quiet rd-delete",
          "aria-label": `Delete box ${index + 1}`,
          title: "Delete (Delete key)",
          disabled: s.readOnly,
          on: { click: () => s.deleteBox(box.id) },
        },
        "✕",
      );
      const pick = this.boxButton(box, String(index + 1), selected, () => s.select({ owner: "own", id: box.id }));
      list.append(
        h(
          "li",
          { class: `rd-finding${selected ? " rd-selected" : ""}`, "data-box-id": box.id },
          h("div", { class: "rd-finding-row" }, pick, remove),
          msgs(`boxes.${box.id}`),
        ),
      );
    });
    const empty = boxes.length
      ? null
      : h("p", { class: "muted rd-empty", text: "No boxes. Press M (or Shift + drag) to draw one on any view." });
    fill(this.findingsEl, h("h2", { text: `Findings (${boxes.length})` }), empty, boxes.length ? list : null);
  }

  renderEditor() {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const box = s.selectedOwnBox();
    if (!box) {
      this.editorEl.hidden = true;
      this.editorEl.replaceChildren();
      this.filterEl = null;
      return;
    }
    this.editorEl.hidden = false;
    const image = s.images.get(box.image_id);
    const focusedFilter = this.filterEl && document.activeElement === this.filterEl;
    const filterValue = this.filterEl ? this.filterEl.value : "";
    this.filterEl = h("input", {
      type: "search",
      class: "rd-filter",
      placeholder: "Filter categories (/)",
      "aria-label": "Filter categories; Enter toggles the first match",
      "aria-keyshortcuts": "/",
      disabled: s.readOnly,
      on: { input: () => this.applyFilter(), keydown: (e) => this.onFilterKey(e) },
    });
    this.filterEl.value = filterValue;
    fill(
      this.editorEl,
      h(
        "h2",
        {},
        `Box ${s.editor.boxNumber(box.id)}`,
        h("span", { class: "muted", text: ` · ${image ? image.name : "unknown image"}` }),
      ),
      this.filterEl,
      h("div", { class: "rd-categories", role: "group", "aria-label": "Categories" }, this.categoryOptions(box)),
      msgs(`boxes.${box.id}.categories`),
      s.editor.isGraded(box)
        ? h(
            "div",
            { class: "rd-row rd-finding-grade" },
            h("span", { class: "rd-row-label", text: "Finding BI-RADS" }),
            h("div", { class: "rd-choices", role: "group", "aria-label": "Finding BI-RADS" }, this.gradeButtons(box)),
          )
        : h("p", {
            class: "muted rd-grade-note",
            text: "A finding BI-RADS is asked for once a graded lesion category is chosen.",
          }),
      msgs(`boxes.${box.id}.birads`),
    );
    this.applyFilter();
    if (focusedFilter) this.filterEl.focus();
  }

  categoryOptions(box) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    return s.vocabulary.map((category, index) => {
      const input = h("input", {
        type: "checkbox",
        disabled: s.readOnly,
        on: { change: () => s.toggleCategory(category.name) },
      });
      input.checked = box.categories.includes(category.name);
      const key = index < 10 ? String((index + 1) % 10) : "";
      return h(
        "label",
        { class: `rd-category${input.checked ? " rd-checked" : ""}`, "data-name": category.name },
        input,
        h("span", { class: "rd-cat-key", text: key }),
        h("span", { text: category.name }),
        category.graded ? null : h("span", { class: "rd-assoc", text: "associated" }),
      );
    });
  }

  gradeButtons(box) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    return s.scales.finding_birads.map((value) =>
      h(
        "button",
        {
          type: "button",
          class: "rd-choice",
          "data-value": value,
          "aria-pressed": String(box.birads === value),
          disabled: s.readOnly,
          title: `Finding BI-RADS ${value}: ${s.biradsMeaning(value)} (Shift + ${value})`,
          on: { click: () => s.setFindingBirads(value) },
        },
        String(value),
      ),
    );
  }

  renderReaderLists() {
    if (!this.readerListsEl) return;
    const { h } = window.MammoCommon;
    const s = this.screen;
    const parts = [h("h2", { text: "The readers' boxes" })];
    for (const slot of READER_SLOTS) {
      const read = s.otherReads.get(slot);
      const boxes = read ? read.boxes : [];
      const list = h("ol", { class: `rd-finding-list rd-reader-${slot}` });
      boxes.forEach((box, index) => {
        list.append(this.readerRow(slot, box, index));
      });
      parts.push(
        h(
          "h3",
          { class: `rd-reader-head rd-reader-${slot}` },
          h("span", { class: "rd-swatch", "aria-hidden": "true" }),
          `Reader ${slot} (${boxes.length})`,
        ),
      );
      parts.push(boxes.length ? list : h("p", { class: "muted", text: "No boxes." }));
    }
    fill(this.readerListsEl, ...parts);
  }

  readerRow(slot, box, index) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const selected = s.isSelected(slot, box.id);
    const hot = s.isHot(slot, box.id);
    const badge = hot ? h("span", { class: "badge badge-warn", text: "discordant" }) : null;
    const pick = this.boxButton(
      box,
      `${slot}·${index + 1}`,
      selected,
      () => s.select({ owner: slot, id: box.id }),
      badge,
    );
    const take = h(
      "button",
      {
        type: "button",
        class: "btn btn-small rd-take",
        disabled: s.readOnly,
        title: "Copy this box into your label (T)",
        on: { click: () => s.takeBox(slot, box.id) },
      },
      "Take",
    );
    return h(
      "li",
      {
        class: `rd-finding${selected ? " rd-selected" : ""}${hot ? " rd-hot" : ""}`,
        "data-box-id": box.id,
        "data-slot": slot,
      },
      h("div", { class: "rd-finding-row" }, pick, take),
    );
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
      h("p", { class: "rd-result-text" }, h("strong", { text }), " Next case: ", h("kbd", { text: "N" })),
      next,
      h("a", { class: "btn btn-quiet", href: worklistUrl, text: "Worklist" }),
    );
    this.resultEl.hidden = false;
    if (window.htmx && typeof window.htmx.process === "function") window.htmx.process(this.resultEl);
    return next;
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

  /** Focus a breast's chosen BI-RADS (or density) button, or its first. */
  focusChoice(lat, kind) {
    const els = this.breastEls[lat];
    if (!els) return;
    const group = kind === "density" ? els.densityGroup : els.biradsGroup;
    (group.querySelector("[aria-pressed=true]") || group.querySelector("button")).focus();
  }

  // --- the categories filter ---------------------------------------------------------------------

  openFilter() {
    const s = this.screen;
    if (!s.selectedOwnBox()) {
      s.flash("Select a box first (Tab, or click it), or draw one (M).");
      return;
    }
    if (this.filterEl && !s.readOnly) {
      this.filterEl.focus();
      this.filterEl.select();
    }
  }

  applyFilter() {
    if (!this.filterEl) return;
    const text = this.filterEl.value.trim().toLowerCase();
    let first = null;
    for (const option of this.editorEl.querySelectorAll(".rd-category")) {
      const match = !text || option.dataset.name.toLowerCase().includes(text);
      option.hidden = !match;
      option.classList.remove("rd-match");
      if (match && text && !first) first = option;
    }
    if (first) first.classList.add("rd-match");
  }

  onFilterKey(e) {
    const s = this.screen;
    const options = [...this.editorEl.querySelectorAll(".rd-category:not([hidden])")];
    const index = options.findIndex((o) => o.classList.contains("rd-match"));
    if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      const single = this.filterEl.value.trim() && options.length === 1 ? options[0] : null;
      const chosen = index >= 0 ? options[index] : single;
      if (chosen) {
        this.filterEl.value = "";
        s.toggleCategory(chosen.dataset.name);
        s.returnFocus();
      }
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!options.length) return;
      const next = index < 0 ? 0 : (index + (e.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
      options.forEach((o, i) => {
        o.classList.toggle("rd-match", i === next);
      });
    } else if (e.key === "Escape") {
      e.preventDefault();
      this.filterEl.value = "";
      this.applyFilter();
      s.returnFocus();
    } else if (/^[0-9]$/.test(e.key) && !this.filterEl.value && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      const category = s.vocabulary[(e.key === "0" ? 10 : Number(e.key)) - 1];
      if (category) {
        s.toggleCategory(category.name);
        s.returnFocus();
      }
    }
  }
}
