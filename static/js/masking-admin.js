// MammoRead masking admin pages: the creation form (only the chosen mode's fields; the seed
// picker: candidates large, the chosen seeds side by side in order, ordered by keys or by
// dragging, at most one seed per woman) and the per-image results table (sortable by click or
// by keyboard). Progressive: without JavaScript the form shows every field and rank inputs.
// Mounts on DOMContentLoaded and htmx:load; each element is enhanced once.
"use strict";

(() => {
  if (window.MammoMaskingAdmin) return;

  // --- the creation form: only the chosen mode's fields ----------------------------------------

  function enhanceModes(form) {
    const mode = form.querySelector("#m-mode");
    if (!mode) return;
    const apply = () => {
      for (const group of form.querySelectorAll("[data-mode-fields]")) {
        group.hidden = group.dataset.modeFields !== mode.value;
      }
    };
    mode.addEventListener("change", apply);
    apply();
  }

  /** Seed candidates' thumbnails follow the chosen display protocol (seeds are judged as the
   * readers will see them). */
  function enhanceProtocol(form) {
    const select = form.querySelector("#m-protocol");
    if (!select) return;
    select.addEventListener("change", () => {
      for (const img of form.querySelectorAll(".seed-candidate img[data-src]")) {
        img.src = `${img.dataset.src}&protocol=${encodeURIComponent(select.value)}`;
      }
    });
  }

  // --- the seed picker -------------------------------------------------------------------------

  class SeedPicker {
    constructor(root) {
      this.root = root;
      this.order = root.querySelector("#seed-order");
      this.pool = root.querySelector("#seed-candidates");
      this.message = root.querySelector("#seed-message");
      this.dragged = null;
      root.classList.add("seed-picker-live");
      // a form sent back after an error: the ranks typed (or set) before come back in order
      const ranked = [...this.pool.children]
        .map((card) => [Number(this.rankInput(card).value), card])
        .filter(([rank]) => rank > 0)
        .sort((a, b) => a[0] - b[0]);
      for (const [, card] of ranked) this.order.append(card);
      for (const card of this.cards()) this.decorate(card);
      root.addEventListener("keydown", (e) => this.onKey(e));
      root.addEventListener("click", (e) => this.onClick(e));
      root.addEventListener("dragstart", (e) => this.onDragStart(e));
      root.addEventListener("dragover", (e) => this.onDragOver(e));
      root.addEventListener("drop", (e) => this.onDrop(e));
      root.addEventListener("dragend", () => this.onDragEnd());
      this.sync();
    }

    cards() {
      return [...this.root.querySelectorAll(".seed-candidate")];
    }

    rankInput(card) {
      return card.querySelector("input[name='seed_rank']");
    }

    decorate(card) {
      this.rankInput(card).tabIndex = -1;
      card.setAttribute("role", "button");
    }

    chosen(card) {
      return card.parentElement === this.order;
    }

    say(text) {
      this.message.textContent = text;
    }

    /** The seed of the same woman (study) as `card`, if one is chosen already. */
    sameWoman(card) {
      return [...this.order.children].find((c) => c !== card && c.dataset.study === card.dataset.study);
    }

    toggle(card) {
      if (this.chosen(card)) {
        this.pool.prepend(card);
        this.say(`Removed image ${card.dataset.imageId.slice(0, 10)} from the seeds.`);
      } else {
        const other = this.sameWoman(card);
        if (other) {
          this.say(
            `At most one seed per woman: image ${other.dataset.imageId.slice(0, 10)} of the same study is a seed already.`,
          );
          card.classList.add("seed-refused");
          setTimeout(() => card.classList.remove("seed-refused"), 600);
          return;
        }
        this.order.append(card);
        this.say(`Seed ${this.order.children.length}: image ${card.dataset.imageId.slice(0, 10)}.`);
      }
      this.sync();
      card.focus();
    }

    /** Move a chosen seed one place left (-1) or right (+1) in the order. */
    move(card, step) {
      if (!this.chosen(card)) return;
      const sibling = step < 0 ? card.previousElementSibling : card.nextElementSibling;
      if (!sibling) return;
      if (step < 0) sibling.before(card);
      else sibling.after(card);
      this.sync();
      card.focus();
      this.say(
        `Image ${card.dataset.imageId.slice(0, 10)} is seed ${this.position(card)} of ${this.order.children.length}.`,
      );
    }

    position(card) {
      return [...this.order.children].indexOf(card) + 1;
    }

    /** Ranks into the form (what the server reads), badges and labels onto the cards. */
    sync() {
      for (const card of this.cards()) {
        const chosen = this.chosen(card);
        const rank = chosen ? this.position(card) : 0;
        this.rankInput(card).value = chosen ? String(rank) : "";
        card.querySelector(".seed-rank-badge").textContent = chosen ? String(rank) : "";
        card.setAttribute("aria-pressed", chosen ? "true" : "false");
        card.dataset.rank = chosen ? String(rank) : "";
      }
      this.order.dataset.count = String(this.order.children.length);
    }

    onClick(e) {
      const card = e.target.closest(".seed-candidate");
      if (!card || e.target.closest("input")) return;
      this.toggle(card);
    }

    onKey(e) {
      const card = e.target.closest?.(".seed-candidate");
      if (!card || e.target !== card) return;
      const key = e.key;
      if (key === " " || key === "Enter") {
        e.preventDefault();
        this.toggle(card);
      } else if ((key === "ArrowLeft" || key === "ArrowRight") && (e.altKey || e.shiftKey)) {
        e.preventDefault();
        this.move(card, key === "ArrowLeft" ? -1 : 1);
      } else if (key === "ArrowLeft" || key === "ArrowRight") {
        e.preventDefault();
        const next = key === "ArrowLeft" ? card.previousElementSibling : card.nextElementSibling;
        if (next) next.focus();
      } else if (key === "Home" || key === "End") {
        e.preventDefault();
        const list = card.parentElement.children;
        (key === "Home" ? list[0] : list[list.length - 1]).focus();
      }
    }

    onDragStart(e) {
      const card = e.target.closest?.(".seed-candidate");
      if (!card) return;
      this.dragged = card;
      card.classList.add("seed-dragging");
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", card.dataset.imageId);
    }

    /** Where a drop at the pointer goes in the seed order: before the card under it. */
    dropTarget(e) {
      if (!this.dragged || (!this.order.contains(e.target) && e.target !== this.order)) return null;
      const cards = [...this.order.children].filter((c) => c !== this.dragged);
      const before = cards.find((c) => {
        const rect = c.getBoundingClientRect();
        return e.clientX < rect.left + rect.width / 2;
      });
      return { before: before || null };
    }

    onDragOver(e) {
      if (!this.dropTarget(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
    }

    onDrop(e) {
      const target = this.dropTarget(e);
      if (!target) return;
      e.preventDefault();
      const card = this.dragged;
      if (!this.chosen(card)) {
        const other = this.sameWoman(card);
        if (other) {
          this.say(
            `At most one seed per woman: image ${other.dataset.imageId.slice(0, 10)} of the same study is a seed already.`,
          );
          return;
        }
      }
      if (target.before) target.before.before(card);
      else this.order.append(card);
      this.sync();
      this.say(
        `Image ${card.dataset.imageId.slice(0, 10)} is seed ${this.position(card)} of ${this.order.children.length}.`,
      );
    }

    onDragEnd() {
      if (this.dragged) this.dragged.classList.remove("seed-dragging");
      this.dragged = null;
    }
  }

  // --- the per-image results table: sortable -----------------------------------------------------

  /** A cell's sort key: its data-sort as a number, or as text in a text column; null (n/a)
   * sorts last either way. */
  function sortValue(cell, text) {
    const raw = cell?.dataset.sort ?? "";
    if (raw === "") return null;
    if (text) return raw;
    const number = Number(raw);
    return Number.isFinite(number) ? number : raw;
  }

  function enhanceTable(table) {
    const heads = [...table.querySelectorAll("thead th[data-sortable]")];
    const body = table.tBodies[0];
    const sortBy = (th, direction) => {
      const column = [...th.parentElement.children].indexOf(th);
      const rows = [...body.rows];
      const text = th.dataset.sortable === "text";
      rows.sort((a, b) => {
        const x = sortValue(a.cells[column], text);
        const y = sortValue(b.cells[column], text);
        if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
        const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return direction === "ascending" ? order : -order;
      });
      body.append(...rows);
      for (const other of heads) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", direction);
    };
    for (const th of heads) {
      const label = th.textContent.trim();
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort-button";
      button.textContent = label;
      button.title = `Sort by ${label}`;
      th.textContent = "";
      th.append(button);
      button.addEventListener("click", () => {
        sortBy(th, th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending");
      });
    }
  }

  // --- mounting --------------------------------------------------------------------------------

  function enhance(scope) {
    const root = scope instanceof Element || scope instanceof Document ? scope : document;
    const all = (selector) => [
      ...(root instanceof Element && root.matches(selector) ? [root] : []),
      ...root.querySelectorAll(selector),
    ];
    for (const form of all("#new-masking-form")) {
      if (form.dataset.enhanced) continue;
      form.dataset.enhanced = "1";
      enhanceModes(form);
      enhanceProtocol(form);
      const picker = form.querySelector("#seed-picker");
      if (picker) new SeedPicker(picker);
    }
    for (const table of all("table[data-sortable-table]")) {
      if (table.dataset.enhanced) continue;
      table.dataset.enhanced = "1";
      enhanceTable(table);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => enhance(document));
  else enhance(document);
  document.addEventListener("htmx:load", (e) => enhance(e.detail?.elt || document));

  window.MammoMaskingAdmin = Object.freeze({ enhance, SeedPicker });
})();
