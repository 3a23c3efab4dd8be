// The user's session lobby (OpenTera's user_session_lobby): the session's name and invitees,
// a camera preview, and the button that starts the session through the session manager, then
// opens the session page (its users' URL, with the token in the fragment).
import { token, api, manage, say, $, el, cameras } from "./tera.js";

const tok = token();
const sessionUUID = new URLSearchParams(location.search).get("session_uuid") || "";
let preview = null;

function setState(s) {
  document.body.dataset.state = s;
}

async function showPreview(deviceId) {
  if (preview) for (const t of preview.getTracks()) t.stop();
  preview = null;
  try {
    preview = await navigator.mediaDevices.getUserMedia({
      video: deviceId ? { deviceId: { exact: deviceId } } : { facingMode: "user" },
      audio: false,
    });
  } catch (e) {
    say("Unable to access the camera (" + e.name + "). The session can still start.", "warn");
    $("preview").hidden = true;
    return;
  }
  $("selfVideo").srcObject = preview;
  const list = await cameras();
  const sel = $("videoSelect");
  const current = preview.getVideoTracks()[0].getSettings().deviceId;
  sel.replaceChildren(...list.map((d, i) => el("option", { value: d.deviceId, text: d.label || "Camera " + (i + 1), selected: d.deviceId === current })));
  sel.parentElement.hidden = list.length < 2;
}

function listOf(title, items) {
  if (!items || !items.length) return null;
  return el("section", { class: "invitees" }, el("h3", { text: title }), el("ul", { class: "list" }, ...items.map((n) => el("li", { text: n }))));
}

async function load() {
  if (!sessionUUID) {
    $("sessionName").textContent = "No session";
    say("An existing session needs to be specified (session_uuid).", "error");
    setState("error");
    return;
  }
  let s;
  try {
    const list = await api(tok, "GET", "/api/user/sessions?session_uuid=" + encodeURIComponent(sessionUUID));
    s = list && list[0];
  } catch (e) {
    say("Can't query session information: " + e.message, "error");
    setState("error");
    return;
  }
  if (!s) {
    $("sessionName").textContent = "Unknown session";
    setState("error");
    return;
  }
  $("sessionName").textContent = s.session_name;
  $("lists").replaceChildren(...[
    listOf("Users", (s.session_users || []).map((u) => u.user_name)),
    listOf("Participants", (s.session_participants || []).map((p) => p.participant_name)),
    listOf("Devices", (s.session_devices || []).map((d) => d.device_name)),
  ].filter(Boolean));
  $("start").disabled = false;
  setState("ready");
}

async function start() {
  $("start").disabled = true;
  $("starting").hidden = false;
  say("");
  let answer;
  try {
    answer = await manage(tok, { action: "start", session_uuid: sessionUUID });
  } catch (e) {
    $("starting").hidden = true;
    $("start").disabled = false;
    say("The session could not start: " + e.message, "error");
    return;
  }
  const url = answer.session && answer.session.session_url_users;
  if (!url) {
    say("The session started but gave no address to join it.", "error");
    return;
  }
  setState("started");
  if (preview) for (const t of preview.getTracks()) t.stop();
  location.assign(url + "#token=" + encodeURIComponent(tok));
}

$("start").addEventListener("click", start);
$("videoSelect").addEventListener("change", (e) => showPreview(e.target.value));
load();
showPreview();
