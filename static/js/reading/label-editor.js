// MammoRead reading screen, the label editor: the label a reader is editing and its undo / redo
// history. No DOM, no network, no timers: the screen renders it and the draft store saves it,
// and a test can drive it on its own (tests/browser/test_label_editor.py).
//
// A label has exactly the keys the server accepts: {breasts: {R, L: {birads, density} (and
// probability 0-100 where the project asks for it), or
// {birads: null, density: null, not_imaged: true} for a breast without any image},
// boxes: [{id, image_id, xmin, ymin, xmax, ymax, categories, birads}], note}. The scales it
// accepts (breast BI-RADS values, densities) come from the server with the page; the editor
// never knows them by heart.

export const UNDO_LIMIT = 100;

/** A box id not in `taken` (a Set): ids appear in field paths, so letters and digits only. */
export function newBoxId(taken) {
  let id;
  do {
    id = `b${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  } while (taken.has(id));
  return id;
}

/** A probability of malignancy as the server takes it: a whole number 0-100, else null. */
export function normaliseProbability(value) {
  if (value === null || value === undefined || value === "") return null;
  const number = Number(value);
  return Number.isInteger(number) && number >= 0 && number <= 100 ? number : null;
}

function normaliseBreast(value, scales) {
  const breast = value && typeof value === "object" ? value : {};
  // a breast the exam has no image of (where the project allows it): no BI-RADS or density
  if (breast.not_imaged === true) return { birads: null, density: null, not_imaged: true };
  const normal = {
    birads: scales.birads.includes(breast.birads) ? breast.birads : null,
    density: scales.densities.includes(breast.density) ? breast.density : null,
  };
  // the probability of malignancy, in projects that ask for it (the key only when given)
  const probability = scales.probability ? normaliseProbability(breast.probability) : null;
  if (probability !== null) normal.probability = probability;
  return normal;
}

/** A box with exactly the server's keys and types. */
export function normaliseBox(box) {
  return {
    id: String(box.id),
    image_id: String(box.image_id),
    xmin: Number(box.xmin),
    ymin: Number(box.ymin),
    xmax: Number(box.xmax),
    ymax: Number(box.ymax),
    categories: Array.isArray(box.categories) ? box.categories.map(String) : [],
    birads: box.birads == null ? null : Number(box.birads),
  };
}

/** A label with exactly the keys the server accepts; `scales` is {birads: [...], densities:
 * [...]}, the values a breast may take (anything else becomes null, "not chosen yet"). */
export function normaliseLabel(raw, scales) {
  const label = raw && typeof raw === "object" ? raw : {};
  const breasts = label.breasts && typeof label.breasts === "object" ? label.breasts : {};
  const boxes = Array.isArray(label.boxes) ? label.boxes : [];
  return {
    breasts: { R: normaliseBreast(breasts.R, scales), L: normaliseBreast(breasts.L, scales) },
    boxes: boxes.filter((b) => b && typeof b === "object").map(normaliseBox),
    note: typeof label.note === "string" ? label.note : "",
  };
}

/** The label being edited, with undo / redo. Every edit method returns what happened, so the
 * screen can say so; none of them touches the page. `graded` names the categories that carry a
 * finding BI-RADS. */
export class LabelEditor {
  constructor({ label, scales, graded = [] }) {
    this.scales = {
      birads: [...scales.birads],
      densities: [...scales.densities],
      probability: Boolean(scales.probability),
    };
    this.graded = new Set(graded);
    this.label = normaliseLabel(label, this.scales);
    this.undoStack = [];
    this.redoStack = [];
    this.lastCoalesce = null;
  }

  /** A copy of the label, safe to send or keep. */
  value() {
    return JSON.parse(this.snapshot());
  }

  /** The label as text: taken before an edit, handed to commit() after it. */
  snapshot() {
    return JSON.stringify(this.label);
  }

  /** Start afresh from `label` (loaded from the server): no history. */
  replace(label) {
    this.label = normaliseLabel(label, this.scales);
    this.undoStack = [];
    this.redoStack = [];
    this.lastCoalesce = null;
  }

  /** Apply `mutate(label)`; true when the label changed (an undo point is then kept). Edits
   * with the same `coalesce` key in a row (typing a note) make one undo point. */
  apply(mutate, { coalesce } = {}) {
    const before = this.snapshot();
    mutate(this.label);
    if (this.snapshot() === before) return false;
    this.commit(before, { coalesce });
    return true;
  }

  /** Keep `before` (a snapshot) as an undo point: for edits made in place, like a drag. */
  commit(before, { coalesce } = {}) {
    if (!coalesce || this.lastCoalesce !== coalesce) {
      this.undoStack.push(before);
      if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
    }
    this.lastCoalesce = coalesce || null;
    this.redoStack = [];
  }

  get canUndo() {
    return this.undoStack.length > 0;
  }

  get canRedo() {
    return this.redoStack.length > 0;
  }

  /** Step back (or forward, `redo`); null when there is nothing to step to, else {restored}:
   * the id of a box that came back (an undone delete), or null. */
  undo(redo = false) {
    const from = redo ? this.redoStack : this.undoStack;
    const to = redo ? this.undoStack : this.redoStack;
    if (!from.length) return null;
    to.push(this.snapshot());
    const before = new Set(this.label.boxes.map((b) => b.id));
    this.label = normaliseLabel(JSON.parse(from.pop()), this.scales);
    const back = this.label.boxes.find((b) => !before.has(b.id));
    this.lastCoalesce = null;
    return { restored: back ? back.id : null };
  }

  redo() {
    return this.undo(true);
  }

  /** Use `raw` as the label, as one edit (undoable). */
  useLabel(raw) {
    const next = normaliseLabel(raw, this.scales);
    const before = this.snapshot();
    if (JSON.stringify(next) === before) return false;
    this.label = next;
    this.commit(before);
    return true;
  }

  // --- the breasts and the note ----------------------------------------------------------

  /** Set a breast's `field` ("birads" or "density"); a value off the scale is refused. */
  setBreast(lat, field, value) {
    const scale = field === "birads" ? this.scales.birads : this.scales.densities;
    if (!this.label.breasts[lat] || !scale.includes(value)) return false;
    if (this.label.breasts[lat].not_imaged) return false; // "not imaged" has no values
    return this.apply((label) => {
      label.breasts[lat][field] = value;
    });
  }

  /** A breast's probability of malignancy (0-100, or null to clear it); false when refused. */
  setProbability(lat, value) {
    const breast = this.label.breasts[lat];
    if (!breast || breast.not_imaged || !this.scales.probability) return false;
    const probability = normaliseProbability(value);
    if (value !== null && value !== "" && probability === null) return false;
    return this.apply((label) => {
      if (probability === null) delete label.breasts[lat].probability;
      else label.breasts[lat].probability = probability;
    });
  }

  /** Both values of a breast at once (taking a reader's assessment, "not imaged" included). */
  setBreastValues(lat, { birads, density, not_imaged }) {
    if (!this.label.breasts[lat]) return false;
    return this.apply((label) => {
      label.breasts[lat] = normaliseBreast({ birads, density, not_imaged }, this.scales);
    });
  }

  /** Answer a breast "not imaged" (`on`) or take that answer back (no values chosen then). */
  setNotImaged(lat, on) {
    if (!this.label.breasts[lat]) return false;
    return this.apply((label) => {
      label.breasts[lat] = normaliseBreast({ not_imaged: Boolean(on) }, this.scales);
    });
  }

  setNote(text) {
    return this.apply(
      (label) => {
        label.note = String(text);
      },
      { coalesce: "note" },
    );
  }

  // --- boxes -------------------------------------------------------------------------------

  findBox(id) {
    return this.label.boxes.find((box) => box.id === id) || null;
  }

  /** 1-based, as the screen numbers boxes; 0 when there is no such box. */
  boxNumber(id) {
    return this.label.boxes.findIndex((box) => box.id === id) + 1;
  }

  isGraded(box) {
    return box.categories.some((name) => this.graded.has(name));
  }

  /** A new box on `imageId` at `rect` ({xmin, ymin, xmax, ymax}); returns it. */
  addBox(imageId, rect) {
    const box = normaliseBox({ id: this.freshId(), image_id: imageId, ...rect, categories: [], birads: null });
    this.apply((label) => {
      label.boxes.push(box);
    });
    return box;
  }

  /** A copy of another read's box, under a new id; returns it. */
  /** A copy of `source` as a box of this label; `idPrefix` (letters and digits) starts its id,
   * so that where it came from stays readable in the saved draft (an AI mark's: "ai<id>"). */
  copyBox(source, idPrefix = "") {
    const box = { ...normaliseBox(source), id: `${idPrefix}${this.freshId()}` };
    this.apply((label) => {
      label.boxes.push(box);
    });
    return box;
  }

  /** Remove a box; returns the number it had (0: there was none). */
  deleteBox(id) {
    const number = this.boxNumber(id);
    if (!number) return 0;
    this.apply((label) => {
      label.boxes = label.boxes.filter((b) => b.id !== id);
    });
    return number;
  }

  /** Add or remove a category; a box left with no graded category loses its finding BI-RADS. */
  toggleCategory(id, name) {
    const box = this.findBox(id);
    if (!box) return false;
    return this.apply(() => {
      box.categories = box.categories.includes(name)
        ? box.categories.filter((c) => c !== name)
        : [...box.categories, name];
      if (!this.isGraded(box)) box.birads = null;
    });
  }

  /** Set the finding BI-RADS (the same value again clears it): "changed", "unchanged", or
   * why not: "no-box", "not-graded". */
  setFindingBirads(id, value) {
    const box = this.findBox(id);
    if (!box) return "no-box";
    if (!this.isGraded(box)) return "not-graded";
    const changed = this.apply(() => {
      box.birads = box.birads === value ? null : value;
    });
    return changed ? "changed" : "unchanged";
  }

  freshId() {
    return newBoxId(new Set(this.label.boxes.map((b) => b.id)));
  }
}
