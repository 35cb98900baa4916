// The shop owner's page: sign in with the owner token (kept in
// sessionStorage only; checked with a real owner read), see paid orders
// (GET /orderDetails with the token, every 2 s) and start / complete their
// deliveries (POST /deliveries with the token).
"use strict";

(() => {
  const { h, text, status, won, boxName, learnBoxes, api, poll, say, ownerSignIn } = kukka;
  const section = document.getElementById("orders-section");
  const showFinished = document.getElementById("show-finished");
  const list = document.getElementById("owner-orders");
  const empty = document.getElementById("owner-empty");
  const message = document.getElementById("owner-message");

  const session = ownerSignIn((t) => {
    section.hidden = !t;
    if (!t) {
      list.replaceChildren();
      details.clear();
    } else refresh();
  });
  section.hidden = !session.token();

  // Box names for the rows (the catalog is public).
  api("GET", "/catalog").then((a) => {
    if (a.ok && a.body) learnBoxes(a.body.items);
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
    const token = session.token();
    if (!token) return;
    const seen = new Map();
    let cursor = null;
    for (let page = 0; page < 20; page += 1) {
      const q = cursor ? `?limit=500&cursor=${encodeURIComponent(cursor)}` : "?limit=500";
      const a = await api("GET", `/orderDetails${q}`, { token });
      if (session.refused(a)) return;
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
    const a = await api("POST", "/deliveries",
      { body: { orderId: id, status: step.status }, token: session.token() });
    button.disabled = false;
    if (session.refused(a)) return;
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

  poll(refresh, 2000);
})();
