// MammoRead reading screen, editing: every change to the label goes through the label editor
// (label-editor.js) here, then saves and re-renders; the selection (an own box or a reader's);
// undo / redo; and, in an arbitration, taking a reader's box or breast values into the label.
// Methods of the screen (screen.js, mix-in.js).

const READER_SLOTS = [1, 2];

export const editing = {
  /** Apply an edit through the label editor (`edit()` returns whether the label changed). */
  change(edit) {
    if (this.readOnly || !this.editor) return false;
    if (this.submitting) {
      this.flash("Submitting… changes are paused until the server answers.");
      this.renderAll();
      return false;
    }
    const changed = edit();
    if (changed) this.edited();
    else this.renderAll();
    return changed;
  },

  /** After every change to the label: local copy, debounced save, re-render. */
  edited() {
    this.interacted();
    this.store.changed();
    if (this.selected && !this.selectedExists()) this.selected = null;
    this.renderAll();
  },

  undo(redo = false) {
    if (this.readOnly) return;
    const step = this.editor.undo(redo);
    if (!step) return;
    if (step.restored) this.selected = { owner: "own", id: step.restored }; // an undone delete: select it again
    this.edited();
    this.flash(redo ? "Redone." : "Undone.");
  },

  setNote(text) {
    this.change(() => this.editor.setNote(text));
  },

  setBreast(lat, field, value) {
    this.setActive(lat);
    this.change(() => this.editor.setBreast(lat, field, value));
  },

  setActive(lat) {
    if (this.activeLat === lat) return;
    this.activeLat = lat;
    if (this.panel.breastEls) this.panel.renderBreasts();
  },

  selectedOwnBox() {
    return this.selected && this.selected.owner === "own" ? this.editor.findBox(this.selected.id) : null;
  },

  readerBox(slot, id) {
    if (slot === "ai") return this.aid?.marks.find((mark) => mark.id === id) || null;
    const read = this.otherReads.get(slot);
    return read?.boxes.find((box) => box.id === id) || null;
  },

  selectedExists() {
    const s = this.selected;
    if (!s) return false;
    return Boolean(s.owner === "own" ? this.editor.findBox(s.id) : this.readerBox(s.owner, s.id));
  },

  isSelected(owner, id) {
    return Boolean(this.selected && this.selected.owner === owner && this.selected.id === id);
  },

  isHot(slot, id) {
    return this.highlighted.has(`${slot}:${id}`);
  },

  select(selection) {
    this.selected = selection;
    if (selection) {
      const box =
        selection.owner === "own" ? this.editor.findBox(selection.id) : this.readerBox(selection.owner, selection.id);
      const image = box && this.images.get(box.image_id);
      if (image?.laterality) this.activeLat = image.laterality;
      if (selection.owner !== "own" && !this.show[selection.owner]) this.setShown(selection.owner, true);
    }
    this.renderAll();
    const row = selection && this.panel.element.querySelector(".rd-finding.rd-selected");
    if (row) row.scrollIntoView({ block: "nearest" });
  },

  addBox(imageId, rect) {
    let box = null;
    this.change(() => {
      box = this.editor.addBox(imageId, rect);
      return true;
    });
    if (!box) return;
    this.select({ owner: "own", id: box.id });
    this.flash(`Box ${this.editor.boxNumber(box.id)} drawn: press / to choose its category.`);
  },

  deleteBox(id) {
    const number = this.editor.boxNumber(id);
    if (!number) return;
    this.change(() => this.editor.deleteBox(id) > 0);
    this.flash(`Box ${number} deleted (Ctrl + Z to undo).`);
  },

  /** Delete the selected box (the Delete key); false when none is selected. */
  deleteSelected() {
    const box = this.selectedOwnBox();
    if (!box) return false;
    this.deleteBox(box.id);
    return true;
  },

  /** A breast's probability of malignancy as typed ("" clears it); a value off 0-100 waits. */
  setProbability(lat, text) {
    const value = String(text).trim();
    if (value !== "" && !/^\d{1,3}$/.test(value)) return;
    if (value !== "" && Number(value) > 100) {
      this.flash("A probability is 0 to 100.");
      return;
    }
    this.change(() => this.editor.setProbability(lat, value === "" ? null : Number(value)));
  },

  toggleCategory(name) {
    const box = this.selectedOwnBox();
    if (box) this.change(() => this.editor.toggleCategory(box.id, name));
  },

  setFindingBirads(value) {
    const box = this.selectedOwnBox();
    if (!box) {
      this.flash("Select a box first (Tab, or click it).");
      return;
    }
    if (!this.editor.isGraded(box)) {
      this.flash("Choose a graded lesion category first: only graded lesions carry a finding BI-RADS.");
      return;
    }
    this.change(() => this.editor.setFindingBirads(box.id, value) === "changed");
  },

  /** Tab on the images: the next (or previous) box; false past the last (first) one, when the
   * focus is left on the edge of the images so that the browser's own Tab moves on to the form
   * (or back before the images): the boxes never trap the keyboard. */
  cycleBoxes(step) {
    const boxes = this.editor.label.boxes;
    const index =
      this.selected && this.selected.owner === "own" ? boxes.findIndex((b) => b.id === this.selected.id) : -1;
    const next = index < 0 ? (step > 0 ? 0 : boxes.length - 1) : index + step;
    if (next >= 0 && next < boxes.length) {
      this.select({ owner: "own", id: boxes[next].id });
      return true;
    }
    if (index >= 0) this.select(null);
    const panes = [...this.viewerEl.querySelectorAll(".mr-pane[data-image-id]")].filter(
      (pane) => pane.getClientRects().length > 0,
    );
    const edge = step > 0 ? panes[panes.length - 1] : panes[0];
    if (edge && document.activeElement !== edge) edge.focus({ preventScroll: true });
    return false;
  },

  setShown(slot, on) {
    this.show[slot] = on;
    if (this.panel.readerToggles[slot]) this.panel.readerToggles[slot].checked = on;
    if (slot === "ai") this.flash(on ? "The AI's marks are shown." : "The AI's marks are hidden (S shows them).");
    if (!on && this.selected && this.selected.owner === slot) this.selected = null;
    this.renderAll();
  },

  takeBox(slot, id) {
    const source = this.readerBox(slot, id);
    if (!source || this.readOnly) return;
    let box = null;
    this.change(() => {
      // a model mark taken keeps its id in the box's (ai<mark>b...): the submit names it
      box = this.editor.copyBox(source, slot === "ai" ? `ai${source.mark}` : "");
      return true;
    });
    if (!box) return;
    this.select({ owner: "own", id: box.id });
    const whose = slot === "ai" ? "The AI's mark" : `Reader ${slot}'s box`;
    this.flash(`${whose} taken as your box ${this.editor.boxNumber(box.id)}; edit it as you like.`);
  },

  /** T: take the selected reader box or model mark (true: the key was used, even to say how). */
  takeSelected() {
    if (this.selected && this.selected.owner !== "own") this.takeBox(this.selected.owner, this.selected.id);
    else
      this.flash(
        this.aid ? "Click an AI mark first, then T takes it." : "Click a reader's box first, then T takes it.",
      );
    return true;
  },

  /** The model marks an aided read took and still holds (their ids, for the submit). */
  acceptedMarks() {
    const marks = this.editor.label.boxes.map((box) => /^ai(\d+)b/.exec(box.id)).filter(Boolean);
    return [...new Set(marks.map((match) => Number(match[1])))].sort((a, b) => a - b);
  },

  /** J / K: take reader 1's / reader 2's BI-RADS and density for the breast being edited. */
  takeActiveBreast(slot) {
    if (!this.otherReads.get(slot)) return false;
    this.takeBreast(slot, this.activeLat);
    const name = this.panel.breastEls?.[this.activeLat]?.name || this.activeLat;
    this.flash(`Reader ${slot}'s BI-RADS and density taken for the ${name.toLowerCase()} (Ctrl + Z to undo).`);
    return true;
  },

  takeBreast(slot, lat) {
    const read = this.otherReads.get(slot);
    if (!read) return;
    this.setActive(lat);
    this.change(() => this.editor.setBreastValues(lat, read.breasts[lat]));
  },

  showDiscordance(d) {
    if (d.laterality) this.setActive(d.laterality);
    const ids = d.box_ids || [];
    for (const slot of READER_SLOTS) {
      const read = this.otherReads.get(slot);
      const box = read?.boxes.find((b) => ids.includes(b.id) && this.isHot(slot, b.id));
      if (box) {
        this.select({ owner: slot, id: box.id });
        return;
      }
    }
    if (d.laterality) this.panel.focusChoice(d.laterality, d.kind === "density" ? "density" : "birads");
  },
};
