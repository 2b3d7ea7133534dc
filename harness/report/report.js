// realtime-mock report: waveforms, audio, timeline filters and the theme. No network.
"use strict";
(function () {
  const root = document.documentElement;

  // ---- theme ----------------------------------------------------------------------------
  const themeButton = document.getElementById("theme");
  if (themeButton) {
    themeButton.addEventListener("click", () => {
      const dark = root.dataset.theme
        ? root.dataset.theme === "dark"
        : window.matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      document.querySelectorAll("figure.wave").forEach(draw);
    });
  }

  // ---- waveforms --------------------------------------------------------------------------
  function draw(figure) {
    const canvas = figure.querySelector("canvas");
    const data = figure.querySelector("script.envelope");
    if (!canvas || !data) return;
    const envelope = JSON.parse(data.textContent);
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, width, height);
    context.fillStyle = getComputedStyle(root).getPropertyValue("--wave").trim() || "#888";
    const pairs = envelope.length / 2;
    if (!pairs) return;
    const middle = height / 2;
    const scale = (height / 2 - 2) / 128;
    // One column per pixel: the extreme of the envelope points that fall in it.
    for (let x = 0; x < width; x++) {
      const from = Math.floor((x * pairs) / width);
      const to = Math.max(from + 1, Math.floor(((x + 1) * pairs) / width));
      let low = 0, high = 0;
      for (let i = from; i < to && i < pairs; i++) {
        low = Math.min(low, envelope[2 * i]);
        high = Math.max(high, envelope[2 * i + 1]);
      }
      const top = middle - high * scale;
      context.fillRect(x, top, 1, Math.max(1, (high - low) * scale));
    }
  }

  // ---- audio --------------------------------------------------------------------------------
  function bytesOf(base64) {
    const text = atob(base64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  function ulawToPcm16(bytes) {
    const out = new Int16Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) {
      const u = ~bytes[i] & 0xff;
      const exponent = (u >> 4) & 0x07;
      const magnitude = (((u & 0x0f) << 3) + 0x84) << exponent;
      out[i] = u & 0x80 ? 0x84 - magnitude : magnitude - 0x84;
    }
    return out;
  }

  function wav(samples, rate) {
    const header = new DataView(new ArrayBuffer(44));
    const text = (at, s) => { for (let i = 0; i < s.length; i++) header.setUint8(at + i, s.charCodeAt(i)); };
    const size = samples.length * 2;
    text(0, "RIFF"); header.setUint32(4, 36 + size, true); text(8, "WAVEfmt ");
    header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 1, true);
    header.setUint32(24, rate, true); header.setUint32(28, rate * 2, true);
    header.setUint16(32, 2, true); header.setUint16(34, 16, true);
    text(36, "data"); header.setUint32(40, size, true);
    return new Blob([header.buffer, samples.buffer], { type: "audio/wav" });
  }

  function attach(player) {
    if (player.src) return;
    const data = document.getElementById(player.dataset.source);
    if (!data) return;
    const raw = bytesOf(data.textContent.trim());
    const blob = player.dataset.mime === "audio/x-mulaw-8k"
      ? wav(ulawToPcm16(raw), 8000)
      : new Blob([raw], { type: "audio/wav" });
    player.src = URL.createObjectURL(blob);
  }

  document.querySelectorAll("audio[data-source]").forEach((player) => {
    if (player.dataset.lazy === "true") {
      // Long audio is turned into a playable file only when asked for.
      const load = () => { attach(player); };
      player.addEventListener("play", load, { once: true });
      const button = document.querySelector(`button[data-load="${player.id}"]`);
      if (button) button.addEventListener("click", () => { attach(player); button.disabled = true; });
    } else {
      attach(player);
    }
  });

  // ---- timeline filters --------------------------------------------------------------------
  document.querySelectorAll("section.connection").forEach((section) => {
    const list = section.querySelector("ol.timeline");
    const text = section.querySelector("input.filter-type");
    const directions = section.querySelectorAll("input.filter-dir");
    const count = section.querySelector(".shown");
    if (!list) return;
    const rows = Array.from(list.children);
    function apply() {
      const wanted = (text && text.value.trim().toLowerCase()) || "";
      const allowed = new Set(Array.from(directions).filter((b) => b.checked).map((b) => b.value));
      let shown = 0;
      rows.forEach((row) => {
        const visible = allowed.has(row.dataset.dir) && (!wanted || row.dataset.type.toLowerCase().includes(wanted));
        row.hidden = !visible;
        shown += visible ? 1 : 0;
      });
      if (count) count.textContent = `${shown} of ${rows.length} rows`;
    }
    if (text) text.addEventListener("input", apply);
    directions.forEach((box) => box.addEventListener("change", apply));
    apply();
  });

  // A finding's link opens and shows the event it names.
  document.querySelectorAll("a.finding-link").forEach((link) => {
    link.addEventListener("click", () => {
      const row = document.getElementById(link.getAttribute("href").slice(1));
      if (!row) return;
      row.hidden = false;
      const details = row.querySelector("details");
      if (details) details.open = true;
      row.classList.add("flash");
      setTimeout(() => row.classList.remove("flash"), 1500);
    });
  });

  function drawAll() { document.querySelectorAll("figure.wave").forEach(draw); }
  window.addEventListener("resize", drawAll);
  drawAll();
  root.dataset.ready = "true";
})();
