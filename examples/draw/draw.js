// Draw a digit: the pad, the requests to POST /api/predict, and the answer.
//
// The pad is a 280x280 canvas, dark ink on white like a pencil on paper; the server makes
// the drawing an MNIST-style 28x28 (scratchnet.imaging) and asks the network. While the user
// draws, the drawing is sent at most once per SETTLE_MS and never with a request still
// unanswered, so a slow server is never flooded; lifting the pen asks at once. #result has
// aria-busy="true" while an answer is pending (screen readers wait for it, and so do tests).
"use strict";

(function () {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d", { willReadFrequently: true });
  const result = document.getElementById("result");
  const digitOut = document.getElementById("digit");
  const verdict = document.getElementById("verdict");
  const seen = document.getElementById("seen");
  const fileInput = document.getElementById("file");

  // MNIST's strokes are about a seventh of a digit's height; a digit drawn over most of
  // the pad is about 200 px tall.
  const STROKE = pad.width / 14;
  const SETTLE_MS = 150;
  const IDLE = "Nothing drawn yet.";

  let inked = false;        // something drawn since the pad was last cleared
  let photo = false;        // the pad shows a photo, not a drawing
  let generation = 0;       // bumped on every fresh start: answers to older requests are dropped
  let dirty = false;        // the drawing changed since it was last sent
  let timer = null;         // a request about to be sent
  let inFlight = 0;         // requests sent and not answered yet
  let pointer = null;       // the pointer drawing now
  let points = [];          // its stroke so far
  let before = null;        // the pad as it was before this stroke

  // ---- the ten bars
  const rows = [];
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    const track = document.createElement("span");
    const fill = document.createElement("span");
    const pct = document.createElement("span");
    label.textContent = String(d);
    track.className = "track";
    track.setAttribute("aria-hidden", "true");
    fill.className = "fill";
    pct.className = "pct";
    track.appendChild(fill);
    li.append(label, track, pct);
    document.getElementById("bars").appendChild(li);
    rows.push({ li, fill, pct });
  }

  function percent(p) {
    return p > 0 && p < 0.005 ? "<1%" : `${Math.round(100 * p)}%`;
  }

  function setBars(probabilities) {
    const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    rows.forEach((row, d) => {
      const p = probabilities ? probabilities[d] : 0;
      row.fill.style.width = `${(100 * p).toFixed(1)}%`;
      row.pct.textContent = probabilities ? percent(p) : "–";
      row.li.classList.toggle("top", d === top);
    });
  }

  // ---- the answer
  function show(state, digit, text, probabilities, preview) {
    result.classList.remove("sure", "unsure", "error");
    if (state) result.classList.add(state);
    digitOut.textContent = digit;
    verdict.textContent = text;
    setBars(probabilities);
    if (preview) {
      seen.src = preview;
      seen.alt = "the 28 by 28 image the network read";
      seen.hidden = false;
    } else {
      seen.hidden = true;
      seen.removeAttribute("src");
    }
  }

  function showAnswer(data) {
    const p = data.probabilities;
    if (data.confident) {
      show("sure", String(data.digit), `It is a ${data.digit} (${percent(p[data.digit])}).`,
           p, data.preview);
      return;
    }
    const [first, second] = p.map((_, d) => d).sort((a, b) => p[b] - p[a]);
    show("unsure", "?", `Not sure. Perhaps a ${first} (${percent(p[first])}) ` +
         `or a ${second} (${percent(p[second])}).`, p, data.preview);
  }

  function showError(status, message) {
    const why = String(message || `the server answered ${status}`).replace(/^image: /, "");
    const lead = status === 422 ? "That does not look like a digit" : "Could not read it";
    show("error", "?", `${lead}: ${why}.`.replace(/\.\.$/, "."), null, null);
  }

  function busy() {
    result.setAttribute("aria-busy", String(timer !== null || inFlight > 0));
  }

  // ---- talking to the server
  async function send(body, gen) {
    try {
      const response = await fetch("api/predict", {
        method: "POST", body,
        headers: { "Content-Type": (body && body.type) || "application/octet-stream" },
      });
      let data = null;
      try {
        data = await response.json();
      } catch (_) {
        data = null;
      }
      if (gen !== generation) return;
      if (response.ok && data && Array.isArray(data.probabilities)) showAnswer(data);
      else showError(response.status, data && data.error);
    } catch (_) {
      if (gen === generation) showError(0, "the server did not answer; is draw.py running?");
    } finally {
      inFlight -= 1;
      if (dirty) schedule(0);
      busy();
    }
  }

  function ask() {
    timer = null;
    if (!dirty || !inked) return busy();
    dirty = false;
    const gen = generation;
    inFlight += 1;
    busy();
    pad.toBlob((blob) => send(blob, gen), "image/png");
  }

  // Send soon (ms > 0: keep a timer already set, so drawing on and on still updates) or now.
  function schedule(ms) {
    if (inFlight > 0 || (timer !== null && ms > 0)) return busy();
    clearTimeout(timer);
    timer = setTimeout(ask, ms);
    busy();
  }

  // ---- the pad
  function startOver() {
    generation += 1;
    clearTimeout(timer);
    timer = null;
    inked = photo = dirty = false;
    pointer = before = null;                 // a stroke under way ends here too
    points = [];
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    show(null, "", IDLE, null, null);
    busy();
  }

  function pen() {
    ctx.strokeStyle = ctx.fillStyle = "#111";
    ctx.lineWidth = STROKE;
    ctx.lineCap = ctx.lineJoin = "round";
  }

  function at(e) {
    const r = pad.getBoundingClientRect();
    return { x: (e.clientX - r.left) * pad.width / r.width,
             y: (e.clientY - r.top) * pad.height / r.height };
  }

  // The stroke is drawn again, whole, as one path at every move: pieces drawn one by one
  // would overlap at their round ends and bead the stroke's edge. A quadratic curve runs from
  // midpoint to midpoint with each sampled point as its control point: no corners.
  function render() {
    ctx.putImageData(before, 0, 0);
    pen();
    ctx.beginPath();
    if (points.length === 1) {
      ctx.arc(points[0].x, points[0].y, STROKE / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.moveTo(points[0].x, points[0].y);
    for (let i = 1; i < points.length - 1; i++) {
      const p = points[i], q = points[i + 1];
      ctx.quadraticCurveTo(p.x, p.y, (p.x + q.x) / 2, (p.y + q.y) / 2);
    }
    const end = points[points.length - 1];
    ctx.lineTo(end.x, end.y);
    ctx.stroke();
  }

  pad.addEventListener("pointerdown", (e) => {
    if (pointer !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    if (photo) startOver();
    pointer = e.pointerId;
    try {
      pad.setPointerCapture(e.pointerId);     // keep the stroke when it leaves the pad
    } catch (_) { /* an already released pointer: the stroke just ends at the edge */ }
    before = ctx.getImageData(0, 0, pad.width, pad.height);
    points = [at(e)];
    render();
    inked = dirty = true;
    schedule(SETTLE_MS);
  });

  pad.addEventListener("pointermove", (e) => {
    if (e.pointerId !== pointer) return;
    const all = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const sample of all.length ? all : [e]) points.push(at(sample));
    render();
    dirty = true;
    schedule(SETTLE_MS);
  });

  function endStroke(e) {
    if (e.pointerId !== pointer) return;
    if (e.type === "pointerup") points.push(at(e));   // a cancelled one has no position
    render();
    pointer = null;
    points = [];
    before = null;
    dirty = true;
    schedule(0);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  // ---- photos: chosen or dropped, sent as they are (the front end's pipeline)
  async function usePhoto(file) {
    if (!file) return;
    startOver();
    photo = true;
    const gen = generation;
    inFlight += 1;
    busy();
    send(file, gen);
    try {                                    // show it on the pad, fitted, while it is read
      const bitmap = await createImageBitmap(file);
      if (gen === generation) {
        const s = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
        const w = bitmap.width * s, h = bitmap.height * s;
        ctx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
      }
      bitmap.close();
    } catch (_) { /* a format the browser cannot show (TIFF, say): the server still reads it */ }
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    fileInput.value = "";                    // choosing the same file again is a new choice
    usePhoto(file);
  });

  const carriesFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files");
  document.addEventListener("dragover", (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", (e) => {
    if (e.relatedTarget === null) document.body.classList.remove("dragging");
  });
  document.addEventListener("drop", (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    document.body.classList.remove("dragging");
    usePhoto(e.dataTransfer.files[0]);
  });

  document.getElementById("clear").addEventListener("click", startOver);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") startOver();
  });

  startOver();
})();
