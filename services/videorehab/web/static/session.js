// The session page of users, participants and devices: joins the session's room on the SFU
// through the signalling websocket (/rehab/signal, protocol in services/videorehab/signal),
// publishes the camera and microphone, shows everyone else, and gives users the clinician's
// controls (invite, remove, stop).
//
// The server always offers. To publish, the page asks for receive slots (join's publish, then
// publish for a screen share) and attaches each track to the transceiver of the slot's mid
// (replaceTrack, direction sendonly) before answering: addTrack could pick an m-line the server
// sends on.
import { token, api, manage, wsURL, say, $, el, cameras } from "./tera.js";

const kinds = { "/rehab/users": "user", "/rehab/participants": "participant", "/rehab/devices": "device" };
const kind = kinds[location.pathname] || "participant";
const key = new URLSearchParams(location.search).get("key") || "";
const tok = token();
const embedded = window.parent !== window;
const clinician = kind === "user";

const st = {
  ws: null,
  pc: null,
  peerId: "",
  room: "",
  state: "loading",
  local: { stream: new MediaStream(), audio: null, video: null, screen: null, cameraIndex: 0 },
  pending: [], // {track, role} waiting for a receive slot
  sent: new Map(), // role -> {transceiver, mid, trackId}
  usedMids: new Set(),
  peers: new Map(), // peer_id -> peer
  chain: Promise.resolve(),
  held: [], // candidates before the first offer
  startedAt: 0,
  timer: 0,
  session: null, // the session as /api/user/sessions answers it (users)
};

function setState(s, label) {
  st.state = s;
  document.body.dataset.state = s;
  if (label) $("status").textContent = label;
}

function send(m) {
  if (st.ws && st.ws.readyState === WebSocket.OPEN) st.ws.send(JSON.stringify(m));
}

// --- local media -----------------------------------------------------------------------

async function startMedia() {
  const tries = [
    { audio: true, video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 } } },
    { audio: true },
    { video: true },
  ];
  let lastErr = null;
  for (const c of tries) {
    try {
      const s = await navigator.mediaDevices.getUserMedia(c);
      for (const t of s.getTracks()) {
        st.local.stream.addTrack(t);
        if (t.kind === "audio") st.local.audio = t;
        else st.local.video = t;
      }
      break;
    } catch (e) {
      lastErr = e;
    }
  }
  if (!st.local.audio && !st.local.video) {
    say("Your camera and microphone are not available" + (lastErr ? " (" + lastErr.name + ")" : "") +
      ". You can still see and hear the others.", "warn");
  } else if (!st.local.video) {
    say("Your camera is not available: the others will only hear you.", "warn");
  } else if (!st.local.audio) {
    say("Your microphone is not available: the others will only see you.", "warn");
  }
  $("localVideo").srcObject = st.local.stream;
  $("self").hidden = !st.local.video;
  $("mic").disabled = !st.local.audio;
  $("cam").disabled = !st.local.video;
  if (st.local.audio) st.pending.push({ track: st.local.audio, role: "mic" });
  if (st.local.video) st.pending.push({ track: st.local.video, role: "camera" });
  if (st.local.video) {
    try {
      $("switchCam").hidden = (await cameras()).length < 2;
    } catch (e) {
      $("switchCam").hidden = true;
    }
  }
  $("screen").hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
}

// setMuted enables or disables a local track and tells the room.
function setMuted(role, muted) {
  const t = role === "mic" ? st.local.audio : st.local.video;
  if (!t) return;
  t.enabled = !muted;
  const s = st.sent.get(role);
  if (s) {
    s.muted = muted;
    if (s.trackId) send({ type: "mute", track_id: s.trackId, muted });
  }
  const b = $(role === "mic" ? "mic" : "cam");
  b.setAttribute("aria-pressed", String(muted));
  b.textContent = role === "mic" ? (muted ? "Unmute" : "Mute") : (muted ? "Start camera" : "Stop camera");
  if (role === "mic") $("selfMuted").hidden = !muted;
  if (role === "camera") $("self").classList.toggle("off", muted);
}

async function switchCamera() {
  const list = await cameras();
  if (list.length < 2 || !st.local.video) return;
  const current = st.local.video.getSettings().deviceId;
  let i = list.findIndex((d) => d.deviceId === current);
  i = (i + 1) % list.length;
  const old = st.local.video;
  const enabled = old.enabled;
  // Some tablets open one camera at a time: the old one stops first (OpenTera does too).
  old.stop();
  let track;
  try {
    const s = await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: list[i].deviceId } } });
    track = s.getVideoTracks()[0];
  } catch (e) {
    say("That camera could not be opened (" + e.name + ").", "warn");
    const s = await navigator.mediaDevices.getUserMedia({ video: true });
    track = s.getVideoTracks()[0];
  }
  track.enabled = enabled;
  st.local.stream.removeTrack(old);
  st.local.stream.addTrack(track);
  st.local.video = track;
  $("localVideo").srcObject = st.local.stream;
  const s = st.sent.get("camera");
  if (s) await s.transceiver.sender.replaceTrack(track);
  for (const p of st.pending) if (p.role === "camera") p.track = track;
  say("Camera: " + (list[i].label || "camera " + (i + 1)));
}

async function toggleScreen() {
  if (st.local.screen) {
    stopScreen();
    return;
  }
  let s;
  try {
    s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (e) {
    if (e.name !== "NotAllowedError") say("The screen could not be shared (" + e.name + ").", "warn");
    return;
  }
  const track = s.getVideoTracks()[0];
  track.addEventListener("ended", stopScreen);
  st.local.screen = track;
  st.pending.push({ track, role: "screen" });
  send({ type: "publish", kinds: ["video"] });
  const b = $("screen");
  b.setAttribute("aria-pressed", "true");
  b.textContent = "Stop sharing";
}

function stopScreen() {
  const t = st.local.screen;
  if (!t) return;
  st.local.screen = null;
  t.stop();
  st.pending = st.pending.filter((p) => p.track !== t);
  const s = st.sent.get("screen");
  if (s) {
    if (s.trackId) send({ type: "unpublish", track_id: s.trackId });
    s.transceiver.sender.replaceTrack(null).catch(() => {});
    try {
      s.transceiver.direction = "inactive";
    } catch (e) {
      // closed already
    }
    st.sent.delete("screen");
  }
  const b = $("screen");
  b.setAttribute("aria-pressed", "false");
  b.textContent = "Share screen";
}

// --- signalling and media -------------------------------------------------------------

function connect(url) {
  setState("connecting", "Connecting…");
  const ws = new WebSocket(url || wsURL("/rehab/signal?key=" + encodeURIComponent(key) + "&token=" + encodeURIComponent(tok)));
  st.ws = ws;
  ws.onopen = () => {
    const publish = st.pending.map((p) => p.track.kind);
    send({ type: "join", publish });
  };
  ws.onmessage = (e) => {
    let m;
    try {
      m = JSON.parse(e.data);
    } catch (err) {
      return;
    }
    handle(m);
  };
  ws.onclose = (e) => {
    if (st.ws !== ws || st.state === "ended") return;
    if (st.state === "loading" || st.state === "connecting") {
      // Refused before joining: the key no longer admits this caller.
      end(e.code === 1006 ? "You could not join this session: it has ended, or you are not invited to it." :
        "The connection to the session closed.", false);
      return;
    }
    end("The connection to the session was lost.", true);
  };
}

function handle(m) {
  switch (m.type) {
    case "joined":
      st.peerId = m.peer_id;
      st.room = m.room;
      newPeerConnection(m.ice_servers || []);
      for (const p of m.peers || []) addPeer(p.peer, p.tracks);
      setState("joined", "In session");
      startTimer();
      if (clinician) loadSession();
      break;
    case "offer":
      queue(() => onOffer(m));
      break;
    case "candidate":
      if (m.candidate) queue(() => addCandidate(m.candidate));
      break;
    case "peer_joined":
      addPeer(m.peer, []);
      say((m.peer.name || "Someone") + " joined.");
      break;
    case "peer_left":
      removePeer(m.peer.peer_id);
      say((m.peer.name || "Someone") + " left.");
      break;
    case "track_published":
      trackInfo(m.track);
      break;
    case "track_unpublished":
      dropTrack(m.track);
      break;
    case "track_muted":
      trackInfo(m.track);
      break;
    case "active_speaker":
      for (const [id, p] of st.peers) p.el.classList.toggle("speaking", id === m.peer_id);
      break;
    case "redirect": {
      // The room lives on another pod: the same query there.
      const u = new URL(m.url, location.href);
      u.search = "?key=" + encodeURIComponent(key) + "&token=" + encodeURIComponent(tok);
      const old = st.ws;
      st.ws = null;
      old.close();
      connect(u.toString().replace(/^http/, "ws"));
      break;
    }
    case "error":
      console.warn("signalling:", m.message);
      break;
    case "closed":
      end(closedText(m.message), false);
      break;
  }
}

function closedText(reason) {
  switch (reason) {
    case "session stopped":
      return "The session was stopped.";
    case "removed from the session":
      return "You were removed from the session.";
    case "server shutting down":
      return "The server restarted: join again to continue.";
  }
  return reason ? "The session closed: " + reason + "." : "The session closed.";
}

// queue runs negotiation steps one after the other, in the order the server sent them.
function queue(f) {
  st.chain = st.chain.then(f).catch((e) => console.error("negotiation:", e));
}

function newPeerConnection(iceServers) {
  const pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
  st.pc = pc;
  pc.onicecandidate = (e) => {
    if (e.candidate) send({ type: "candidate", candidate: e.candidate.toJSON() });
  };
  pc.ontrack = onRemoteTrack;
  pc.onconnectionstatechange = () => {
    if (st.state === "ended") return;
    switch (pc.connectionState) {
      case "connected":
        setState("joined", "In session");
        break;
      case "disconnected":
        setState("joined", "Reconnecting…");
        break;
      case "failed":
        setState("joined", "Reconnecting…");
        send({ type: "renegotiation", ice_restart: true });
        break;
    }
  };
}

async function addCandidate(c) {
  if (!st.pc || !st.pc.remoteDescription) {
    st.held.push(c);
    return;
  }
  try {
    await st.pc.addIceCandidate(c);
  } catch (e) {
    console.warn("candidate:", e);
  }
}

async function onOffer(m) {
  const pc = st.pc;
  await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
  const held = st.held;
  st.held = [];
  for (const c of held) await addCandidate(c);
  for (const slot of m.slots || []) {
    if (st.usedMids.has(slot.mid)) continue; // filled already; the server has not seen its media yet
    const i = st.pending.findIndex((p) => p.track.kind === slot.kind);
    if (i < 0) continue;
    const tr = pc.getTransceivers().find((t) => t.mid === slot.mid);
    if (!tr) continue;
    const p = st.pending.splice(i, 1)[0];
    tr.direction = "sendonly";
    await tr.sender.replaceTrack(p.track);
    st.usedMids.add(slot.mid);
    st.sent.set(p.role, { transceiver: tr, mid: slot.mid, trackId: "", muted: !p.track.enabled });
  }
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  send({ type: "answer", sdp: pc.localDescription.sdp });
  // The server knows each published track by the msid track id of its m-line in the answer.
  for (const s of st.sent.values()) {
    if (!s.trackId) {
      s.trackId = msidTrack(pc.localDescription.sdp, s.mid);
      if (s.trackId && s.muted) setTimeout(() => send({ type: "mute", track_id: s.trackId, muted: true }), 1000);
    }
  }
}

// msidTrack is the track id of the msid of the m-section of mid in sdp.
function msidTrack(sdp, mid) {
  for (const section of sdp.split(/\r?\nm=/)) {
    const lines = section.split(/\r?\n/);
    if (!lines.includes("a=mid:" + mid)) continue;
    for (const l of lines) {
      if (l.startsWith("a=msid:")) return l.slice(7).split(" ")[1] || "";
    }
    for (const l of lines) {
      const ssrc = /^a=ssrc:\d+ msid:\S+ (\S+)/.exec(l);
      if (ssrc) return ssrc[1];
    }
  }
  return "";
}

// --- the others ------------------------------------------------------------------------

function peerName(p) {
  return p.info.name || { user: "User", participant: "Participant", device: "Device" }[p.info.kind] || "Guest";
}

function addPeer(info, tracks) {
  let p = st.peers.get(info.peer_id);
  if (!p) {
    p = {
      info,
      el: el("div", { class: "peer", "data-peer": info.peer_id, "data-kind": info.kind || "" }),
      tiles: new Map(),
      audio: el("audio", { autoplay: true }),
      audioStream: new MediaStream(),
      muted: { audio: false, video: false },
    };
    p.audio.srcObject = p.audioStream;
    p.el.append(p.audio);
    st.peers.set(info.peer_id, p);
    $("remotes").append(p.el);
  } else if (info.name !== undefined) {
    p.info = info;
  }
  for (const t of tracks || []) trackInfo(t);
  refreshPeer(p);
  refreshPeople();
}

function removePeer(id) {
  const p = st.peers.get(id);
  if (!p) return;
  p.el.remove();
  st.peers.delete(id);
  refreshPeople();
  refreshAlone();
}

function trackInfo(t) {
  const p = st.peers.get(t.peer_id);
  if (!p) return;
  p.muted[t.kind] = !!t.muted;
  refreshPeer(p);
  refreshPeople();
}

function onRemoteTrack(e) {
  const stream = e.streams[0];
  const id = stream ? stream.id : "";
  const p = st.peers.get(id) || (addPeer({ peer_id: id, name: "", kind: "", uuid: "" }, []), st.peers.get(id));
  const track = e.track;
  if (track.kind === "audio") {
    p.audioStream.addTrack(track);
    p.audio.srcObject = p.audioStream;
    p.audio.play().catch(() => {});
  } else {
    const video = el("video", { autoplay: true, playsinline: true });
    video.muted = true; // the peer's sound plays from its audio element
    video.srcObject = new MediaStream([track]);
    const caption = el("figcaption");
    const tile = el("figure", { class: "tile", "data-track": track.id }, video, caption);
    p.tiles.set(track.id, tile);
    p.el.append(tile);
    video.play().catch(() => {});
    refreshPeer(p);
  }
  const gone = () => dropTrack({ track_id: track.id, peer_id: id });
  track.addEventListener("ended", gone);
  if (stream) {
    stream.addEventListener("removetrack", (ev) => {
      if (ev.track === track) gone();
    });
  }
  refreshAlone();
}

function dropTrack(t) {
  const p = st.peers.get(t.peer_id);
  if (!p) return;
  const tile = p.tiles.get(t.track_id);
  if (tile) {
    tile.remove();
    p.tiles.delete(t.track_id);
  }
  for (const a of p.audioStream.getAudioTracks()) {
    if (a.id === t.track_id) p.audioStream.removeTrack(a);
  }
  refreshPeer(p);
  refreshAlone();
}

function refreshPeer(p) {
  let n = 0;
  for (const tile of p.tiles.values()) {
    const cap = tile.querySelector("figcaption");
    const muted = p.muted.audio ? " (muted)" : "";
    cap.textContent = n === 0 ? peerName(p) + muted : peerName(p) + " – shared screen";
    tile.classList.toggle("off", n === 0 && p.muted.video);
    n++;
  }
}

function refreshAlone() {
  let tiles = 0;
  for (const p of st.peers.values()) tiles += p.tiles.size;
  $("alone").hidden = tiles > 0 || st.peers.size > 0;
  $("remotes").dataset.count = String(tiles);
}

// --- people and the clinician's controls ---------------------------------------------------

async function loadSession() {
  try {
    const list = await api(tok, "GET", "/api/user/sessions?session_uuid=" + encodeURIComponent(st.room));
    st.session = list && list[0];
    if (st.session) $("title").textContent = st.session.session_name;
  } catch (e) {
    console.warn("session:", e);
  }
  refreshPeople();
}

function inRoom(kind, uuid) {
  for (const p of st.peers.values()) if (p.info.kind === kind && p.info.uuid === uuid) return true;
  return false;
}

function refreshPeople() {
  const ul = $("peopleList");
  ul.replaceChildren();
  ul.append(el("li", {}, el("span", { text: "You" })));
  for (const p of st.peers.values()) {
    const li = el("li", {}, el("span", { text: peerName(p) + (p.muted.audio ? " (muted)" : "") }));
    if (clinician && p.info.uuid && p.info.kind !== "user") li.append(removeButton(p.info.kind, p.info.uuid, peerName(p)));
    else if (clinician && p.info.kind === "user" && p.info.uuid && !isCreator(p.info.uuid)) li.append(removeButton("user", p.info.uuid, peerName(p)));
    ul.append(li);
  }
  const s = st.session;
  if (clinician && s) {
    const invited = [
      ...(s.session_participants || []).map((x) => ["participant", x.participant_uuid, x.participant_name]),
      ...(s.session_users || []).map((x) => ["user", x.user_uuid, x.user_name]),
      ...(s.session_devices || []).map((x) => ["device", x.device_uuid, x.device_name]),
    ];
    for (const [k, uuid, name] of invited) {
      if (!uuid || inRoom(k, uuid) || isCreator(uuid)) continue;
      ul.append(el("li", { class: "absent" }, el("span", { text: name + " (not here)" }), removeButton(k, uuid, name)));
    }
  }
}

function isCreator(uuid) {
  const s = st.session;
  return !!(s && s.session_creator_user_uuid === uuid);
}

function removeButton(k, uuid, name) {
  return el("button", {
    type: "button",
    class: "small",
    "aria-label": "Remove " + name + " from the session",
    text: "Remove",
    onclick: async (e) => {
      e.target.disabled = true;
      try {
        await manage(tok, {
          action: "remove",
          session_uuid: st.room,
          // The lists left out would be filled with every current invitee: name them all.
          session_users: k === "user" ? [uuid] : [],
          session_participants: k === "participant" ? [uuid] : [],
          session_devices: k === "device" ? [uuid] : [],
        });
        say(name + " was removed from the session.");
        await loadSession();
      } catch (err) {
        say("Could not remove " + name + ": " + err.message, "error");
        e.target.disabled = false;
      }
    },
  });
}

async function openInvite() {
  const ul = $("inviteList");
  ul.replaceChildren();
  $("inviteEmpty").hidden = true;
  $("inviteDialog").showModal();
  const sources = [
    ["participant", "/api/user/participants/online", "participant_uuid", "participant_name"],
    ["user", "/api/user/users/online", "user_uuid", "user_name"],
    ["device", "/api/user/devices/online", "device_uuid", "device_name"],
  ];
  // Everyone online but those here: inviting someone already invited rings them again (the
  // session's lists in core keep everyone ever invited, so they cannot tell).
  let n = 0;
  for (const [k, path, uuidKey, nameKey] of sources) {
    let list = [];
    try {
      list = (await api(tok, "GET", path)) || [];
    } catch (e) {
      continue;
    }
    for (const x of list) {
      const uuid = x[uuidKey];
      if (!uuid || inRoom(k, uuid) || isCreator(uuid)) continue;
      const busy = x[k + "_busy"];
      const name = x[nameKey] || uuid;
      const li = el("li", {}, el("span", { text: name + (busy ? " (in another session)" : "") }));
      li.append(el("button", {
        type: "button",
        class: "small primary",
        "aria-label": "Invite " + name,
        text: "Invite",
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            const req = { action: "invite", session_uuid: st.room };
            req["session_" + k + "s"] = [uuid];
            await manage(tok, req);
            e.target.textContent = "Invited";
            await loadSession();
          } catch (err) {
            say("Could not invite " + name + ": " + err.message, "error");
            e.target.disabled = false;
          }
        },
      }));
      ul.append(li);
      n++;
    }
  }
  $("inviteEmpty").hidden = n > 0;
}

async function stopSession() {
  $("stopDialog").close();
  $("stop").disabled = true;
  try {
    await manage(tok, { action: "stop", session_uuid: st.room });
    end("You stopped the session.", false);
  } catch (e) {
    say("The session could not be stopped: " + e.message, "error");
    $("stop").disabled = false;
  }
}

// --- the end -------------------------------------------------------------------------------

function startTimer() {
  if (st.timer) return;
  st.startedAt = Date.now();
  const tick = () => {
    const s = Math.floor((Date.now() - st.startedAt) / 1000);
    const h = Math.floor(s / 3600);
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    const ss = String(s % 60).padStart(2, "0");
    $("timer").textContent = (h ? h + ":" : "") + mm + ":" + ss;
  };
  tick();
  st.timer = setInterval(tick, 1000);
}

function leave() {
  send({ type: "leave" });
  end(clinician ? "You left the session; it goes on for the others." : "You left the session.", true);
}

function end(text, canRejoin) {
  if (st.state === "ended") return;
  setState("ended", "Session ended");
  clearInterval(st.timer);
  st.timer = 0;
  const ws = st.ws;
  st.ws = null;
  if (ws) ws.close();
  if (st.pc) st.pc.close();
  st.pc = null;
  for (const t of st.local.stream.getTracks()) t.stop();
  if (st.local.screen) st.local.screen.stop();
  for (const p of st.peers.values()) p.el.remove();
  st.peers.clear();
  $("endedText").textContent = text;
  $("rejoin").hidden = !canRejoin;
  if (clinician && st.room) {
    const a = $("backLobby");
    a.href = "/rehab/user_session_lobby?session_uuid=" + encodeURIComponent(st.room) + "&token=" + encodeURIComponent(tok);
    a.hidden = false;
  }
  $("ended").hidden = false;
  $("endedTitle").focus();
  if (embedded) window.parent.postMessage({ type: "tera-session-ended", text }, location.origin);
}

// --- start ---------------------------------------------------------------------------------

// teraSession is for tests and embedding clients: the page's state and what it receives.
window.teraSession = {
  get state() {
    return st.state;
  },
  get peerId() {
    return st.peerId;
  },
  get room() {
    return st.room;
  },
  // framesDecoded is the sum of the inbound video streams' decoded frames (getStats).
  async framesDecoded() {
    if (!st.pc) return 0;
    let n = 0;
    (await st.pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0;
    });
    return n;
  },
};

function wire() {
  $("mic").addEventListener("click", () => setMuted("mic", st.local.audio.enabled));
  $("cam").addEventListener("click", () => setMuted("camera", st.local.video.enabled));
  $("switchCam").addEventListener("click", () => switchCamera().catch((e) => say(e.message, "error")));
  $("screen").addEventListener("click", () => toggleScreen());
  $("leave").addEventListener("click", leave);
  $("peopleToggle").addEventListener("click", () => {
    const open = $("people").hidden;
    $("people").hidden = !open;
    $("peopleToggle").setAttribute("aria-expanded", String(open));
  });
  $("rejoin").addEventListener("click", () => location.reload());
  if (clinician) {
    for (const e of document.querySelectorAll(".clinician")) e.hidden = false;
    $("leave").textContent = "Leave";
    $("invite").addEventListener("click", () => openInvite());
    $("inviteClose").addEventListener("click", () => $("inviteDialog").close());
    $("stop").addEventListener("click", () => $("stopDialog").showModal());
    $("stopCancel").addEventListener("click", () => $("stopDialog").close());
    $("stopConfirm").addEventListener("click", stopSession);
  }
  window.addEventListener("pagehide", () => send({ type: "leave" }));
}

async function main() {
  wire();
  if (!key) {
    end("This session link is incomplete: it has no session key.", false);
    return;
  }
  if (!tok) {
    end("Sign in again: this page was opened without your sign-in token.", false);
    return;
  }
  await startMedia();
  connect();
}

main();
