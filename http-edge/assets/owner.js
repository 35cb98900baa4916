// The shop owner's page: sign in with the owner token (kept in
// sessionStorage only), see paid orders (GET /orderDetails, every 2 s) and
// start / complete their deliveries (POST /deliveries with the token).
"use strict";

(() => {
  const { h, text, status, won, boxName, api, poll, say } = kukka;
  const TOKEN = "kukka.ownerToken";
  const tokenForm = document.getElementById("token-form");
  const tokenInput = document.getElementById("owner-token");
  const signedIn = document.getElementById("signed-in");
  const tokenMessage = document.getElementById("token-message");
  const section = document.getElementById("orders-section");
  const showFinished = document.getElementById("show-finished");
  const list = document.getElementById("owner-orders");
  const empty = document.getElementById("owner-empty");
  const message = document.getElementById("owner-message");

  function token() {
    try { return sessionStorage.getItem(TOKEN); } catch (e) { return null; }
  }

  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN, t);
      else sessionStorage.removeItem(TOKEN);
    } catch (e) {
      // Without sessionStorage the token lives only as long as the page.
    }
    current = t;
    showSignedIn();
  }

  let current = token();

  function showSignedIn() {
    tokenForm.hidden = !!current;
    signedIn.hidden = !current;
    section.hidden = !current;
    if (!current) list.replaceChildren();
  }

  // What a 401 / 403 answer means for the owner.
  function refused(answer) {
    if (answer.status === 401) return "The shop needs the owner token. Please sign in.";
    if (answer.status === 403) return "That owner token is wrong. Check it and sign in again.";
    return null;
  }

  // Checks a token without changing anything: POST /deliveries checks the
  // token before it reads the body, so an empty body answers 401 / 403 for a
  // bad token and 400 (validation) for a good one.
  tokenForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const t = tokenInput.value.trim();
    if (!t) return;
    say(tokenMessage, "Checking the token…", "pending");
    const answer = await api("POST", "/deliveries", { body: {}, token: t });
    const why = refused(answer);
    if (why) {
      say(tokenMessage, why, answer.status === 403 ? "forbidden" : "unauthorized");
      tokenInput.select();
    } else if (answer.status === 400) {
      tokenInput.value = "";
      say(tokenMessage, "", "");
      setToken(t);
      refresh();
    } else {
      say(tokenMessage, `Could not check the token now: ${answer.message}`, "error");
    }
  });

  document.getElementById("forget-token").addEventListener("click", () => {
    setToken(null);
    say(tokenMessage, "Signed out.", "signed-out");
    tokenInput.focus();
  });

  // The owner's next step for a delivery status, if any.
  const NEXT = {
    DeliveryRequested: { action: "start", status: "DeliveryStarted", label: "Start delivery" },
    DeliveryStarted: { action: "deliver", status: "Delivered", label: "Mark delivered" },
  };

  function isFinished(d) {
    return d.deliveryStatus === "Delivered" || d.deliveryStatus === "DeliveryCancelled";
  }

  const details = new Map(); // orderId -> latest OrderDetails entry
  // Steps taken here that the view may not show yet (it is updated from the
  // event stream a moment later): orderId -> status.
  const taken = new Map();
  const RANK = { DeliveryRequested: 1, DeliveryStarted: 2, Delivered: 3, DeliveryCancelled: 3 };
  const rank = (s) => RANK[s] || 0;

  function field(name) {
    return h("span", { "data-field": name });
  }

  function row(d) {
    const id = d.orderId;
    const buttons = Object.values(NEXT).map((step) => {
      const b = h("button", { type: "button", "data-action": step.action, hidden: true }, step.label);
      b.addEventListener("click", () => advance(id, step, b));
      return b;
    });
    return h("li", { class: "order", "data-order-id": id },
      h("div", { class: "order-head" }, field("box"), field("price")),
      h("div", { class: "order-who" }, field("customerName"), " · ", field("phoneNumber")),
      h("div", { class: "order-where" }, field("address")),
      h("dl", { class: "statuses" },
        h("div", {}, h("dt", {}, "Delivery"), h("dd", { "data-field": "deliveryStatus", class: "badge" }))),
      h("div", { class: "order-foot" }, h("span", { class: "order-id" }, `Order ${id}`), ...buttons));
  }

  function fill(li, d) {
    const get = (name) => li.querySelector(`[data-field="${name}"]`);
    text(get("box"), `${boxName(d.flowerType)} × ${d.qty ?? "?"}`);
    text(get("price"), won(d.price));
    text(get("customerName"), d.customerName);
    text(get("phoneNumber"), d.phoneNumber);
    text(get("address"), d.address);
    status(get("deliveryStatus"), d.deliveryStatus);
    const next = NEXT[d.deliveryStatus];
    for (const b of li.querySelectorAll("button[data-action]")) {
      b.hidden = !next || b.dataset.action !== next.action;
    }
  }

  function render() {
    const shown = Array.from(details.values())
      .filter((d) => showFinished.checked || !isFinished(d))
      .sort((a, b) => String(a.orderId).localeCompare(String(b.orderId), "en", { numeric: true }));
    empty.hidden = shown.length > 0;
    const wanted = new Set(shown.map((d) => d.orderId));
    for (const li of Array.from(list.children)) {
      if (!wanted.has(li.dataset.orderId)) li.remove();
    }
    let before = list.firstElementChild;
    for (const d of shown) {
      let li = Array.from(list.children).find((el) => el.dataset.orderId === d.orderId);
      if (!li) li = row(d);
      if (li !== before) list.insertBefore(li, before);
      before = li.nextElementSibling;
      fill(li, d);
    }
  }

  showFinished.addEventListener("change", render);

  // Every page of GET /orderDetails (bounded, in case of a huge shop).
  async function refresh() {
    if (!current) return;
    const seen = new Map();
    let cursor = null;
    for (let page = 0; page < 20; page += 1) {
      const q = cursor ? `?limit=500&cursor=${encodeURIComponent(cursor)}` : "?limit=500";
      const a = await api("GET", `/orderDetails${q}`);
      if (!a.ok || !a.body || !Array.isArray(a.body.items)) {
        say(message, `Could not load the orders: ${a.message} Retrying…`, "error");
        return;
      }
      for (const d of a.body.items) {
        if (d && typeof d.orderId === "string") seen.set(d.orderId, d);
      }
      cursor = typeof a.body.nextCursor === "string" ? a.body.nextCursor : null;
      if (!cursor) break;
    }
    if (message.dataset.state === "error") say(message, "", "");
    details.clear();
    for (const [id, d] of seen) {
      const mine = taken.get(id);
      if (mine && rank(d.deliveryStatus) < rank(mine)) details.set(id, { ...d, deliveryStatus: mine });
      else {
        taken.delete(id);
        details.set(id, d);
      }
    }
    render();
  }

  async function advance(id, step, button) {
    button.disabled = true;
    const a = await api("POST", "/deliveries", { body: { orderId: id, status: step.status }, token: current });
    button.disabled = false;
    const why = refused(a);
    if (why) {
      setToken(null);
      say(tokenMessage, why, a.status === 403 ? "forbidden" : "unauthorized");
      return;
    }
    if (a.ok) {
      const d = details.get(id);
      taken.set(id, step.status);
      if (d) details.set(id, { ...d, deliveryStatus: step.status });
      say(message, `Order ${id}: ${step.status}.`, "done");
      render();
    } else if (a.status === 503 && a.retryAfter !== null) {
      say(message, `The shop is busy, try again in ${a.retryAfter} seconds.`, "busy");
    } else {
      say(message, a.message, "error");
    }
  }

  showSignedIn();
  poll(refresh, 2000);
})();
