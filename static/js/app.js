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
