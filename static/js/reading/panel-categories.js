// MammoRead reading screen, the side panel's box editor: the selected box's categories (a
// picker with a filter that keys drive: type, Enter, arrows, 1-9 and 0) and its finding
// BI-RADS. Methods of SidePanel (mix-in.js).

const { fill, msgs } = await import(`./panel-dom.js${new URL(import.meta.url).search}`);

export const categoryPicker = {
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
  },

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
  },

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
  },

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
  },

  /** Esc with a filter typed but not focused: clear it first (true), before Esc deselects. */
  clearFilter() {
    if (!this.filterEl?.value) return false;
    this.filterEl.value = "";
    this.applyFilter();
    return true;
  },

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
  },

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
  },
};
