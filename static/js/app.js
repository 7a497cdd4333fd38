// Small page behaviours that need no framework.
"use strict";

// After htmx swaps a whole page in, move focus to the main region so keyboard users start there.
document.addEventListener("htmx:afterSettle", (event) => {
  if (event.detail.target === document.body) {
    const main = document.getElementById("main");
    const autofocus = main && main.querySelector("[autofocus]");
    (autofocus || main)?.focus();
  }
});

// Secrets shown once (new API token, generated password) select themselves on click.
document.addEventListener("click", (event) => {
  const secret = event.target.closest && event.target.closest("code.secret");
  if (secret) {
    window.getSelection().selectAllChildren(secret);
  }
});
