// posesearch live page: replays a recorded pose sequence to /v1/live at its own frame rate, draws the user's
// skeleton and the aligned reference skeleton, shows the running score and the final (offline) report.
// No dependencies: plain browser APIs only (nothing outside this machine is reached).
"use strict";

const SAMPLE = { user: "static/sample_user.json", clip: "cmu:002_05:yaw0", start: 0, end: 5 };
// COCO-17 bones (the layout the corpus stores and the sample uses)
const BONES = [[5, 7], [7, 9], [6, 8], [8, 10], [5, 6], [5, 11], [6, 12], [11, 12], [11, 13], [13, 15],
               [12, 14], [14, 16], [0, 1], [0, 2], [1, 3], [2, 4]];
const COCO = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle"];

const $ = (id) => document.getElementById(id);
const state = { user: null, userName: "the bundled sample", ref: null, refKey: "", frame: 0, worst: [],
                position: 0, busy: false };

function setStatus(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
  if (error) document.body.dataset.state = "error";
}

async function getJSON(url, options) {
  const r = await fetch(url, options);
  const body = await r.json().catch(() => ({ detail: r.statusText }));
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}

// A pose-sequence document -> {frames: [[[x, y, c] x K] x T], times: [s]} (missing keypoints [0, 0, 0]).
function readSequence(doc, name) {
  if (!doc || !Array.isArray(doc.frames) || doc.frames.length < 2) {
    throw new Error(`${name}: expected a pose-sequence object with at least 2 'frames'`);
  }
  const frames = doc.frames.map((f) => f.map((k) => (Array.isArray(k) ? k.map(Number) : [0, 0, 0])));
  let times = doc.times;
  if (!Array.isArray(times)) {
    if (!(doc.fps > 0)) throw new Error(`${name}: no 'times' and no 'fps': cannot replay it at its frame rate`);
    times = frames.map((_, i) => i / doc.fps);
  }
  return { frames, times };
}

// ------------------------------------------------------------------------------------------- drawing
function bounds(frames) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const f of frames) for (const [x, y, c] of f) {
    if (c > 0) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
  }
  return isFinite(x0) ? { x0, y0, x1, y1 } : { x0: 0, y0: 0, x1: 1, y1: 1 };
}

function drawSkeleton(ctx, pose, box, area, color, highlight) {
  if (!pose) return;
  const s = Math.min((area.w - 20) / Math.max(box.x1 - box.x0, 1e-9), (area.h - 40) / Math.max(box.y1 - box.y0, 1e-9));
  const px = (k) => [area.x + 10 + (k[0] - box.x0) * s, area.y + 30 + (k[1] - box.y0) * s];
  ctx.lineWidth = 3;
  ctx.strokeStyle = color;
  for (const [a, b] of BONES) {
    if (a < pose.length && b < pose.length && pose[a][2] > 0 && pose[b][2] > 0) {
      ctx.beginPath(); ctx.moveTo(...px(pose[a])); ctx.lineTo(...px(pose[b])); ctx.stroke();
    }
  }
  pose.forEach((k, j) => {
    if (k[2] <= 0) return;
    const bad = highlight.includes(COCO[j]);
    ctx.fillStyle = bad ? "#d22" : color;
    ctx.beginPath(); ctx.arc(...px(k), bad ? 7 : 4, 0, 2 * Math.PI); ctx.fill();
  });
}

function draw() {
  const cv = $("canvas"), ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  const half = { w: cv.width / 2, h: cv.height };
  ctx.fillStyle = "#333"; ctx.font = "14px system-ui, sans-serif";
  ctx.fillText(`user (${state.userName}), frame ${state.frame + 1}`, 10, 18);
  ctx.fillText(`reference ${state.refKey ? state.refKey : ""} at ${(state.refTime || 0).toFixed(2)} s`, half.w + 10, 18);
  ctx.strokeStyle = "#ddd"; ctx.beginPath(); ctx.moveTo(half.w, 0); ctx.lineTo(half.w, cv.height); ctx.stroke();
  if (state.user) {
    drawSkeleton(ctx, state.user.frames[state.frame], state.userBox, { x: 0, y: 0, ...half }, "#2364aa", state.worst);
  }
  if (state.ref) {
    drawSkeleton(ctx, state.ref.frames[state.position], state.refBox, { x: half.w, y: 0, ...half }, "#3a8d4f",
                 state.worst);
  }
}

// --------------------------------------------------------------------------------------- the session
async function loadReference() {
  const clip = $("clip").value.trim();
  const key = `${clip}|${$("start").value}|${$("end").value}`;
  if (state.ref && state.refKeyFull === key) return;
  const doc = await getJSON(`v1/clips/${encodeURIComponent(clip)}`);
  const seq = readSequence(doc, clip);
  const lo = $("start").value === "" ? -Infinity : Number($("start").value);
  const hi = $("end").value === "" ? Infinity : Number($("end").value);
  const keep = seq.times.map((t, i) => [t, i]).filter(([t]) => t >= lo && t < hi).map(([, i]) => i);
  state.ref = { frames: keep.map((i) => seq.frames[i]), times: keep.map((i) => seq.times[i]) };
  state.refBox = bounds(state.ref.frames);
  state.refKey = clip;
  state.refKeyFull = key;
}

function liveURL() {
  const q = new URLSearchParams({ reference_clip: $("clip").value.trim(), reps: "true" });
  if ($("start").value !== "") q.set("start", $("start").value);
  if ($("end").value !== "") q.set("end", $("end").value);
  const base = new URL("v1/live", location.href);
  base.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  base.search = q.toString();
  return base.toString();
}

async function replay() {
  if (state.busy || !state.user) return;
  state.busy = true;
  $("replay").disabled = true;
  document.body.dataset.state = "replaying";
  $("score").textContent = "-"; $("reps").textContent = "-"; $("final-score").textContent = "-"; $("final-score").dataset.score = "";
  try {
    await loadReference();
  } catch (e) {
    state.busy = false; $("replay").disabled = false;
    setStatus(`reference: ${e.message}`, true);
    return;
  }
  const { frames, times } = state.user;
  const ws = new WebSocket(liveURL());
  let sent = 0, timer = null, finished = false;
  const sendNext = () => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (sent === frames.length) { ws.send(JSON.stringify({ type: "end" })); return; }
    ws.send(JSON.stringify({ t: times[sent], keypoints: frames[sent] }));
    state.frame = sent;
    $("pick").value = sent + 1;
    sent += 1;
    const wait = sent < frames.length ? (times[sent] - times[0]) * 1000 - (performance.now() - t0) : 0;
    timer = setTimeout(sendNext, Math.max(0, wait));
  };
  let t0 = 0;
  ws.onopen = () => { setStatus(`replaying ${frames.length} frames at their own rate...`); t0 = performance.now(); sendNext(); };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "update") {
      if (m.score !== null) $("score").textContent = m.score.toFixed(1);
      $("reps").textContent = String(m.reps);
      state.worst = m.worst_joints.map((w) => w.joint);
      state.position = Math.min(m.position, state.ref.frames.length - 1);
      state.refTime = m.ref_time;
      $("worst").innerHTML = m.worst_joints.map((w) => `<li>${w.joint} ${w.score.toFixed(0)}</li>`).join("");
      $("position").textContent = `reference ${(100 * m.progress).toFixed(0)}% through` +
        (m.nearest ? `; nearest corpus pose: ${m.nearest.clip} frame ${m.nearest.frame}` : "");
      draw();
    } else if (m.type === "report") {
      finished = true;
      $("final-score").textContent = m.score === null ? "n/a" : m.score.toFixed(1);
      $("final-score").dataset.score = String(m.score);
      if (m.reps) $("reps").textContent = String(m.reps.length);
      setStatus(`done: ${frames.length} frames scored against ${m.reference}` +
                (m.mirrored ? " (mirrored)" : "") + `; worst joints: ` +
                m.worst_joints.slice(0, 3).map((w) => w.joint).join(", "));
      document.body.dataset.state = "done";
    } else if (m.type === "error") {
      setStatus(m.detail, m.frame === undefined);
    }
  };
  ws.onclose = (ev) => {
    clearTimeout(timer);
    state.busy = false;
    $("replay").disabled = false;
    if (!finished && document.body.dataset.state !== "error") setStatus(`connection closed (${ev.code})`, true);
  };
}

async function nearest() {
  if (!state.user) return;
  const pose = state.user.frames[state.frame];
  try {
    const r = await getJSON("v1/query", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ keypoints: pose, k: 1, mirror: true }) });
    const m = r.matches[0];
    $("nearest").textContent = `nearest corpus pose of user frame ${state.frame + 1}: ${m.clip} frame ${m.frame} ` +
      `(${m.time.toFixed(2)} s), distance ${m.distance.toFixed(4)}${m.mirrored ? ", mirrored" : ""}`;
    const doc = await getJSON(`v1/clips/${encodeURIComponent(m.clip)}`);
    const seq = readSequence({ ...doc, frames: doc.frames.length > 1 ? doc.frames : doc.frames.concat(doc.frames),
                               fps: doc.fps || 1 }, m.clip);
    let best = 0;
    seq.times.forEach((t, i) => { if (Math.abs(t - m.time) < Math.abs(seq.times[best] - m.time)) best = i; });
    const cv = $("nearest-canvas"), ctx = cv.getContext("2d");
    cv.hidden = false;
    ctx.clearRect(0, 0, cv.width, cv.height);
    const pose2 = seq.frames[best];
    drawSkeleton(ctx, pose2, bounds([pose2]), { x: 0, y: 0, w: cv.width, h: cv.height }, "#8a4fb0", []);
  } catch (e) {
    setStatus(`nearest pose: ${e.message}`, true);
  }
}

function useUser(doc, name) {
  state.user = readSequence(doc, name);
  state.userBox = bounds(state.user.frames);
  state.userName = name;
  state.frame = 0;
  $("user-name").textContent = `${name}: ${state.user.frames.length} frames, ` +
    `${(state.user.times[state.user.times.length - 1] - state.user.times[0]).toFixed(1)} s`;
  $("replay").disabled = false;
  $("nearest-btn").disabled = false;
  $("pick").max = state.user.frames.length;
  $("pick").value = 1;
  draw();
}

function setupDrop() {
  const zone = $("drop");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (!file) return;
    try {
      useUser(JSON.parse(await file.text()), file.name);
      setStatus(`${file.name} loaded: press replay`);
    } catch (err) {
      setStatus(`${file.name}: ${err.message}`, true);
    }
  });
}

async function main() {
  setupDrop();
  $("replay").addEventListener("click", replay);
  $("nearest-btn").addEventListener("click", nearest);
  $("pick").addEventListener("input", () => {        // pick the pose whose nearest corpus pose to show
    if (state.busy || !state.user) return;
    state.frame = Number($("pick").value) - 1;
    draw();
  });
  try {
    const h = await getJSON("v1/health");
    $("health").textContent = `index ${h.index}: ${h.frames.toLocaleString()} frames, ${h.backend} (${h.metric})` +
      (h.corpus ? `, corpus of ${h.corpus.clips.toLocaleString()} clips` : ", no corpus") + `; posesearch ${h.version}`;
    if (h.corpus) {
      const list = await getJSON("v1/clips?limit=1000");
      $("clips").innerHTML = list.clips.map((c) => `<option value="${c.clip_id}">`).join("");
    }
    $("clip").value = SAMPLE.clip; $("start").value = SAMPLE.start; $("end").value = SAMPLE.end;
    useUser(await getJSON(SAMPLE.user), "the bundled sample");
    setStatus("ready: replay the bundled sample, or drop a sequence file");
    document.body.dataset.state = "ready";
  } catch (e) {
    setStatus(e.message, true);
  }
}

main();
