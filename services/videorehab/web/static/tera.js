// Shared helpers of the video session pages: the caller's token, API calls with it, and the
// messages shown to the person using the page.

// token reads the caller's token: the URL's fragment (#token=…, never sent to the server),
// else ?token= (the pages the server authenticates: lobby, participant), else what this tab
// kept. A token from the fragment is kept for the tab and taken out of the address bar, so a
// copied link does not carry it.
export function token() {
  const hash = new URLSearchParams(location.hash.slice(1));
  let t = hash.get("token");
  if (t) {
    sessionStorage.setItem("tera_token", t);
    hash.delete("token");
    const h = hash.toString();
    history.replaceState(null, "", location.pathname + location.search + (h ? "#" + h : ""));
    return t;
  }
  t = new URLSearchParams(location.search).get("token");
  if (t) return t;
  return sessionStorage.getItem("tera_token") || "";
}

// APIError is a refused API call, with its status and OpenTera's message.
export class APIError extends Error {
  constructor(status, message) {
    super(message || "HTTP " + status);
    this.status = status;
  }
}

// api calls the API with the token and answers the decoded JSON.
export async function api(tok, method, path, body) {
  const init = { method, headers: { Authorization: "OpenTera " + tok } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = text;
  }
  if (!resp.ok) {
    const msg = typeof data === "string" ? data : data && (data.message || data.error_text);
    throw new APIError(resp.status, msg);
  }
  return data;
}

// manage posts a session_manage request to the user API's session manager; an answer with
// status "error" is thrown.
export async function manage(tok, request) {
  const answer = await api(tok, "POST", "/api/user/sessions/manager", { session_manage: request });
  if (answer && answer.status === "error") {
    throw new APIError(400, answer.error_text);
  }
  return answer;
}

// wsURL turns a path of this site into its websocket URL.
export function wsURL(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

// say shows a message in the page's live region (read by screen readers), or clears it.
let sayTimer = 0;
export function say(text, kind = "info") {
  const el = document.getElementById("notice");
  if (!el) return;
  el.textContent = text || "";
  el.dataset.kind = kind;
  el.hidden = !text;
  // News (someone joined) goes away by itself; warnings and errors stay.
  clearTimeout(sayTimer);
  if (text && kind === "info") sayTimer = setTimeout(() => say(""), 8000);
}

// $ is getElementById.
export function $(id) {
  return document.getElementById(id);
}

// el builds an element with attributes and children.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// cameras lists the video inputs (labels once the page was given camera access), without the
// infrared ones that never show a picture (OpenTera filters them too).
export async function cameras() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === "videoinput" && !d.label.includes(" IR "));
}
