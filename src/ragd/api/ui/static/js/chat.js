// Chat: a question goes to POST /api/v1/query with stream: true; tokens are shown as they
// arrive, then the checked citations turn every [n] into a button that opens the passage
// with the quoted span highlighted. Unsupported citations are marked in text and colour.
// Questions are asked in a stored conversation (created with the first one), so the
// server keeps the history, searches follow-ups with a stand-alone question (shown under
// the answer when it differs) and lists the conversation beside the chat.
import { collectionPicker } from "./collections.js";
import { api, apiObjectUrl, streamEvents } from "./api.js";
import { conversationList } from "./conversations.js";
import { add, alertBox, announce, field, h, parsePairs } from "./dom.js";
import { feedbackBar } from "./feedback.js";

const MARKER = /\[(\d{1,3})\]/g;
const RESERVED = new Set(["source", "document_id"]);
const GAP = 12; // px between the newest answer and the question form

// "team=docs, year=2024" -> the API's filters ({ metadata: {...}, source, document_id }).
export function parseFilters(text) {
  const filters = {};
  const metadata = {};
  for (const [key, value] of Object.entries(parsePairs(text))) {
    if (RESERVED.has(key)) filters[key] = String(value);
    else metadata[key] = value;
  }
  if (Object.keys(metadata).length) filters.metadata = metadata;
  return Object.keys(filters).length ? filters : null;
}

export function view(main) {
  let conversationId = null;
  let readOnly = false;
  const log = h("ol", { class: "log", "aria-label": "Conversation" });
  const empty = h("p", { class: "hint empty-chat" },
    "Ask a question about your documents. Answers cite their sources as [n]: ",
    "select one to read the passage.");
  const question = h("textarea", { name: "question", rows: "3", required: true, maxlength: "4000" });
  const mode = h("select", { name: "mode" },
    ["hybrid", "dense", "sparse", "graph", "hybrid+graph"].map((m) => h("option", { value: m }, m)));
  const filters = h("input", { type: "text", name: "filters", placeholder: "team=docs, year=2024" });
  const collection = collectionPicker("collection", "all you can read");
  const ask = h("button", { type: "submit" }, "Ask");
  const stop = h("button", { type: "button", class: "secondary", hidden: true }, "Stop");
  const formError = h("div", { "aria-live": "assertive" });
  const form = h("form", { class: "ask card", "aria-label": "Ask a question" },
    field("Question", question, "Enter sends; Shift+Enter starts a new line."),
    h("div", { class: "row" },
      field("Retrieval", mode),
      field("Collection", collection),
      field("Filters", filters, "key=value pairs, comma-separated (source= and document_id= too)")),
    h("div", { class: "actions" }, ask, stop),
    formError);
  const dialog = passageDialog();
  const readOnlyNote = h("p", { class: "hint", hidden: true },
    "Shared with you read-only: start a new conversation to ask on.");
  const list = conversationList({ onOpen: open, onNew: reset });
  const chatMain = h("section", { class: "chat-main", "aria-label": "Chat" }, empty, log, readOnlyNote, form);
  main.append(h("h1", { tabindex: "-1" }, "Chat"),
    h("div", { class: "chat-layout" }, chatMain, list.el), dialog.el);
  list.refresh();

  // The form sticks to the bottom of the window; scrolling into view (and the newest
  // answer as it grows) must stop above it, never behind it.
  const root = document.documentElement;
  const measure = () => root.style.setProperty("--ask-height", `${form.offsetHeight + GAP}px`);
  const resize = new ResizeObserver(measure);
  resize.observe(form);
  measure();

  function setReadOnly(value) {
    readOnly = value;
    readOnlyNote.hidden = !value;
    for (const el of form.elements) el.disabled = value;
  }

  function reset() {
    controller?.abort();
    conversationId = null;
    setReadOnly(false);
    log.replaceChildren();
    if (!empty.isConnected) chatMain.prepend(empty);
    question.focus();
  }

  async function open(id) {
    controller?.abort();
    formError.replaceChildren();
    try {
      const conv = await api(`/api/v1/conversations/${encodeURIComponent(id)}`);
      conversationId = conv.id;
      setReadOnly(!conv.owned);
      empty.remove();
      log.replaceChildren(...conv.messages.map((m) => storedTurn(m, dialog)));
      log.lastElementChild?.scrollIntoView({ block: "nearest" });
      announce(`Opened ${conv.title || "conversation"} with ${conv.messages.length} questions.`);
    } catch (e) {
      formError.append(alertBox(e.message));
    }
  }

  let controller = null;
  stop.addEventListener("click", () => controller?.abort());
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.replaceChildren();
    filters.removeAttribute("aria-invalid");
    const text = question.value.trim();
    if (!text || controller) return;
    let parsed;
    try {
      parsed = parseFilters(filters.value);
    } catch (e) {
      filters.setAttribute("aria-invalid", "true");
      formError.append(alertBox(`Filters: ${e.message}`));
      filters.focus();
      return;
    }
    if (readOnly) return;
    controller = new AbortController();
    ask.disabled = true;
    try {
      if (!conversationId) {
        const conv = await api("/api/v1/conversations", { method: "POST", json: {} });
        conversationId = conv.id;
        list.select(conv.id);
      }
    } catch (e) {
      formError.append(alertBox(e.message));
      controller = null;
      ask.disabled = false;
      return;
    }
    const body = { query: text, stream: true, mode: mode.value, conversation_id: conversationId };
    if (parsed) body.filters = parsed;
    if (collection.value) body.collection = collection.value;
    empty.remove();
    const turn = answerTurn(text, dialog, () => reveal(turn.el));
    log.append(turn.el);
    reveal(turn.el);
    question.value = "";
    stop.hidden = false;
    try {
      await turn.stream(body, controller.signal);
      reveal(turn.el);
      list.refresh();
    } finally {
      controller = null;
      ask.disabled = false;
      stop.hidden = true;
      question.focus();
    }
  });
  // Scroll just enough for the bottom of `el` to sit above the sticky form.
  function reveal(el) {
    const limit = form.getBoundingClientRect().top - GAP;
    const bottom = el.getBoundingClientRect().bottom;
    if (bottom > limit) window.scrollBy(0, bottom - limit);
  }

  return () => {
    controller?.abort();
    resize.disconnect();
    root.style.removeProperty("--ask-height");
  };
}

// A turn read back from a stored conversation.
function storedTurn(message, dialog) {
  const r = message.result;
  const text = h("div", { class: "answer-text" });
  const sources = h("div", { class: "sources" });
  const meta = h("p", { class: "meta" }, metaText(r, message.question));
  renderAnswer(text, r.answer, r.citations, r.passages, dialog);
  renderSources(sources, r.citations, r.passages, dialog);
  return h("li", { class: "turn" },
    h("div", { class: "question" }, h("p", { class: "speaker" }, "You"), h("p", {}, message.question)),
    h("div", { class: "answer", "aria-busy": "false", "aria-label": "Answer" },
      h("p", { class: "speaker" }, "ragd"), text, sources, meta, feedbackBar(message.answer_id)));
}

function metaText(done, question) {
  const bits = [done.model];
  if (done.timings?.total_ms !== undefined) bits.push(`${Math.round(done.timings.total_ms)} ms`);
  if (done.cached) bits.push("cached");
  if (!done.grounded) bits.push("not found in your documents");
  if (done.search_query && done.search_query !== question) bits.push(`searched: “${done.search_query}”`);
  return bits.join(" · ");
}

function answerTurn(question, dialog, onGrow = () => {}) {
  const text = h("div", { class: "answer-text" });
  const meta = h("p", { class: "meta" });
  const sources = h("div", { class: "sources" });
  const answer = h("div", { class: "answer", "aria-busy": "true", "aria-label": "Answer" },
    h("p", { class: "speaker" }, "ragd"), text, h("p", { class: "hint typing" }, "Writing…"), sources, meta);
  const el = h("li", { class: "turn" },
    h("div", { class: "question" }, h("p", { class: "speaker" }, "You"), h("p", {}, question)),
    answer);

  async function stream(body, signal) {
    let written = "";
    let citations = [];
    let passages = [];
    let done = null;
    let problem = null;
    try {
      for await (const ev of streamEvents("/api/v1/query", body, { signal })) {
        const data = JSON.parse(ev.data);
        if (ev.event === "token") {
          written += data.text;
          text.textContent = written;
          onGrow();
        } else if (ev.event === "citations") {
          citations = data.citations || [];
          passages = data.passages || [];
        } else if (ev.event === "done") {
          done = data;
        } else if (ev.event === "error") {
          problem = data;
        }
      }
    } catch (e) {
      problem = e.name === "AbortError" ? { detail: "Stopped." } : { detail: e.message };
    }
    answer.querySelector(".typing")?.remove();
    answer.setAttribute("aria-busy", "false");
    if (done) written = done.answer ?? written;
    renderAnswer(text, written, citations, passages, dialog);
    renderSources(sources, citations, passages, dialog);
    if (done) {
      meta.textContent = metaText(done, question);
      if (done.answer_id) answer.append(feedbackBar(done.answer_id));
    }
    if (problem) {
      answer.append(alertBox(problem.detail || "The answer failed."));
      announce("The answer failed.");
      return null;
    }
    const flagged = citations.filter((c) => !c.supported).length;
    announce(`Answer ready with ${citations.length} citation${citations.length === 1 ? "" : "s"}` +
      (flagged ? `, ${flagged} not supported by its passage.` : "."));
    return written;
  }
  return { el, stream };
}

// Each [n] in the text becomes a button for the citation it stands for. The same n can be
// cited by several sentences (one citation each, in text order), so occurrences of n take
// n's citations in turn.
function renderAnswer(container, written, citations, passages, dialog) {
  container.replaceChildren();
  const byN = new Map();
  for (const c of citations) {
    if (!byN.has(c.n)) byN.set(c.n, []);
    byN.get(c.n).push(c);
  }
  const used = new Map();
  let last = 0;
  for (const m of written.matchAll(MARKER)) {
    const n = Number(m[1]);
    const list = byN.get(n);
    if (!list) continue;
    const i = used.get(n) || 0;
    used.set(n, i + 1);
    const citation = list[Math.min(i, list.length - 1)];
    container.append(written.slice(last, m.index));
    container.append(citeButton(citation, passages, dialog, `[${n}]`));
    last = m.index + m[0].length;
  }
  container.append(written.slice(last));
}

function citeButton(citation, passages, dialog, label) {
  const flagged = !citation.supported;
  const where = citation.page ? `, page ${citation.page}` : "";
  const button = h("button", {
    type: "button",
    class: flagged ? "cite unsupported" : "cite",
    "aria-label": `Source ${citation.n}: ${citation.title}${where}${flagged ? " (not supported by the passage)" : ""}`,
    title: flagged ? "Not supported: the passage does not contain most of this sentence's words" : citation.title,
    dataset: { n: String(citation.n), supported: String(citation.supported) },
  }, label, flagged ? h("span", { "aria-hidden": "true" }, "!") : null);
  button.addEventListener("click", () => dialog.open(citation, passageOf(citation, passages), button));
  return button;
}

function passageOf(citation, passages) {
  const byIndex = passages[citation.n - 1];
  if (byIndex && byIndex.chunk_id === citation.chunk_id) return byIndex;
  return passages.find((p) => p.chunk_id === citation.chunk_id) || byIndex || null;
}

function renderSources(container, citations, passages, dialog) {
  container.replaceChildren();
  const seen = new Map();
  for (const c of citations) {
    const prev = seen.get(c.n);
    if (!prev || (prev.supported && !c.supported)) seen.set(c.n, c);
  }
  if (!seen.size) return;
  const items = [...seen.values()].sort((a, b) => a.n - b.n).map((c) => h("li", {},
    citeButton(c, passages, dialog, `[${c.n}]`), " ",
    h("span", { class: "source-title" }, c.title),
    c.page ? h("span", { class: "hint" }, ` · page ${c.page}`) : null,
    c.supported ? null : h("span", { class: "badge bad" }, "not supported"),
    chunkImage(c, passageOf(c, passages), "source-thumb")));
  add(container, [h("h2", { class: "sources-title" }, "Sources"), h("ul", {}, items)]);
}

// The source passage in a modal <dialog> (Escape closes it; focus returns to the [n]).
function passageDialog() {
  const title = h("h2", { id: "passage-title" });
  const meta = h("p", { class: "meta" });
  const flag = h("div");
  const body = h("blockquote", { class: "passage-text", tabindex: "0", "aria-label": "Passage text" });
  const figure = h("div", { class: "passage-figure" });
  const close = h("button", { type: "button", class: "secondary" }, "Close");
  const el = h("dialog", { class: "passage", "aria-labelledby": "passage-title" },
    h("div", { class: "dialog-head" }, title, close), meta, flag, figure, body);
  let opener = null;
  close.addEventListener("click", () => el.close());
  el.addEventListener("close", () => opener?.focus());
  el.addEventListener("click", (event) => { if (event.target === el) el.close(); });

  function open(citation, passage, from) {
    opener = from;
    title.textContent = `[${citation.n}] ${citation.title}`;
    const bits = [];
    if (citation.page) bits.push(`Page ${citation.page}`);
    if (passage?.heading_path?.length) bits.push(passage.heading_path.join(" › "));
    if (passage?.source && passage.source !== citation.title) bits.push(passage.source);
    meta.textContent = bits.join(" · ");
    flag.replaceChildren();
    flag.append(h("p", { class: "hint" }, "Cited for: ", h("q", {}, citation.sentence)));
    if (!citation.supported) {
      flag.append(h("p", { class: "alert" },
        `Not supported: only ${Math.round(citation.support * 100)}% of the sentence's words are in this passage.`));
    }
    body.replaceChildren();
    figure.replaceChildren();
    const image = chunkImage(citation, passage, "passage-image");
    if (image) figure.append(image);
    if (!passage) {
      body.append(h("mark", {}, citation.quote));
    } else {
      const [start, end] = quoteSpan(citation, passage);
      if (start < 0) {
        body.append(passage.text);
      } else {
        body.append(passage.text.slice(0, start), h("mark", {}, passage.text.slice(start, end)),
          passage.text.slice(end));
      }
    }
    el.showModal();
    body.querySelector("mark")?.scrollIntoView({ block: "center" });
    close.focus();
  }
  return { el, open };
}

// The image an image chunk was read from (a chart, a figure), fetched with the caller's
// credential; null for a text chunk. Its alternative text is the chunk's own text (the
// caption and the OCR text), so a screen reader gets what the picture holds.
function chunkImage(citation, passage, cls) {
  if (passage?.chunk_metadata?.kind !== "image") return null;
  const where = citation.page ? ` on page ${citation.page}` : "";
  const img = h("img", { class: cls, alt: `Image${where}: ${passage.text.slice(0, 300)}` });
  const path = `/api/v1/documents/${encodeURIComponent(citation.document_id)}` +
    `/chunks/${encodeURIComponent(citation.chunk_id)}/image`;
  apiObjectUrl(path).then((url) => {
    img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
    img.src = url;
  }).catch(() => img.remove());
  return img;
}

// Where the quote lies in the passage text: its document offsets shifted by the passage's
// own start; if that does not land on the quote (an older index), search for it.
export function quoteSpan(citation, passage) {
  const start = citation.quote_start - passage.char_start;
  const end = citation.quote_end - passage.char_start;
  if (start >= 0 && end <= passage.text.length && passage.text.slice(start, end) === citation.quote) {
    return [start, end];
  }
  const found = citation.quote ? passage.text.indexOf(citation.quote) : -1;
  return found < 0 ? [-1, -1] : [found, found + citation.quote.length];
}
