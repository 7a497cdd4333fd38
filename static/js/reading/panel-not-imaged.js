// MammoRead reading screen, the side panel's row for a breast without any image: in a project
// whose rules allow "breast not imaged", a breast the exam has no image of is answered "not
// imaged" instead of BI-RADS and density. panel-breasts.js builds this row in place of the
// breast's choices and renders it; everything about that answer is here.

const { msgs } = await import(`./panel-dom.js${new URL(import.meta.url).search}`);

/** Whether `lat` is a breast of this exam without any image, in a project that allows it. */
export function breastWithoutImage(screen, lat) {
  if (!screen.detail?.rules?.breast_not_imaged) return false;
  for (const image of screen.images.values()) if (image.laterality === lat) return false;
  return true;
}

/** The breast's row: its name, why it has no choices, and the "Not imaged" toggle. Shaped like
 * a row of panel-breasts.js (no BI-RADS or density buttons; the toggle takes the focus). */
export function notImagedRow(panel, lat, name, arbitration) {
  const { h } = window.MammoCommon;
  const s = panel.screen;
  const toggle = h(
    "button",
    {
      type: "button",
      class: "rd-choice rd-not-imaged-toggle",
      "aria-pressed": "false",
      title: `${name}: the exam has no image of it; answer it "not imaged" (U)`,
      on: { click: () => toggleNotImaged(panel, lat) },
    },
    "Not imaged",
  );
  const group = h(
    "div",
    { class: "rd-choices rd-not-imaged", role: "group", "aria-label": `${name}: not imaged` },
    toggle,
  );
  const readers = h("div", { class: "rd-reader-values" });
  const fieldset = h(
    "fieldset",
    { class: "rd-breast rd-breast-not-imaged", "data-lat": lat, on: { pointerdown: () => s.setActive(lat) } },
    h(
      "legend",
      {},
      h("span", { text: name }),
      h("kbd", { class: "rd-lat-key", text: lat === "R" ? "[" : "]" }),
      h("span", { class: "rd-editing", text: "editing" }),
    ),
    h("p", {
      class: "rd-not-imaged-note muted",
      text: "No image of this breast in this exam: no BI-RADS or density. U marks it not imaged.",
    }),
    h("div", { class: "rd-row" }, h("span", { class: "rd-row-label", text: "Answer" }), group),
    msgs(`breasts.${lat}.not_imaged`),
    arbitration ? readers : null,
    msgs(`breasts.${lat}`),
  );
  return {
    fieldset,
    name,
    birads: [],
    density: [],
    biradsGroup: group,
    densityGroup: group,
    readers,
    notImaged: toggle,
  };
}

/** Answer `lat` "not imaged", or take that answer back (the toggle and the U key); false when
 * the breast has images, the project does not allow it, or the read is submitted. */
export function toggleNotImaged(panel, lat) {
  const s = panel.screen;
  if (s.readOnly || !breastWithoutImage(s, lat)) return false;
  s.setActive(lat);
  const on = !panel.label.breasts[lat]?.not_imaged;
  s.change(() => s.editor.setNotImaged(lat, on));
  return true;
}

/** Show whether the breast is answered "not imaged". */
export function renderNotImaged(panel, lat, els) {
  els.notImaged.setAttribute("aria-pressed", String(Boolean(panel.label.breasts[lat]?.not_imaged)));
  els.notImaged.disabled = panel.screen.readOnly;
}
