// The participant's page (OpenTera's participant dashboard, opentera_websockets.js): it logs
// the participant in with its token, opens its websocket, and when an invitation
// (JoinSessionEvent) arrives, opens the session page inside the page, so the websocket stays
// connected for the session's stop or the participant's removal.
import { token, api, say, $ } from "./tera.js";

const tok = token();
let me = { name: "", uuid: "" };
let ws = null;
let current = ""; // the session uuid being joined or in
let retries = 0;
let testStream = null;

const JOIN = "type.googleapis.com/opentera.protobuf.JoinSessionEvent";
const STOP = "type.googleapis.com/opentera.protobuf.StopSessionEvent";
const LEAVE = "type.googleapis.com/opentera.protobuf.LeaveSessionEvent";

function setState(s, label, online) {
  document.body.dataset.state = s;
  if (label) $("status").textContent = label;
  if (online !== undefined) $("online").dataset.online = String(online);
}

async function login() {
  setState("connecting", "Connecting…", false);
  let reply;
  try {
    reply = await api(tok, "GET", "/api/participant/login");
  } catch (e) {
    setState("error", "Not connected", false);
    say("Unable to connect (" + e.message + "). Your access might have been disabled or you might be already logged in on another device.", "error");
    console.error("login:", e);
    return;
  }
  me = { name: reply.participant_name || "", uuid: reply.participant_uuid || "" };
  $("displayname").textContent = me.name ? "Welcome, " + me.name : "Welcome";
  if (!reply.websocket_url) {
    // Online elsewhere (another tab, a socket not yet closed): as OpenTera, sign that one out
    // and try again.
    if (retries++ < 3) {
      await api(tok, "GET", "/api/participant/logout").catch(() => {});
      setTimeout(login, 1000);
      return;
    }
    setState("error", "Not connected", false);
    say("You seem to be connected on another device. Close it, then reload this page.", "error");
    return;
  }
  open(reply.websocket_url);
}

function open(url) {
  ws = new WebSocket(url);
  ws.onopen = () => {
    retries = 0;
    setState("waiting", "Connected", true);
    // An invitation sent before this page connected (OpenTera issue 143).
    api(tok, "GET", "/rehab/api/invitations")
      .then((list) => {
        if (list && list.length && !current) join(list[0].session_url, list[0].session_uuid);
      })
      .catch(() => {});
  };
  ws.onmessage = (evt) => {
    let msg;
    try {
      msg = JSON.parse(evt.data);
    } catch (e) {
      return;
    }
    for (const ev of (msg.message && msg.message.events) || []) onEvent(ev);
  };
  ws.onclose = (e) => {
    ws = null;
    setState(current ? "in-session" : "connecting", "Reconnecting…", false);
    if (e.code === 4000) {
      say("You were signed out.", "warn");
      return;
    }
    setTimeout(login, 2000);
  };
}

function onEvent(ev) {
  const type = ev["@type"];
  if (type === JOIN) {
    join(ev.sessionUrl, ev.sessionUuid);
  } else if (type === STOP && ev.sessionUuid === current) {
    done("Your session is now over. You may now sign out or close this page.");
  } else if (type === LEAVE && ev.sessionUuid === current && (ev.leavingParticipants || []).includes(me.uuid)) {
    done("You left the session.");
  }
}

function join(url, sessionUUID) {
  if (!url || current === sessionUUID) return;
  current = sessionUUID || url;
  stopTest();
  say("");
  $("waiting").hidden = true;
  $("logout").hidden = true;
  const frame = $("mainview");
  frame.hidden = false;
  frame.src = url + "#token=" + encodeURIComponent(tok);
  setState("in-session", "In session", true);
}

function done(text) {
  current = "";
  const frame = $("mainview");
  frame.src = "about:blank";
  frame.hidden = true;
  $("waiting").hidden = false;
  $("logout").hidden = false;
  $("waitTitle").textContent = "Session over";
  $("waitText").textContent = text + " Another session will start here when your clinician starts it.";
  setState(ws ? "waiting" : "connecting", ws ? "Connected" : "Reconnecting…", !!ws);
}

async function toggleTest() {
  if (testStream) {
    stopTest();
    return;
  }
  try {
    testStream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
  } catch (e) {
    say("Unable to access the camera (" + e.name + ").", "error");
    return;
  }
  const v = $("selfVideo");
  v.srcObject = testStream;
  v.hidden = false;
  $("testCamera").setAttribute("aria-pressed", "true");
  $("testCamera").textContent = "Stop the camera test";
}

function stopTest() {
  if (!testStream) return;
  for (const t of testStream.getTracks()) t.stop();
  testStream = null;
  $("selfVideo").hidden = true;
  $("testCamera").setAttribute("aria-pressed", "false");
  $("testCamera").textContent = "Test my camera";
}

window.addEventListener("message", (e) => {
  if (e.origin !== location.origin || !e.data || e.data.type !== "tera-session-ended") return;
  // The session page ended (left, removed, stopped): back to waiting once the frame showed why.
  if (current) done(e.data.text || "The session ended.");
});

$("testCamera").addEventListener("click", toggleTest);
$("logout").addEventListener("click", async () => {
  if (ws) {
    const w = ws;
    ws = null;
    w.onclose = null;
    w.close();
  }
  await api(tok, "GET", "/api/participant/logout").catch(() => {});
  setState("signed-out", "Signed out", false);
  $("waiting").hidden = false;
  $("waitTitle").textContent = "Signed out";
  $("waitText").textContent = "You can close this page.";
});

login();
