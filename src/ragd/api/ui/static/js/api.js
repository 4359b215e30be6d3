// The JSON API from the browser: the credential (API key or JWT) lives in sessionStorage
// (this tab only, gone when it closes) and goes out as `Authorization: Bearer` on every
// call. Errors are RFC 9457 problems; `ApiError` carries their detail and code.

const STORAGE_KEY = "ragd.credential";

export const credential = {
  get: () => sessionStorage.getItem(STORAGE_KEY),
  set: (value) => sessionStorage.setItem(STORAGE_KEY, value),
  clear: () => sessionStorage.removeItem(STORAGE_KEY),
};

export class ApiError extends Error {
  constructor(status, problem) {
    const detail = typeof problem === "object" && problem ? problem.detail : problem;
    super(detail || `request failed (${status})`);
    this.status = status;
    this.problem = typeof problem === "object" && problem ? problem : {};
    this.code = this.problem.code;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

function headers(extra = {}) {
  const h = new Headers(extra);
  const c = credential.get();
  if (c) h.set("Authorization", `Bearer ${c}`);
  return h;
}

async function fail(response) {
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json().catch(() => ({})) : await response.text();
  const error = new ApiError(response.status, body);
  error.retryAfter = Number(response.headers.get("retry-after")) || 0;
  if (response.status === 401) onUnauthorized(error);
  return error;
}

// api("/api/v1/documents"), api(path, { method: "POST", json: {...} }), or a FormData body.
export async function api(path, { method = "GET", json, body, signal } = {}) {
  const h = headers();
  if (json !== undefined) {
    h.set("Content-Type", "application/json");
    body = JSON.stringify(json);
  }
  const response = await fetch(path, { method, headers: h, body, signal });
  if (!response.ok) throw await fail(response);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

// GET an image (or any binary) with the credential, as an object URL for an <img>: an
// <img src> cannot send the Authorization header. Revoke it when the image is gone.
export async function apiObjectUrl(path, { signal } = {}) {
  const response = await fetch(path, { headers: headers(), signal });
  if (!response.ok) throw await fail(response);
  return URL.createObjectURL(await response.blob());
}

// POST a JSON body and yield its Server-Sent Events as { event, data } (data unparsed).
// EventSource cannot send a body or headers, hence this parser over fetch's stream.
export async function* streamEvents(path, json, { signal } = {}) {
  const h = headers({ "Content-Type": "application/json", Accept: "text/event-stream" });
  const response = await fetch(path, { method: "POST", headers: h, body: JSON.stringify(json), signal });
  if (!response.ok) throw await fail(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  // A line ends at \r\n, \n or \r; a \r at the very end may be half of a \r\n still coming.
  const eol = /\r\n|\n|\r(?!$)/;
  let buffer = "";
  let event = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let m;
    while ((m = eol.exec(buffer))) {
      const line = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      if (line === "") {
        if (data.length) yield { event, data: data.join("\n") };
        event = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // comment / keep-alive ping
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (name === "event") event = val;
      else if (name === "data") data.push(val);
    }
  }
  if (data.length) yield { event, data: data.join("\n") };
}
