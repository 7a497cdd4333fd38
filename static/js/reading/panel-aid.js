// MammoRead reading screen, the side panel in a reader study: the session's name, the AI's help
// in an aided session (the shown model's score per breast and its marks, each one a click to
// select and T to take into the read; S shows or hides the marks on the images), and setting
// a case aside with a reason (an exclusion, listed with the study's results). Methods of
// SidePanel (mix-in.js).

const { fill } = await import(`./panel-dom.js${new URL(import.meta.url).search}`);

const EXCLUSION_REASONS = [
  "Images unreadable (quality)",
  "Exam incomplete (views missing)",
  "Wrong or mixed-up exam",
  "Other",
];

const percent = (score) => `${Math.round(Number(score) * 100)}%`;

/** "24 months", "1 month", "under a month". */
export function monthsText(months) {
  if (!(months >= 1)) return "under a month";
  return months === 1 ? "1 month" : `${months} months`;
}

export const studyPanel = {
  /** "Session 2 of the study: AI-aided", beside the heading (nothing in double reading). */
  /** Where the project shows priors and the woman has one: its interval, and the key. */
  priorTag(detail) {
    const prior = detail.priors?.[0];
    if (!prior) return null;
    const { h } = window.MammoCommon;
    return h(
      "p",
      {
        class: "rd-prior",
        id: "rd-prior",
        title: "The woman's earlier exam, for comparison only: it is not part of your read",
      },
      `Prior exam: ${monthsText(prior.months_before)} earlier · `,
      h("kbd", { text: "O" }),
      " compares (CC, MLO, all eight, off)",
    );
  },

  sessionTag(detail) {
    const session = detail.session;
    if (!session) return null;
    const { h } = window.MammoCommon;
    return h("span", {
      class: `rd-session${session.aided ? " rd-session-aided" : ""}`,
      title: session.aided ? "An aided session: the AI's help is shown" : "An unaided session",
      text: `Session ${session.number}: ${session.name}`,
    });
  },

  buildAid() {
    const { h } = window.MammoCommon;
    const s = this.screen;
    this.aidToggle = h("input", {
      type: "checkbox",
      checked: true,
      "aria-keyshortcuts": "S",
      on: { change: (e) => s.setShown("ai", e.target.checked) },
    });
    this.aidToggle.checked = true;
    this.readerToggles.ai = this.aidToggle;
    this.aidBody = h("div", { class: "rd-aid-body" }, h("p", { class: "muted", text: "Loading the AI's help…" }));
    return h(
      "section",
      { class: "rd-section rd-aid", "aria-label": "The AI's help" },
      h(
        "div",
        { class: "rd-aid-head" },
        h("h2", { class: "rd-aid-title", text: "AI" }),
        h("label", { class: "rd-aid-toggle" }, this.aidToggle, " Show marks ", h("kbd", { text: "S" })),
      ),
      this.aidBody,
    );
  },

  renderAid() {
    const s = this.screen;
    if (!this.aidBody || !s.aid) return;
    const { h } = window.MammoCommon;
    const aid = s.aid;
    const accepted = new Set(s.acceptedMarks());
    const selected = s.selected?.owner === "ai" ? s.selected.id : null;
    const key = JSON.stringify([aid.model, aid.note, aid.marks.length, selected, [...accepted], s.show.ai]);
    if (this.aidKey === key) return;
    this.aidKey = key;
    const scores = s.scales.breasts
      .filter(({ value }) => aid.scores[value] != null)
      .map(({ value, name }) =>
        h("span", { class: "rd-aid-score" }, `${name} `, h("strong", { text: percent(aid.scores[value]) })),
      );
    const marks = aid.marks.map((mark) => {
      const image = s.images.get(mark.image_id);
      const what = [
        percent(mark.score),
        image?.name || "?",
        mark.categories.join(", ") || "no category",
        mark.birads == null ? null : `BI-RADS ${mark.birads}`,
      ].filter(Boolean);
      return h(
        "li",
        { class: `rd-aid-mark${mark.id === selected ? " rd-selected" : ""}`, "data-mark": mark.mark },
        h(
          "button",
          {
            type: "button",
            class: "rd-aid-select",
            "aria-pressed": String(mark.id === selected),
            on: { click: () => s.select({ owner: "ai", id: mark.id }) },
          },
          what.join(" · "),
        ),
        accepted.has(mark.mark) ? h("span", { class: "rd-aid-taken", text: "taken" }) : null,
      );
    });
    fill(
      this.aidBody,
      aid.model ? h("p", { class: "rd-aid-model", text: `${aid.model}: malignancy score` }) : null,
      scores.length ? h("p", { class: "rd-aid-scores" }, scores) : null,
      aid.note ? h("p", { class: "muted rd-aid-note", text: aid.note }) : null,
      marks.length ? h("ol", { class: "rd-aid-marks" }, marks) : null,
      marks.length
        ? h(
            "p",
            { class: "muted rd-aid-hint" },
            "Click a mark, then ",
            h("kbd", { text: "T" }),
            " takes it into your read",
            s.show.ai ? "." : " (the marks are hidden on the images).",
          )
        : null,
    );
  },

  /** The tools' "Exclude case" button and its dialog (a reader study's reading only). */
  buildExclude(tools) {
    const { h } = window.MammoCommon;
    const s = this.screen;
    const reasons = EXCLUSION_REASONS.map((reason, index) =>
      h(
        "label",
        { class: "rd-exclude-reason" },
        h("input", { type: "radio", name: "rd-exclude-reason", value: reason, checked: index === 0 }),
        ` ${reason}`,
      ),
    );
    this.excludeText = h("input", {
      type: "text",
      class: "rd-exclude-text",
      maxlength: "400",
      placeholder: "What is wrong (required for Other)",
      "aria-label": "What is wrong",
    });
    this.excludeError = h("p", { class: "rd-msg rd-msg-error", role: "alert", hidden: true });
    this.excludeDialog = h(
      "dialog",
      { class: "rd-exclude-dialog", "aria-labelledby": "rd-exclude-title" },
      h(
        "form",
        {
          method: "dialog",
          on: {
            submit: (e) => {
              e.preventDefault();
              this.confirmExclude();
            },
          },
        },
        h("h2", { id: "rd-exclude-title", text: "Exclude this case" }),
        h("p", {
          class: "muted",
          text: "The case is set aside for you in this session, with your reason; it is listed with the study's results. This cannot be undone.",
        }),
        h("fieldset", {}, h("legend", { text: "Reason" }), reasons),
        this.excludeText,
        this.excludeError,
        h(
          "div",
          { class: "rd-exclude-actions" },
          h("button", { type: "submit", class: "btn btn-danger rd-exclude-confirm", text: "Exclude the case" }),
          h("button", {
            type: "button",
            class: "btn btn-quiet",
            text: "Cancel",
            on: { click: () => this.excludeDialog.close() },
          }),
        ),
      ),
    );
    this.excludeButton = h(
      "button",
      { type: "button", class: "btn btn-small btn-quiet rd-exclude", on: { click: () => this.openExclude() } },
      "Exclude case…",
    );
    tools.append(this.excludeButton);
    s.root.append(this.excludeDialog);
  },

  openExclude() {
    if (this.screen.readOnly || !this.excludeDialog) return;
    this.excludeError.hidden = true;
    this.excludeDialog.showModal();
  },

  async confirmExclude() {
    const choice = this.excludeDialog.querySelector("input[name=rd-exclude-reason]:checked");
    const detail = this.excludeText.value.trim();
    let reason = choice ? choice.value : "";
    if (reason === "Other") reason = detail;
    else if (detail) reason = `${reason}: ${detail}`;
    if (!reason) {
      this.excludeError.textContent = "Say what is wrong with the case.";
      this.excludeError.hidden = false;
      this.excludeText.focus();
      return;
    }
    const result = await this.screen.exclude(reason);
    if (result && !result.ok) {
      this.excludeError.textContent = result.error.message;
      this.excludeError.hidden = false;
      return;
    }
    this.excludeDialog.close();
  },
};
