// MammoRead reading screen, the side panel's breast rows: per breast, its BI-RADS and density
// choices (the scales come from the server), whether it is the breast being edited, and (in an
// arbitration) which of its groups the readers disagree on. Methods of SidePanel (mix-in.js).

const { msgs } = await import(`./panel-dom.js${new URL(import.meta.url).search}`);
const notImaged = await import(`./panel-not-imaged.js${new URL(import.meta.url).search}`);

export const breastRows = {
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
      if (notImaged.breastWithoutImage(s, lat)) {
        this.breastEls[lat] = notImaged.notImagedRow(this, lat, name, arbitration);
        section.append(this.breastEls[lat].fieldset);
        continue;
      }
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
      const probability = s.scales.probability ? this.probabilityInput(lat, name) : null;
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
        probability
          ? h(
              "div",
              { class: "rd-row rd-probability-row" },
              h("label", { class: "rd-row-label", for: probability.id, text: "Malignancy" }),
              probability,
              h("span", { class: "rd-probability-unit", text: "%" }),
              h("kbd", { class: "rd-probability-key", title: "E: type the probability", text: "E" }),
            )
          : null,
        probability ? msgs(`breasts.${lat}.probability`) : null,
        arbitration ? readers : null,
        msgs(`breasts.${lat}`),
      );
      section.append(fieldset);
      this.breastEls[lat] = { fieldset, name, birads, density, biradsGroup, densityGroup, readers, probability };
    }
    return section;
  },

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
      els.fieldset.classList.toggle("rd-active", s.activeLat === lat && !s.readOnly);
      for (const button of els.birads) {
        button.setAttribute("aria-pressed", String(Number(button.dataset.value) === value.birads));
        button.disabled = s.readOnly;
      }
      for (const button of els.density) {
        button.setAttribute("aria-pressed", String(button.dataset.value === value.density));
        button.disabled = s.readOnly;
      }
      if (els.probability) {
        els.probability.disabled = s.readOnly;
        const shown = value.probability == null ? "" : String(value.probability);
        if (document.activeElement !== els.probability && els.probability.value !== shown)
          els.probability.value = shown;
      }
      if (els.notImaged) notImaged.renderNotImaged(this, lat, els);
      const kinds = discordant[lat] || new Set();
      els.biradsGroup.classList.toggle("rd-discordant", kinds.has("birads"));
      els.densityGroup.classList.toggle("rd-discordant", kinds.has("density"));
      if (s.kind === "arbitrate") this.renderReaderValues(lat, kinds);
    }
  },

  /** A breast's probability of malignancy, 0-100: typed, Enter or Esc go back to the images. */
  probabilityInput(lat, name) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const input = h("input", {
      type: "number",
      id: `rd-probability-${lat}`,
      class: "rd-probability",
      min: "0",
      max: "100",
      step: "1",
      inputmode: "numeric",
      "aria-label": `${name}: probability of malignancy, 0 to 100 percent`,
      on: {
        input: (e) => s.setProbability(lat, e.target.value),
        keydown: (e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            input.blur();
            s.returnFocus();
          }
        },
        focus: () => s.setActive(lat),
      },
    });
    return input;
  },

  /** E: type the probability of the breast being edited. */
  focusProbability(lat) {
    const input = this.breastEls[lat]?.probability;
    if (!input || input.disabled) return false;
    input.focus();
    input.select();
    return true;
  },

  /** U: answer the breast "not imaged" or take it back (a breast without any image only). */
  toggleNotImaged(lat) {
    return notImaged.toggleNotImaged(this, lat);
  },

  /** Focus a breast's chosen BI-RADS (or density) button, or its first. */
  focusChoice(lat, kind) {
    const els = this.breastEls[lat];
    if (!els) return;
    const group = kind === "density" ? els.densityGroup : els.biradsGroup;
    (group.querySelector("[aria-pressed=true]") || group.querySelector("button")).focus();
  },
};
