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

  // Box names from the catalog (GET /catalog), once a page loaded it.
  const boxNames = new Map();

  // Remembers the catalog's names for boxName.
  function learnBoxes(items) {
    for (const it of items || []) {
      if (it && typeof it.flowerType === "string" && typeof it.name === "string") {
        boxNames.set(it.flowerType, it.name);
      }
    }
  }

  // A box's display name (a type the catalog does not name is shown as it is).
  function boxName(type) {
    if (type === null || type === undefined) return "?";
    return boxNames.get(type) || String(type);
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

  // ---- the shop owner's session (owner and status pages) -------------------
  //
  // The owner token is kept in sessionStorage only (this tab, until it is
  // closed or the owner signs out), or in memory where that is blocked.
  const OWNER_TOKEN = "kukka.ownerToken";
  let ownerTokenInMemory = null;

  function ownerToken() {
    try { return sessionStorage.getItem(OWNER_TOKEN); } catch (e) { return ownerTokenInMemory; }
  }

  function setOwnerToken(t) {
    ownerTokenInMemory = t || null;
    try {
      if (t) sessionStorage.setItem(OWNER_TOKEN, t);
      else sessionStorage.removeItem(OWNER_TOKEN);
    } catch (e) {
      // Kept in memory: it lives as long as the page.
    }
  }

  // What a 401 / 403 / 429 answer means for the owner, or null.
  function ownerRefused(answer) {
    if (answer.status === 401) return "The shop needs the owner token. Please sign in.";
    if (answer.status === 403) return "That is not the owner token. Check it and sign in again.";
    if (answer.status === 429) return `Too many wrong tokens; try again in ${answer.retryAfter || 60} seconds.`;
    return null;
  }

  // Wires the sign-in form (#token-form, #owner-token, #signed-in,
  // #forget-token, #token-message). A token is checked with a real owner
  // read (GET /orderDetails?limit=1), which changes nothing. `changed(token)`
  // runs after signing in or out. Returns {token(), refused(answer)}: the
  // latter signs out on a 401 / 403 / 429 and says why (true), else false.
  function ownerSignIn(changed) {
    const form = document.getElementById("token-form");
    const input = document.getElementById("owner-token");
    const signedIn = document.getElementById("signed-in");
    const message = document.getElementById("token-message");
    const show = () => {
      const t = ownerToken();
      form.hidden = !!t;
      signedIn.hidden = !t;
    };
    const refused = (answer) => {
      const why = ownerRefused(answer);
      if (!why) return false;
      setOwnerToken(null);
      show();
      say(message, why, answer.status === 403 ? "forbidden"
        : answer.status === 429 ? "limited" : "unauthorized");
      changed(null);
      return true;
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      say(message, "Checking the token…", "pending");
      const answer = await api("GET", "/orderDetails?limit=1", { token: t });
      if (answer.ok) {
        input.value = "";
        say(message, "", "");
        setOwnerToken(t);
        show();
        changed(t);
      } else if (ownerRefused(answer)) {
        say(message, ownerRefused(answer), answer.status === 403 ? "forbidden"
          : answer.status === 429 ? "limited" : "unauthorized");
        input.select();
      } else {
        say(message, `Could not check the token now: ${answer.message}`, "error");
      }
    });
    document.getElementById("forget-token").addEventListener("click", () => {
      setOwnerToken(null);
      show();
      say(message, "Signed out.", "signed-out");
      changed(null);
      input.focus();
    });
    show();
    return { token: ownerToken, refused };
  }

  return { h, text, status, won, boxName, learnBoxes, api, poll, randomKey, say, ownerSignIn };
})();
