// MammoRead reading screen, the keyboard: what each key does on the screen, and the list the
// help overlay ("?") shows. Needs common.js (window.MammoCommon).

// Shown in the help overlay; keep in step with onKey / handleKey below.
export const SHORTCUTS = [
  [
    "Assessment",
    [
      ["[", "Edit the right breast (shown on the left of the screen)"],
      ["]", "Edit the left breast (shown on the right of the screen)"],
      ["0 – 5 (6)", "BI-RADS of the breast being edited (6 where the project's scale has it)"],
      ["A B C D", "Density of the breast being edited"],
      ["U", "Breast not imaged: the breast being edited has no image (where the project allows it)"],
      ["E", "Probability of malignancy of the breast being edited (where the project asks): type 0–100, Enter"],
    ],
  ],
  [
    "Boxes",
    [
      ["M", "Draw mode for one box (then drag on any view)"],
      ["Shift", "Held as a box ends: stay in draw mode for another"],
      ["Space + drag", "Pan, also in draw mode (or drag with the middle button)"],
      ["Shift + drag", "Draw a box without draw mode"],
      ["Tab / Shift + Tab", "Next / previous box (on the images); past the last box, on to the form"],
      ["/", "Categories of the selected box: type to filter, Enter to toggle, 1–9 and 0 pick by number"],
      [
        "Shift + 3 / 4 / 5",
        "Finding BI-RADS of the selected box (again to clear; Shift + 2 where the project allows 2)",
      ],
      ["Delete / Backspace", "Delete the selected box"],
      ["Drag box / corner", "Move / resize the selected box"],
      ["Ctrl + Z / Ctrl + Y", "Undo / redo"],
    ],
  ],
  [
    "Arbitration",
    [
      ["Shift + 1 / Shift + 2", "Show or hide reader 1's / reader 2's boxes"],
      ["T", "Take the selected reader box into your label"],
      ["J / K", "Take reader 1's / reader 2's BI-RADS and density for the breast being edited"],
    ],
  ],
  [
    "Aided session",
    [
      ["S", "Show or hide the AI's marks"],
      ["T", "Take the selected AI mark into your read (it is recorded as taken)"],
    ],
  ],
  [
    "Case",
    [
      ["Ctrl + Enter", "Submit"],
      ["N", "Next case (after submitting)"],
      ["?", "This help"],
      ["Esc", "Close help, clear / close the category filter, cancel drawing, leave draw mode, deselect"],
    ],
  ],
  [
    "Viewer",
    [
      ["Wheel", "Zoom at the pointer"],
      ["Drag", "Pan (outside draw mode)"],
      ["Right-drag or Ctrl + drag", "Window / level"],
      ["P", "Next window preset"],
      ["I", "Invert"],
      ["R", "Reset window and zoom"],
      ["F", "Fit every view"],
      ["Z", "1:1 at the pointer"],
      ["+ / −", "Zoom the view under the pointer"],
      ["Arrows", "Pan the focused view"],
      ["H / Shift + H", "Next / previous hanging: 2x2, 1x4 in a row, CC pair, MLO pair (remembered)"],
      [
        "O / Shift + O",
        "The woman's prior exam (where the project shows priors): each CC beside its prior, each MLO, all eight views, hidden (remembered)",
      ],
      ["X or double-click", "The view under the pointer alone, full size; X again goes back"],
      ["W", "Reading mode: no navigation bar, full screen; W again leaves"],
      ["Hold G", "Magnifier at the pointer"],
      ["L", "Link zoom and pan across the bilateral pair on / off (remembered)"],
    ],
  ],
];

/** Every key reaches the screen first (capture phase, common.js keepMounted). */
export function onKey(screen, e) {
  const key = e.key;
  const target = e.target;
  const ctrl = e.ctrlKey || e.metaKey;
  if (ctrl && key === "Enter") {
    e.preventDefault();
    screen.submit();
    return;
  }
  if (screen.help.onKey(e)) return;
  if (target === screen.panel.filterEl) return; // its own handler
  if (window.MammoCommon.isTextEntry(target)) {
    if (key === "Escape") {
      e.preventDefault();
      target.blur();
      screen.returnFocus();
    }
    return;
  }
  if (e.altKey) return;
  if (ctrl) {
    const lower = key.toLowerCase();
    if (lower === "z" || lower === "y") {
      e.preventDefault();
      screen.undo(lower === "y" || e.shiftKey);
    }
    return;
  }
  screen.interacted();
  if (handleKey(screen, e)) {
    e.preventDefault();
    e.stopPropagation();
  }
}

/** True when the key was the screen's (the viewer then never sees it). */
function handleKey(screen, e) {
  const key = e.key;
  if (key === "?") {
    screen.help.toggle(true);
    return true;
  }
  if (key === "Escape") return escapeKey(screen);
  if (key === "Tab") {
    // On the images (or with nothing focused) Tab steps through the boxes and, past the last
    // one, on to the form; anywhere else it moves between controls as usual (no keyboard trap).
    const target = e.target;
    const nowhere = !(target instanceof Element) || target === document.body || target.id === "main";
    const onImages = target instanceof Element && (target === screen.viewerEl || target.closest(".mr-pane"));
    if (!nowhere && !(onImages && screen.viewerEl.contains(target))) return false;
    return screen.cycleBoxes(e.shiftKey ? -1 : 1);
  }
  if (e.shiftKey && /^Digit[0-9]$/.test(e.code)) return shiftDigit(screen, Number(e.code.slice(5)));
  const lower = key.length === 1 ? key.toLowerCase() : key;
  if (lower === "w" && !e.shiftKey) {
    screen.toggleReadingMode();
    return true;
  }
  if (screen.submitted || screen.readOnly) {
    if (screen.leaving && key.length === 1) {
      screen.flash("The next case is loading: keys act once it is shown.");
      return true;
    }
    if (lower !== "n") return false;
    screen.goNext();
    return true;
  }
  return editingKey(screen, key, lower, e.shiftKey);
}

/** Esc: clear the category filter, else stop drawing, else leave draw mode, else deselect. */
function escapeKey(screen) {
  if (screen.panel.clearFilter()) return true;
  if (screen.overlay?.cancelDraw()) return true;
  if (screen.drawMode) screen.setDrawMode(false);
  else if (screen.selected) screen.select(null);
  else return false;
  return true;
}

/** Shift + digit: a finding BI-RADS, or (arbitration) a reader's boxes shown or hidden. */
function shiftDigit(screen, digit) {
  if (screen.scales.finding_birads.includes(digit)) {
    screen.setFindingBirads(digit);
    return true;
  }
  if ((digit === 1 || digit === 2) && screen.kind === "arbitrate") {
    screen.setShown(digit, !screen.show[digit]);
    return true;
  }
  return false;
}

/** A key that edits: the breast being edited, its BI-RADS and density, the boxes. */
function editingKey(screen, key, lower, shift) {
  if (key === "[" || key === "]") {
    screen.setActive(key === "[" ? "R" : "L");
    return true;
  }
  const birads = screen.scales.birads.find((item) => String(item.value) === key);
  if (!shift && birads) {
    screen.setBreast(screen.activeLat, "birads", birads.value);
    return true;
  }
  const density = screen.scales.densities.find((item) => item.value.toLowerCase() === lower);
  if (density) {
    screen.setBreast(screen.activeLat, "density", density.value);
    return true;
  }
  switch (lower) {
    case "m":
      screen.setDrawMode(!screen.drawMode);
      return true;
    case "u":
      return screen.panel.toggleNotImaged(screen.activeLat);
    case "/":
      screen.panel.openFilter();
      return true;
    case "t":
      return (screen.kind === "arbitrate" || Boolean(screen.aid)) && screen.takeSelected();
    case "s":
      if (!screen.aid) return false;
      screen.setShown("ai", !screen.show.ai);
      return true;
    case "e":
      return screen.panel.focusProbability(screen.activeLat);
    case "j":
    case "k":
      return screen.kind === "arbitrate" && screen.takeActiveBreast(lower === "j" ? 1 : 2);
    case "Delete":
    case "Backspace":
      return screen.deleteSelected();
    default:
      return false;
  }
}
