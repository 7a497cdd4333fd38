// MammoRead reading screen, the side panel's arbitration view: the two blinded reads side by
// side with the arbitrator's own: the discordances the server found, each breast's values per
// reader (to take over), the readers' box lists (to select and take) and the toggles that show
// or hide each reader's boxes. Methods of SidePanel (mix-in.js).

const { READER_SLOTS, fill } = await import(`./panel-dom.js${new URL(import.meta.url).search}`);

function biradsText(value) {
  return value == null ? "–" : String(value);
}

/** The server calls the two reads A and B (slot 1 and 2); the screen says reader 1 and 2. */
function readerNames(text) {
  return text.replace(/\breader ([AB])\b/g, (_, letter) => `reader ${letter === "A" ? 1 : 2}`);
}

export const arbitrationView = {
  /** Reader 1's and reader 2's show / hide boxes, added to the panel's `tools`. */
  addReaderToggles(tools) {
    const { h } = window.MammoCommon;
    const s = this.screen;
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
  },

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
  },

  /** Both readers' notes, as they wrote them (an arbiter sees both reads). */
  buildReaderNotes() {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const items = READER_SLOTS.filter((slot) => s.otherReads.get(slot)).map((slot) => {
      const note = s.otherReads.get(slot).note.trim();
      return h(
        "div",
        { class: `rd-reader-note rd-reader-${slot}` },
        h("dt", {}, h("span", { class: "rd-swatch", "aria-hidden": "true" }), ` Reader ${slot}`),
        h("dd", { class: note ? "" : "muted", text: note || "No note." }),
      );
    });
    return h(
      "section",
      { class: "rd-section rd-reader-notes", "aria-label": "The readers' notes" },
      h("h2", { text: "The readers' notes" }),
      h("dl", {}, items),
    );
  },

  renderReaderValues(lat, kinds) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const els = this.breastEls[lat];
    // Rebuilt only when what they show changes: a pointerdown on the breast makes it the one
    // being edited, and a rebuild then would put a new button under the pointer before the
    // click lands (the click would be lost).
    const shown = READER_SLOTS.map((slot) => s.otherReads.get(slot)?.breasts[lat]);
    const token = JSON.stringify([shown, [...kinds].sort(), s.readOnly]);
    if (els.readersToken === token) return;
    els.readersToken = token;
    const side = els.name.toLowerCase();
    // One line per reader under column heads (BI-RADS, Density), so that a row keeps its
    // values and its Take button on one line in the 360 px panel; a screen reader hears each
    // value with its name ("BI-RADS 2"), and a discordant one is flagged by more than colour.
    const cell = (kind, name, text) =>
      h(
        "span",
        { class: `rd-reader-cell${kinds.has(kind) ? " rd-flag" : ""}` },
        h("span", { class: "sr-only", text: `${name} ` }),
        text,
      );
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
          cell("birads", "BI-RADS", biradsText(value.birads)),
          cell("density", "density", value.density || "–"),
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
    const heads = h(
      "div",
      { class: "rd-reader-columns", "aria-hidden": "true" },
      h("span"),
      h("span"),
      h("span", { text: "BI-RADS" }),
      h("span", { text: "Density" }),
      h("span"),
    );
    fill(els.readers, ...(rows.length ? [heads, ...rows] : []));
  },

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
  },

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
  },
};
