// MammoRead reading screen, the side panel's box list: the reader's own boxes (findings), each
// with where it is, what it is, its grade and a delete button; the row button that selects a
// box is shared with the readers' lists of an arbitration. Methods of SidePanel (mix-in.js).

const { fill, msgs } = await import(`./panel-dom.js${new URL(import.meta.url).search}`);

export const findingsList = {
  /** [where, what, grade] of a box, for the lists. */
  describeBox(box) {
    const image = this.screen.images.get(box.image_id);
    const parts = [image ? image.name : "unknown image"];
    parts.push(box.categories.length ? box.categories.join(" + ") : "no category yet");
    if (box.birads != null) parts.push(`BI-RADS ${box.birads}`);
    return parts;
  },

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
  },

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
  },
};
