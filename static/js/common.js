// MammoRead: what the reading screen (reading.js) and the masking screen (masking.js) share —
// the element builder, JSON calls to the API, the keyboard-help overlay, the base of a screen
// and the mounting of one screen at a time across htmx navigation. No dependencies; loaded
// before the screens, which take what they need from window.MammoCommon.
"use strict";

(() => {
  if (window.MammoCommon) return;

  /** Element builder: h("button", {class: "x", text: "Go", on: {click}}, child, ...). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key === "on") for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
      else if (key === "hidden") el.hidden = true;
      else if (key === "disabled") el.disabled = true;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child == null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /** The session's CSRF token, from the hx-headers the base layout puts on <body>. */
  function csrfToken() {
    try {
      const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return headers["X-CSRF-Token"] || "";
    } catch (_error) {
      return "";
    }
  }

  /** fetch JSON; never throws: {ok, status, data} or {ok: false, status, error}.
   * options: signal (aborted: status -1, code "aborted"), keepalive, cache (a fetch cache mode). */
  async function api(method, url, body, options = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: options.cache,
        keepalive: Boolean(options.keepalive),
        signal: options.signal,
      });
    } catch (error) {
      if (error && error.name === "AbortError")
        return { ok: false, status: -1, error: { code: "aborted", message: "aborted", details: [] } };
      return { ok: false, status: 0, error: { code: "network", message: "no connection to the server", details: [] } };
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (_error) {
        data = null;
      }
    }
    if (response.ok) return { ok: true, status: response.status, data };
    const error = data?.error || {
      code: `http_${response.status}`,
      message: `the server answered ${response.status}`,
      details: [],
    };
    if (!Array.isArray(error.details)) error.details = [];
    return { ok: false, status: response.status, error };
  }

  /** Why a request that is worth retrying failed, for "… retrying" lines. */
  function troubleText(result) {
    const s = result.status;
    if (s === 0) return "no connection";
    if (s === 401 || s === 403) return "you seem to be signed out (sign in again in another tab)";
    return `server error ${s}`;
  }

  /** The key goes to a text field (where letters are text, not shortcuts). */
  function isTextEntry(target) {
    if (!(target instanceof Element)) return false;
    if (target.closest("textarea, select, [contenteditable]:not([contenteditable=false])")) return true;
    const input = target.closest("input");
    return Boolean(input && !["checkbox", "radio", "button", "submit", "reset"].includes(input.type));
  }

  /** Base of a screen mounted on `root`: its listeners are removed by destroy() (which the
   * subclass writes, running `this.cleanups`), and it destroys itself once `root` has left the
   * page. */
  class Screen {
    constructor(root) {
      this.root = root;
      this.destroyed = false;
      this.cleanups = [];
    }

    alive() {
      if (this.destroyed) return false;
      if (!this.root.isConnected) {
        this.destroy();
        return false;
      }
      return true;
    }

    /** addEventListener, undone on destroy. */
    on(target, type, handler, options) {
      target.addEventListener(type, handler, options);
      this.cleanups.push(() => target.removeEventListener(type, handler, options));
    }
  }

  /** The keyboard-shortcut overlay (a modal dialog, hidden until opened): `groups` is
   * [[title, [[keys, what], ...]], ...], `intro` one line above them, `prefix` makes the ids
   * and the extra class of the dialog (`${prefix}-help`). Append `element` to the screen. */
  class HelpOverlay {
    constructor({ prefix, groups, intro }) {
      const sections = groups.map(([title, rows]) =>
        h(
          "section",
          { class: "help-group" },
          h("h3", { text: title }),
          h(
            "dl",
            {},
            rows.map(([keys, what]) => [h("dt", {}, h("kbd", { text: keys })), h("dd", { text: what })]),
          ),
        ),
      );
      this.closeButton = h(
        "button",
        { type: "button", class: "btn btn-small", on: { click: () => this.toggle(false) } },
        "Close ",
        h("kbd", { text: "Esc" }),
      );
      const titleId = `${prefix}-help-title`;
      const dialog = h(
        "div",
        {
          class: `help-dialog ${prefix}-help`,
          role: "dialog",
          "aria-modal": "true",
          "aria-labelledby": titleId,
          tabindex: "-1",
        },
        h("div", { class: "help-head" }, h("h2", { id: titleId, text: "Keyboard shortcuts" }), this.closeButton),
        h("p", { class: "muted", text: intro }),
        h("div", { class: "help-grid" }, sections),
      );
      this.element = h(
        "div",
        {
          class: "help-backdrop",
          hidden: true,
          on: { click: (e) => e.target === e.currentTarget && this.toggle(false) },
        },
        dialog,
      );
      this.returnTo = null;
    }

    get open() {
      return !this.element.hidden;
    }

    /** Open (focus on Close) or close (focus back where it was). */
    toggle(open) {
      if (open) {
        this.returnTo = document.activeElement;
        this.element.hidden = false;
        this.closeButton.focus();
      } else {
        this.element.hidden = true;
        if (this.returnTo?.isConnected && this.returnTo.focus) this.returnTo.focus({ preventScroll: true });
      }
    }

    /** While open the overlay has the keyboard: Esc or ? closes it, Tab stays on Close, and no
     * key reaches the screen or the viewer behind it. True when it was open (the key is dealt
     * with). */
    onKey(e) {
      if (this.element.hidden) return false;
      if (e.key === "Escape" || e.key === "?") {
        e.preventDefault();
        this.toggle(false);
      } else if (e.key === "Tab") {
        e.preventDefault();
        this.closeButton.focus();
      }
      e.stopPropagation();
      return true;
    }
  }

  /** Keeps one screen mounted on `#id[data-api]`: mounted on DOMContentLoaded, htmx:load (when
   * the swapped content holds the root) and htmx:historyRestore; destroyed once htmx has
   * settled a page without its root. Its onKey sees every key first, in the capture phase (a
   * key the screen uses never reaches the viewer, nor app.js's one-key links). htmx keeps a
   * snapshot of the page for the back button: no style attributes go into it (the CSP would
   * refuse them on restore; the screen is rebuilt from the server anyway).
   * current(): the mounted screen or null; create(root): mounts and starts a new one. */
  function keepMounted(id, { current, create }) {
    function mountIn(scope) {
      const root = document.getElementById(id);
      if (!root?.dataset.api) return;
      if (scope && scope !== document && scope instanceof Element && !scope.contains(root) && scope !== root) return;
      const screen = current();
      if (screen && screen.root === root && !screen.destroyed) return;
      if (screen) screen.destroy();
      create(root);
    }

    document.addEventListener(
      "keydown",
      (e) => {
        const screen = current();
        if (screen?.alive()) screen.onKey(e);
      },
      true,
    );
    const boot = () => mountIn(document);
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
    else boot();
    document.addEventListener("htmx:load", (e) => mountIn(e.detail?.elt));
    document.addEventListener("htmx:historyRestore", () => mountIn(document));
    document.addEventListener("htmx:afterSettle", () => {
      const screen = current();
      if (screen && !screen.root.isConnected) screen.destroy();
    });
    document.addEventListener("htmx:beforeHistorySave", () => {
      const screen = current();
      if (!screen?.alive()) return;
      for (const el of screen.root.querySelectorAll("[style]")) el.removeAttribute("style");
    });
  }

  window.MammoCommon = Object.freeze({ h, csrfToken, api, troubleText, isTextEntry, Screen, HelpOverlay, keepMounted });
})();
