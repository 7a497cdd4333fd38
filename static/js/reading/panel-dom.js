// MammoRead reading screen, the side panel's small DOM helpers, shared by side-panel.js and its
// parts (panel-*.js). Needs common.js (window.MammoCommon).

export const READER_SLOTS = [1, 2];

/** replaceChildren that skips null / false (conditional parts). */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((child) => child != null && child !== false));
  return el;
}

/** The place of a field's messages (side-panel.js renderMessages fills it). */
export function msgs(field) {
  return window.MammoCommon.h("div", { class: "rd-msgs", "data-field": field });
}
