// MammoRead masking admin pages: the creation form (only the chosen mode's fields; the seed
// picker, for the full sort's seed list and for each level's seeds: candidates large, the chosen
// seeds side by side in order, ordered by keys or by dragging, at most one seed per woman) and
// the per-image results table (sortable by click or by keyboard). Progressive: without
// JavaScript the form shows every field and rank inputs (levels: the seed lines to type).
// Mounts on DOMContentLoaded and htmx:load; each element is enhanced once.
"use strict";

(() => {
  if (window.MammoMaskingAdmin) return;

  // --- the creation form: only the chosen mode's fields ----------------------------------------

  function enhanceModes(form) {
    const mode = form.querySelector("#m-mode");
    if (!mode) return;
    // a hidden mode's fields are disabled too, so that they are not sent
    const apply = () => {
      for (const group of form.querySelectorAll("[data-mode-fields]")) {
        group.hidden = group.dataset.modeFields !== mode.value;
        group.disabled = group.hidden;
      }
    };
    mode.addEventListener("change", apply);
    apply();
    // levels: seeds derived from a full sort, or given here (typed or picked), not both
    const derive = form.querySelector("#m-derive");
    const given = form.querySelector("#m-level-seeds-given");
    if (!derive || !given) return;
    const showGiven = () => {
      given.hidden = derive.value !== "";
      for (const field of given.querySelectorAll("textarea, input")) field.disabled = given.hidden;
    };
    derive.addEventListener("change", showGiven);
    showGiven();
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
  // One component for both modes. A full sort has one order (`#seed-order`, written into the
  // candidates' rank inputs); levels mode has one order per level, built from the levels field
  // and written as one line per level into the form's `level_picks`. Space adds the focused
  // candidate to the current order (levels: the one whose "Level" button was pressed last).

  const REFUSED_MS = 600;

  class SeedPicker {
    constructor(root) {
      this.root = root;
      this.pool = root.querySelector(".seed-grid");
      this.message = root.querySelector(".seed-message");
      this.levelsBox = root.querySelector(".seed-levels"); // levels mode only
      this.picks = root.querySelector("input.seed-picks"); // levels mode only
      this.levelsInput = root.dataset.levelsFrom ? document.querySelector(root.dataset.levelsFrom) : null;
      this.target = 0; // index of the order Space adds to
      this.dragged = null;
      const template = root.querySelector("template.seed-pool");
      if (template) this.pool.append(template.content.cloneNode(true));
      root.hidden = false;
      root.classList.add("seed-picker-live");
      for (const card of this.cards()) this.decorate(card);
      if (this.levelsBox) {
        this.buildLevels(this.levelCount());
        this.restoreLevels();
        this.levelsInput?.addEventListener("input", () => this.onLevelsChanged());
        this.levelsInput?.addEventListener("change", () => this.onLevelsChanged());
      } else {
        this.restoreRanks();
      }
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

    orders() {
      return [...this.root.querySelectorAll(".seed-order")];
    }

    card(imageId) {
      return this.cards().find((c) => c.dataset.imageId === imageId) || null;
    }

    rankInput(card) {
      return card.querySelector("input[name='seed_rank']");
    }

    decorate(card) {
      const rank = this.rankInput(card);
      if (rank) rank.tabIndex = -1;
      card.setAttribute("role", "button");
    }

    /** A form sent back after an error: the ranks typed (or set) before come back in order. */
    restoreRanks() {
      const ranked = [...this.pool.children]
        .map((card) => [Number(this.rankInput(card)?.value), card])
        .filter(([rank]) => rank > 0)
        .sort((a, b) => a[0] - b[0]);
      for (const [, card] of ranked) this.orders()[0].append(card);
    }

    // --- levels mode: one order per level -------------------------------------------------------

    levelCount() {
      const value = Number(this.levelsInput?.value);
      return Number.isInteger(value) ? Math.min(20, Math.max(2, value)) : 8;
    }

    /** Rows for `count` levels, keeping the seeds of the levels that stay; the seeds of levels
     * that go back to the candidates. */
    buildLevels(count) {
      const rows = [...this.levelsBox.children];
      for (const row of rows.slice(count)) {
        for (const card of [...row.querySelectorAll(".seed-candidate")]) this.pool.prepend(card);
        row.remove();
      }
      for (let level = rows.length + 1; level <= count; level++) {
        const title = `level-${level}-title`;
        const button = document.createElement("button");
        button.type = "button";
        button.className = "btn seed-level-pick";
        button.id = title;
        button.dataset.level = String(level);
        button.textContent = `Level ${level}`;
        const order = document.createElement("ol");
        order.className = "seed-order";
        order.dataset.level = String(level);
        order.dataset.empty = "No seed yet: press this level's button, then Space on a candidate.";
        order.setAttribute("aria-labelledby", title);
        const row = document.createElement("div");
        row.className = "seed-level";
        row.append(button, order);
        this.levelsBox.append(row);
      }
      this.target = Math.min(this.target, count - 1);
    }

    restoreLevels() {
      const lines = (this.picks.value || "").split("\n");
      const orders = this.orders();
      lines.forEach((line, index) => {
        for (const imageId of line.split(/[\s,]+/).filter(Boolean)) {
          const card = this.card(imageId);
          if (card && orders[index] && !this.chosen(card)) orders[index].append(card);
        }
      });
    }

    onLevelsChanged() {
      const count = this.levelCount();
      if (count === this.orders().length) return;
      this.buildLevels(count);
      this.sync();
    }

    setTarget(index, announce = true) {
      this.target = index;
      this.sync();
      if (announce) this.say(`Space now adds to level ${index + 1}.`);
    }

    // --- choosing and ordering ----------------------------------------------------------------

    chosen(card) {
      return card.parentElement !== this.pool;
    }

    say(text) {
      this.message.textContent = text;
    }

    /** Where `card` sits, as the reader of the message wants it. */
    place(card) {
      const order = card.parentElement;
      const where = `${this.position(card)} of ${order.children.length}`;
      return this.levelsBox ? `seed ${where} of level ${order.dataset.level}` : `seed ${where}`;
    }

    /** The seed of the same woman (study) as `card`, if one is chosen already (in any level). */
    sameWoman(card) {
      return this.cards().find((c) => c !== card && this.chosen(c) && c.dataset.study === card.dataset.study);
    }

    refuse(card, other) {
      this.say(
        `At most one seed per woman: image ${other.dataset.imageId.slice(0, 10)} of the same study is a seed already.`,
      );
      card.classList.add("seed-refused");
      setTimeout(() => card.classList.remove("seed-refused"), REFUSED_MS);
    }

    toggle(card) {
      if (this.chosen(card)) {
        this.pool.prepend(card);
        this.say(`Removed image ${card.dataset.imageId.slice(0, 10)} from the seeds.`);
      } else {
        const other = this.sameWoman(card);
        if (other) {
          this.refuse(card, other);
          return;
        }
        this.orders()[this.target].append(card);
        this.say(`Image ${card.dataset.imageId.slice(0, 10)} is ${this.place(card)}.`);
      }
      this.sync();
      card.focus();
    }

    /** Move a chosen seed one place left (-1) or right (+1) in its order. */
    move(card, step) {
      if (!this.chosen(card)) return;
      const sibling = step < 0 ? card.previousElementSibling : card.nextElementSibling;
      if (!sibling) return;
      if (step < 0) sibling.before(card);
      else sibling.after(card);
      this.sync();
      card.focus();
      this.say(`Image ${card.dataset.imageId.slice(0, 10)} is ${this.place(card)}.`);
    }

    /** Levels: move a chosen seed to the level before (-1) or after (+1), as its last seed. */
    moveLevel(card, step) {
      if (!this.levelsBox || !this.chosen(card)) return;
      const orders = this.orders();
      const index = orders.indexOf(card.parentElement) + step;
      if (index < 0 || index >= orders.length) return;
      orders[index].append(card);
      this.target = index;
      this.sync();
      card.focus();
      this.say(`Image ${card.dataset.imageId.slice(0, 10)} is ${this.place(card)}.`);
    }

    position(card) {
      return [...card.parentElement.children].indexOf(card) + 1;
    }

    /** What the server reads (rank inputs, or level lines), badges and states onto the page. */
    sync() {
      for (const card of this.cards()) {
        const chosen = this.chosen(card);
        const rank = chosen ? String(this.position(card)) : "";
        const level = chosen && this.levelsBox ? card.parentElement.dataset.level : "";
        const rankInput = this.rankInput(card);
        if (rankInput) rankInput.value = rank;
        card.querySelector(".seed-rank-badge").textContent = level ? `L${level}·${rank}` : rank;
        card.setAttribute("aria-pressed", chosen ? "true" : "false");
        card.dataset.rank = rank;
        card.dataset.level = level;
      }
      const orders = this.orders();
      orders.forEach((order, index) => {
        order.dataset.count = String(order.children.length);
        const button = order.parentElement.querySelector(".seed-level-pick");
        if (!button) return;
        button.setAttribute("aria-pressed", index === this.target ? "true" : "false");
        const count = order.children.length;
        button.title = `Level ${index + 1}: ${count} seed${count === 1 ? "" : "s"}`;
      });
      if (this.picks) {
        this.picks.value = orders
          .map((order) => [...order.children].map((c) => c.dataset.imageId).join(" "))
          .join("\n");
      }
    }

    onClick(e) {
      const pick = e.target.closest(".seed-level-pick");
      if (pick) {
        this.setTarget(Number(pick.dataset.level) - 1);
        return;
      }
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
      } else if ((key === "ArrowUp" || key === "ArrowDown") && (e.altKey || e.shiftKey) && this.levelsBox) {
        e.preventDefault();
        this.moveLevel(card, key === "ArrowUp" ? -1 : 1);
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

    /** Where a drop at the pointer goes: the order under it (levels: the level's row), before
     * the card under the pointer. */
    dropTarget(e) {
      if (!this.dragged || !(e.target instanceof Element)) return null;
      const order = e.target.closest(".seed-order") || e.target.closest(".seed-level")?.querySelector(".seed-order");
      if (!order || !this.root.contains(order)) return null;
      const cards = [...order.children].filter((c) => c !== this.dragged);
      const before = cards.find((c) => {
        const rect = c.getBoundingClientRect();
        return e.clientX < rect.left + rect.width / 2;
      });
      return { order, before: before || null };
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
      const other = this.chosen(card) ? null : this.sameWoman(card);
      if (other) {
        this.refuse(card, other);
        return;
      }
      if (target.before) target.before.before(card);
      else target.order.append(card);
      this.target = this.orders().indexOf(target.order);
      this.sync();
      this.say(`Image ${card.dataset.imageId.slice(0, 10)} is ${this.place(card)}.`);
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
      for (const picker of form.querySelectorAll(".seed-picker")) new SeedPicker(picker);
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
