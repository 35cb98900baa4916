// kukka web pages: helpers shared by every page.
//
// Every value that came from the server or the user is put into the page as
// text (textContent / text nodes), never parsed as HTML, so a customer named
// "<script>alert(1)</script>" is shown exactly like that. The pages' CSP
// (set by the edge) forbids inline scripts as a second line of defence.
"use strict";

const kukka = (() => {
  // Properties set directly; every other key becomes an attribute.
  const PROPS = new Set(["id", "type", "hidden", "disabled", "title", "value"]);

  // Builds an element: h("li", {class: "order", "data-order-id": id}, "text", child).
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else if (PROPS.has(key)) el[key] = value;
      else el.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  // Sets an element's text (and nothing else).
  function text(el, value) {
    const s = value === null || value === undefined ? "" : String(value);
    if (el.textContent !== s) el.textContent = s;
  }

  // Shows a status name, "—" when not reached yet; data-status drives the colour.
  function status(el, value) {
    text(el, value || "—");
    el.dataset.status = value || "none";
  }

  const BOX_NAMES = {
    MixBox: "Mix box", RoseBox: "Rose box", TulipBox: "Tulip box", WildflowerBox: "Wildflower box",
  };

  // A box's display name (an unknown type is shown as it is).
  function boxName(type) {
    if (type === null || type === undefined) return "?";
    return Object.hasOwn(BOX_NAMES, type) ? BOX_NAMES[type] : String(type);
  }

  function won(n) {
    const x = Number(n);
    return Number.isFinite(x) ? `${x.toLocaleString("en-US")} won` : "—";
  }

  // Calls the JSON API. Never throws: answers {status, ok, body, retryAfter,
  // message}; status 0 means the edge could not be reached.
  async function api(method, path, { body, token, idempotencyKey } = {}) {
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (e) {
      return { status: 0, ok: false, body: null, retryAfter: null,
               message: "The shop cannot be reached right now." };
    }
    let parsed = null;
    try { parsed = await resp.json(); } catch (e) { parsed = null; }
    const retry = Number.parseInt(resp.headers.get("retry-after") || "", 10);
    const message = parsed && parsed.error && typeof parsed.error.message === "string"
      ? parsed.error.message : `The shop answered ${resp.status}.`;
    return { status: resp.status, ok: resp.ok, body: parsed,
             retryAfter: Number.isFinite(retry) ? retry : null, message };
  }

  // Runs `step` now and then `everyMs` after each run ends (runs never overlap).
  function poll(step, everyMs) {
    const run = async () => {
      try { await step(); } catch (e) { console.error(e); }
      setTimeout(run, everyMs);
    };
    run();
  }

  // A random key (crypto.randomUUID needs a secure context; this does not).
  function randomKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // Shows a message in a live region; state drives the colour and tests.
  function say(el, message, state) {
    text(el, message);
    el.dataset.state = state || "";
    el.hidden = !message;
  }

  return { h, text, status, won, boxName, api, poll, randomKey, say };
})();
