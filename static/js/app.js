// Small page behaviours that need no framework.
"use strict";

// After htmx swaps a whole page in, move focus to the main region so keyboard users start there.
document.addEventListener("htmx:afterSettle", (event) => {
  if (event.detail.target === document.body) {
    const main = document.getElementById("main");
    const autofocus = main?.querySelector("[autofocus]");
    (autofocus || main)?.focus();
  }
});

// Secrets shown once (new API token, generated password) select themselves on click.
document.addEventListener("click", (event) => {
  const secret = event.target.closest?.("code.secret");
  if (secret) {
    window.getSelection().selectAllChildren(secret);
  }
});

// One-key actions: an element with data-key="n" is activated by that key, unless the
// reader is typing in a field or holds a modifier.
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  const target = event.target;
  if (target.closest?.("input, textarea, select, [contenteditable]")) return;
  const action = document.querySelector(`[data-key="${CSS.escape(event.key.toLowerCase())}"]`);
  if (action) {
    event.preventDefault();
    action.click();
  }
});

// Downloads and API answers are files, not pages: htmx boosting (on <body>) would swap their
// bytes into the page. A click on any link with `download`, or on one to /api/, stops here in
// the capture phase, before htmx's own listener on the link, so the browser saves (or shows) it.
document.addEventListener(
  "click",
  (event) => {
    const link = event.target.closest?.("a[href]");
    if (!link) return;
    const url = new URL(link.href, document.baseURI);
    const file = link.hasAttribute("download") || url.pathname.startsWith("/api/");
    if (file && url.origin === window.location.origin) event.stopPropagation();
  },
  true,
);

// A select of formats (data-formats-of="<id of the project select>") offers only the formats
// whose data-kind fits the chosen project ("reading:3" -> reading), and picks the first one.
document.addEventListener("change", (event) => {
  const project = event.target;
  if (!(project instanceof HTMLSelectElement) || !project.id) return;
  const formats = document.querySelector(`select[data-formats-of="${CSS.escape(project.id)}"]`);
  if (!formats) return;
  const kind = project.value.split(":")[0];
  let first = null;
  for (const option of formats.options) {
    const fits = !kind || option.dataset.kind === kind;
    option.hidden = !fits;
    option.disabled = !fits;
    if (fits && !first) first = option;
  }
  if (formats.selectedOptions[0]?.disabled && first) first.selected = true;
});
