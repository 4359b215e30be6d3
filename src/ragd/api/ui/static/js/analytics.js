// Answers (tenant admins): how many questions were answered or declined, how much feedback
// came back and how much of it was negative, and the declined questions asked most often:
// the gaps in the documents.
import { api } from "./api.js";
import { alertBox, field, h, table } from "./dom.js";

const pct = (x) => `${(100 * x).toFixed(1)}%`;
const REASONS = { wrong: "Wrong", incomplete: "Incomplete", bad_citation: "Bad citation" };

export function view(main) {
  main.append(h("h1", { tabindex: "-1" }, "Answers"),
    h("p", { class: "hint" }, "Questions answered in this tenant, the feedback on them, and what could not be answered."));
  const days = h("select", { name: "days" },
    [7, 30, 90, 365].map((d) => h("option", { value: String(d), selected: d === 30 }, `last ${d} days`)));
  const body = h("div", { "aria-live": "polite" });
  main.append(h("div", { class: "row filters" }, field("Period", days)), body);
  days.addEventListener("change", load);

  async function load() {
    try {
      const a = await api(`/api/v1/analytics?days=${days.value}&top=20`);
      const stat = (label, value, testid) => h("div", { class: "stat" },
        h("p", { class: "stat-value", "data-testid": testid }, value), h("p", { class: "hint" }, label));
      body.replaceChildren(
        h("div", { class: "stats" },
          stat("answers", String(a.answers), "answers"),
          stat(`declined (${pct(a.declined_share)})`, String(a.declined), "declined"),
          stat(`with feedback (${pct(a.feedback_rate)})`, String(a.answers_with_feedback), "feedback-rate"),
          stat(`negative (${pct(a.negative_share)} of ${a.positive + a.negative})`, String(a.negative), "negative")),
        h("h2", {}, "Why answers were rated down"),
        table("Reasons for negative feedback", [
          { label: "Reason", cell: ([r]) => REASONS[r] || r },
          { label: "Count", class: "num", cell: ([, n]) => String(n) },
        ], Object.entries(a.reasons), "No negative feedback with a reason."),
        h("h2", {}, "Top unanswered questions"),
        table("Declined questions asked most often", [
          { label: "Question", cell: (q) => q.question },
          { label: "Times asked", class: "num", cell: (q) => String(q.count) },
        ], a.top_unanswered, "Every question found an answer."));
    } catch (e) {
      body.replaceChildren(alertBox(e.message));
    }
  }
  load();
}
