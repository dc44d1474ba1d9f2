// What the live page (publish/index.html) and the fleet page (fleet/fleet.html) share: label colours and
// faces, the arousal/valence meters, the reconnecting WebSocket and a few DOM helpers. Served as /page.js
// by voxstream.publish.web; each page imports what it uses: import { ... } from "./page.js".

const COLORS = { angry: "#f25f5c", disgust: "#8bc34a", fear: "#a78bfa", happy: "#fcd34d", neutral: "#94a3b8",
  ps: "#22d3ee", sad: "#60a5fa", calm: "#5eead4", surprised: "#22d3ee", uncertain: "#64748b", silence: "#334155" };
// One small drawn face per label (no emoji font needed): brows, eyes and mouth as SVG paths.
const FACES = {
  angry:   { brows: "M27 30 L44 38 M73 30 L56 38", mouth: "M35 72 Q50 62 65 72" },
  disgust: { brows: "M28 32 L43 35 M57 30 L72 28", mouth: "M32 69 Q41 62 50 69 T68 67" },
  fear:    { brows: "M28 30 Q35 24 43 28 M57 28 Q65 24 72 30", eyes: 7, mouth: "M40 72 Q50 62 60 72 Q50 78 40 72 Z" },
  happy:   { mouth: "M30 60 Q50 82 70 60" },
  neutral: { mouth: "M35 68 L65 68" },
  ps:      { brows: "M28 28 Q36 20 44 26 M56 26 Q64 20 72 28", eyes: 6.5, mouth: "M50 62 m-9 9 a9 9 0 1 0 18 0 a9 9 0 1 0 -18 0" },
  sad:     { brows: "M28 36 L42 30 M58 30 L72 36", mouth: "M33 74 Q50 58 67 74" },
  uncertain: { brows: "M57 29 L71 26", mouth: "M35 71 L65 65" },
  silence: { closed: true, mouth: "M42 69 L58 69" },
};
const NAMES = { ps: "surprise" };
const own = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

export const $ = (id) => document.getElementById(id);
export const SPECIAL = new Set(["uncertain", "silence", ""]);
export const colorOf = (l) => own(COLORS, l) ? COLORS[l]
  : `hsl(${[...String(l)].reduce((a, c) => a + c.charCodeAt(0) * 37, 0) % 360} 70% 60%)`;
export const nameOf = (l) => own(NAMES, l) ? NAMES[l] : l;
export const pct = (x) => `${Math.round(Math.max(0, Math.min(1, Number(x) || 0)) * 100)}%`;

export function faceSvg(label) {
  const f = own(FACES, label) ? FACES[label] : FACES.neutral;
  const c = colorOf(label), ink = "#0b0f17";
  const eyes = f.closed ? `<path d="M31 47 Q37 51 43 47 M57 47 Q63 51 69 47" stroke="${ink}" stroke-width="4" fill="none" stroke-linecap="round"/>`
    : `<circle cx="37" cy="46" r="${f.eyes || 5}" fill="${ink}"/><circle cx="63" cy="46" r="${f.eyes || 5}" fill="${ink}"/>`;
  const filled = /Z|a9/.test(f.mouth);
  return `<svg viewBox="0 0 100 100" xmlns="http://www.w3.org/2000/svg"><circle cx="50" cy="50" r="46" fill="${c}"/>` +
    `<ellipse cx="38" cy="26" rx="16" ry="8" fill="#fff" opacity=".16"/>` + eyes +
    (f.brows ? `<path d="${f.brows}" stroke="${ink}" stroke-width="4.5" fill="none" stroke-linecap="round"/>` : "") +
    `<path d="${f.mouth}" stroke="${ink}" stroke-width="5" fill="${filled ? ink : "none"}" stroke-linecap="round" stroke-linejoin="round"/></svg>`;
}

export function setText(el, text) { if (el.textContent !== text) el.textContent = text; }
export function setData(el, key, value) { if (el.dataset[key] !== value) el.dataset[key] = value; }
export function setStatus(kind, text) { const s = $("status"); setData(s, "state", kind); setText(s, text); }

// Arousal and valence: every event carries arousal ("low"/"high"), valence ("negative"/"positive") and their
// scores (the share of high arousal, of positive valence); all null while nothing was heard ("silence").
const AXES = [["arousal", "low", "high"], ["valence", "negative", "positive"]];

export function affectMeters(compact = false) {
  const box = document.createElement("div");
  box.className = compact ? "affect compact" : "affect";
  for (const [axis, lo, hi] of AXES) {
    const row = document.createElement("div");
    row.className = "axis"; row.dataset.axis = axis; row.dataset.value = ""; row.dataset.score = "";
    row.innerHTML = `<span class="ax-name"></span><span class="ax-pole ax-lo"></span><span class="ax-track"><i></i></span>` +
      `<span class="ax-pole ax-hi"></span><span class="ax-value">–</span>`;
    row.querySelector(".ax-name").textContent = axis;
    row.querySelector(".ax-lo").textContent = lo;
    row.querySelector(".ax-hi").textContent = hi;
    box.appendChild(row);
  }
  return box;
}

export function showAffect(box, e) {
  for (const [axis, , hi] of AXES) {
    const row = box.querySelector(`.axis[data-axis="${axis}"]`);
    const value = e && typeof e[axis] === "string" ? e[axis] : "";
    const score = e && Number.isFinite(e[`${axis}_score`]) ? e[`${axis}_score`] : null;
    setData(row, "value", value);
    setData(row, "score", score === null ? "" : score.toFixed(4));
    row.querySelector(".ax-track i").style.left = score === null ? "50%" : pct(score);
    setText(row.querySelector(".ax-value"), value && score !== null ? `${value} ${pct(value === hi ? score : 1 - score)}` : "–");
  }
}

// A canvas sized to its box at the device's pixel ratio, cleared: { g, w, h }, or null while it has no size.
export function clearedCanvas(c) {
  const dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
  if (!w || !h) return null;
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
    c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
  }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  return { g, w, h };
}

function wsUrl() {
  const u = new URL("ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  u.search = location.search; u.hash = "";  // the page's ?token= goes with it
  return u.href;
}

// The page's WebSocket (/ws beside the page): JSON messages to onMessage, reconnecting with a jittered
// backoff (0.5 s doubling to 15 s) while the status pill counts down. Returns { open } to ask if it is up.
export function keepConnected(onMessage) {
  let ws = null, attempt = 0, retryTimer = null;
  function connect() {
    clearTimeout(retryTimer);
    setStatus("connecting", attempt ? "reconnecting…" : "connecting…");
    let sock;
    try { sock = new WebSocket(wsUrl()); } catch (err) { return scheduleRetry(); }
    ws = sock;
    sock.onopen = () => { attempt = 0; setStatus("live", "connected"); };
    sock.onmessage = (m) => { let msg; try { msg = JSON.parse(m.data); } catch (err) { return; } onMessage(msg); };
    sock.onclose = () => { if (ws === sock) scheduleRetry(); };
    sock.onerror = () => { try { sock.close(); } catch (err) { /* already closed */ } };
  }
  function scheduleRetry() {
    ws = null;
    const delay = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt = Math.min(attempt + 1, 10);
    let left = Math.ceil(delay / 1000);
    setStatus("offline", `offline · retry in ${left} s`);
    const iv = setInterval(() => { left -= 1; if (left > 0 && !ws) setStatus("offline", `offline · retry in ${left} s`); }, 1000);
    retryTimer = setTimeout(() => { clearInterval(iv); connect(); }, delay);
  }
  connect();
  return { get open() { return ws !== null && ws.readyState === WebSocket.OPEN; } };
}
