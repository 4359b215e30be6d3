// Feedback on one answer: thumbs up, or thumbs down with a reason and an optional comment,
// sent to POST /api/v1/answers/{id}/feedback. Giving it again replaces the earlier one.
import { api } from "./api.js";
import { announce, field, h } from "./dom.js";

const REASONS = [["wrong", "Wrong"], ["incomplete", "Incomplete"], ["bad_citation", "Bad citation"]];

export function feedbackBar(answerId) {
  const status = h("span", { class: "hint", role: "status" });
  // Words, not emoji: an emoji font is not a given, and the name must say what it does.
  const up = h("button", { type: "button", class: "secondary small", "aria-pressed": "false",
    "aria-label": "Yes, a good answer" }, "Yes");
  const down = h("button", { type: "button", class: "secondary small", "aria-pressed": "false",
    "aria-label": "No, a bad answer" }, "No");
  const reason = h("select", { name: "reason" }, REASONS.map(([v, l]) => h("option", { value: v }, l)));
  const comment = h("input", { type: "text", name: "comment", maxlength: "2000", autocomplete: "off" });
  const send = h("button", { type: "submit", class: "small" }, "Send");
  const form = h("form", { class: "feedback-form row", hidden: true, "aria-label": "What was wrong?" },
    field("Reason", reason), field("Comment (optional)", comment), h("div", { class: "actions" }, send));
  const el = h("div", { class: "feedback" }, h("span", { class: "hint" }, "Helpful?"), up, down, status, form);

  async function give(body) {
    status.textContent = "";
    try {
      await api(`/api/v1/answers/${encodeURIComponent(answerId)}/feedback`, { method: "POST", json: body });
      up.setAttribute("aria-pressed", String(body.rating === "up"));
      down.setAttribute("aria-pressed", String(body.rating === "down"));
      status.textContent = "Thanks: feedback sent.";
      announce("Feedback sent.");
      return true;
    } catch (e) {
      status.textContent = `Feedback failed: ${e.message}`;
      return false;
    }
  }
  up.addEventListener("click", async () => { form.hidden = true; await give({ rating: "up" }); });
  down.addEventListener("click", () => { form.hidden = !form.hidden; if (!form.hidden) reason.focus(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { rating: "down", reason: reason.value };
    if (comment.value.trim()) body.comment = comment.value.trim();
    if (await give(body)) form.hidden = true;
  });
  return el;
}
