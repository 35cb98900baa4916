// The customer's page: choose a box from the shop's catalog (GET /catalog),
// order it (POST /orders) and watch "my page" (GET /myPages with this
// browser's customer token, every second), with a cancel button while
// cancelling is allowed.
//
// The first order makes this browser a customer: the answer's
// customerToken is kept in localStorage and sent with every later request,
// so every order placed from here is on My page, also after a reload.
"use strict";

(() => {
  const { h, text, status, won, boxName, learnBoxes, api, poll, randomKey, say } = kukka;
  const TOKEN = "kukka.customerToken"; // localStorage
  const form = document.getElementById("order-form");
  const boxes = document.getElementById("boxes");
  const boxesMessage = document.getElementById("boxes-message");
  const qty = document.getElementById("qty");
  const total = document.getElementById("total");
  const placeButton = document.getElementById("place-order");
  const result = document.getElementById("order-result");
  const list = document.getElementById("my-orders");
  const empty = document.getElementById("my-empty");
  const myMessage = document.getElementById("my-message");

  // ---- the customer token --------------------------------------------------

  let tokenInMemory = null;

  function token() {
    try { return localStorage.getItem(TOKEN) || tokenInMemory; } catch (e) { return tokenInMemory; }
  }

  function keepToken(t) {
    tokenInMemory = t || null;
    try {
      if (t) localStorage.setItem(TOKEN, t);
      else localStorage.removeItem(TOKEN);
    } catch (e) {
      say(myMessage, "This browser cannot keep your orders (storage is full or blocked).", "error");
    }
  }

  // ---- the boxes, from the catalog -----------------------------------------

  let catalogLoaded = false;

  function drawBoxes(items) {
    const chosen = chosenBox() ? chosenBox().value : null;
    const labels = items.map((it, i) => h("label", { class: "box" },
      h("input", {
        type: "radio", name: "flowerType", value: it.flowerType, "data-price": it.price,
        checked: chosen ? chosen === it.flowerType : i === 0,
      }),
      h("span", { class: "box-name" }, it.name),
      h("span", { class: "box-desc" }, it.description || ""),
      h("span", { class: "box-price" }, won(it.price))));
    for (const old of Array.from(boxes.querySelectorAll("label.box"))) old.remove();
    boxes.append(...labels);
    if (!chosenBox() && labels.length) labels[0].querySelector("input").checked = true;
  }

  async function loadCatalog() {
    const a = await api("GET", "/catalog");
    if (a.ok && a.body && Array.isArray(a.body.items) && a.body.items.length > 0) {
      learnBoxes(a.body.items);
      drawBoxes(a.body.items);
      say(boxesMessage, "", "");
      boxes.removeAttribute("aria-busy");
      catalogLoaded = true;
      placeButton.disabled = false;
      showTotal();
      render();
      return true;
    }
    say(boxesMessage, `Could not load the boxes: ${a.message} Retrying…`, "error");
    return false;
  }

  (async () => {
    while (!(await loadCatalog())) await new Promise((r) => setTimeout(r, 2000));
  })();

  // ---- the order form ------------------------------------------------------

  function chosenBox() {
    return form.querySelector('input[name="flowerType"]:checked');
  }

  function quantity() {
    const n = Number(qty.value);
    return Number.isInteger(n) && n >= 1 && n <= 100 ? n : null;
  }

  function totalPrice() {
    const box = chosenBox();
    const n = quantity();
    return box && n ? Number(box.dataset.price) * n : null;
  }

  function showTotal() {
    const t = totalPrice();
    text(total, t === null ? "—" : won(t));
  }

  form.addEventListener("input", showTotal);
  form.addEventListener("change", showTotal);

  // One key per order attempt: a retry after a network failure reuses it, so
  // the shop never charges twice for one click.
  let idempotencyKey = null;

  let busyTimer = null;
  // A 503: the order was not placed. The button waits out Retry-After.
  function busyFor(seconds, what) {
    let left = Math.max(1, seconds);
    placeButton.disabled = true;
    const tick = () => {
      say(result, `${what} is busy, try again in ${left} seconds.`, "busy");
      result.dataset.retryAfter = String(left);
      if (left <= 0) {
        placeButton.disabled = false;
        say(result, `${what} is busy. You can try again now.`, "busy");
        return;
      }
      left -= 1;
      busyTimer = setTimeout(tick, 1000);
    };
    clearTimeout(busyTimer);
    tick();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!catalogLoaded || !form.reportValidity()) return;
    const box = chosenBox();
    const n = quantity();
    if (!box || !n) return;
    const order = {
      customerName: form.elements.customerName.value,
      phoneNumber: form.elements.phoneNumber.value,
      address: form.elements.address.value,
      flowerType: box.value,
      qty: n,
      // The total shown: the shop refuses the order if its price changed.
      price: totalPrice(),
    };
    idempotencyKey = idempotencyKey || randomKey();
    placeButton.disabled = true;
    say(result, "Paying…", "pending");
    let answer = await api("POST", "/orders", { body: order, idempotencyKey, token: token() });
    if (answer.status === 401 && token()) {
      // The shop no longer knows this browser's token: order as a new customer.
      keepToken(null);
      answer = await api("POST", "/orders", { body: order, idempotencyKey: randomKey() });
    }
    placeButton.disabled = false;
    if (answer.status !== 0) idempotencyKey = null;
    delete result.dataset.orderId;
    delete result.dataset.retryAfter;
    if (answer.status === 201 && answer.body && typeof answer.body.id === "string") {
      const placed = answer.body;
      if (typeof placed.customerToken === "string") keepToken(placed.customerToken);
      result.dataset.orderId = placed.id;
      say(result, `Paid: order ${placed.id}, ${won(placed.price)}. Follow it on My page below.`, "paid");
      pending.set(placed.id, placed);
      render();
      refresh();
    } else if (answer.status === 409 && answer.body && answer.body.error
               && answer.body.error.code === "price_mismatch") {
      await loadCatalog();
      say(result, `The price changed: this order now costs ${won(answer.body.error.price)}. `
        + "Check the total and order again.", "error");
    } else if (answer.status === 503 && answer.retryAfter !== null) {
      const code = answer.body && answer.body.error && answer.body.error.code;
      busyFor(answer.retryAfter, code === "payment_unavailable" ? "Payment" : "The shop");
    } else if (answer.status === 0) {
      say(result, `${answer.message} Your order was not sent; please try again.`, "error");
    } else {
      say(result, answer.message, "error");
    }
  });

  // ---- my page -------------------------------------------------------------

  // The entries of GET /myPages, newest first.
  let entries = [];
  // Orders placed from this page that My page does not show yet (it is
  // updated from the event stream a moment later): id -> the placed order.
  const pending = new Map();
  // Orders cancelled from this page: the view catches up a moment later, and
  // until then it must not look cancellable again.
  const cancelledHere = new Set();

  function cancellable(v) {
    return !!v && v.orderStatus === "Ordered"
      && v.deliveryStatus !== "Delivered" && v.deliveryStatus !== "DeliveryCancelled";
  }

  function field(name) {
    return h("span", { "data-field": name });
  }

  function statusRow(label, name) {
    return h("div", {}, h("dt", {}, label), h("dd", { "data-field": name, class: "badge" }));
  }

  function row(id) {
    const cancel = h("button", { type: "button", class: "secondary", "data-action": "cancel", hidden: true },
      "Cancel order");
    cancel.addEventListener("click", () => cancelOrder(id, cancel));
    return h("li", { class: "order", "data-order-id": id },
      h("div", { class: "order-head" }, field("box"), field("price")),
      h("div", { class: "order-who" }, field("customerName"), " · ", field("address")),
      h("dl", { class: "statuses" },
        statusRow("Order", "orderStatus"), statusRow("Payment", "paymentStatus"),
        statusRow("Delivery", "deliveryStatus")),
      h("div", { class: "order-foot" }, h("span", { class: "order-id" }, `Order ${id}`),
        field("note"), cancel));
  }

  // Fills a row from its My page entry (`view`), or from the order as it
  // was placed while My page does not show it yet.
  function fill(li, id, view) {
    const placed = pending.get(id) || {};
    const v = { ...(view || {}) };
    if (cancelledHere.has(id) && v.orderStatus === "Ordered") v.orderStatus = "OrderCancelled";
    const get = (name) => li.querySelector(`[data-field="${name}"]`);
    text(get("box"), `${boxName(v.flowerType ?? placed.flowerType)} × ${v.qty ?? placed.qty ?? "?"}`);
    text(get("price"), won(v.price ?? placed.price));
    text(get("customerName"), v.customerName ?? placed.customerName ?? "");
    text(get("address"), v.address ?? placed.address ?? "");
    status(get("orderStatus"), v.orderStatus);
    status(get("paymentStatus"), v.paymentStatus);
    status(get("deliveryStatus"), v.deliveryStatus);
    text(get("note"), view ? "" : "Waiting for the shop to record it…");
    li.querySelector('[data-action="cancel"]').hidden = !view || !cancellable(v);
  }

  // One row per order, newest first, updating rows in place (so focus and
  // keyboard position survive the updates).
  function render() {
    const shown = new Set(entries.map((v) => v.orderId));
    const rows = [
      ...Array.from(pending.keys()).filter((id) => !shown.has(id)).reverse()
        .map((id) => [id, null]),
      ...entries.map((v) => [v.orderId, v]),
    ];
    empty.hidden = rows.length > 0;
    const wanted = new Set(rows.map(([id]) => id));
    for (const li of Array.from(list.children)) {
      if (!wanted.has(li.dataset.orderId)) li.remove();
    }
    let before = list.firstElementChild;
    for (const [id, view] of rows) {
      let li = Array.from(list.children).find((el) => el.dataset.orderId === id);
      if (!li) li = row(id);
      if (li !== before) list.insertBefore(li, before);
      before = li.nextElementSibling;
      fill(li, id, view);
    }
  }

  // Every page of GET /myPages (bounded).
  async function refresh() {
    const t = token();
    if (!t) {
      entries = [];
      render();
      return;
    }
    const seen = [];
    let cursor = null;
    for (let page = 0; page < 10; page += 1) {
      const q = cursor ? `?limit=500&cursor=${encodeURIComponent(cursor)}` : "?limit=500";
      const a = await api("GET", `/myPages${q}`, { token: t });
      if (a.status === 401) {
        keepToken(null);
        say(myMessage, "The shop no longer knows this browser; your next order starts a new My page.", "error");
        return;
      }
      if (!a.ok || !a.body || !Array.isArray(a.body.items)) {
        say(myMessage, "Could not refresh just now; retrying…", "error");
        return;
      }
      seen.push(...a.body.items.filter((v) => v && typeof v.orderId === "string"));
      cursor = typeof a.body.nextCursor === "string" ? a.body.nextCursor : null;
      if (!cursor) break;
    }
    if (myMessage.dataset.state === "error") say(myMessage, "", "");
    entries = seen.reverse();
    for (const v of entries) pending.delete(v.orderId);
    render();
  }

  async function cancelOrder(id, button) {
    button.disabled = true;
    const a = await api("POST", `/orders/${encodeURIComponent(id)}/cancel`, { token: token() });
    button.disabled = false;
    if (a.ok) {
      cancelledHere.add(id);
      say(myMessage, `Order ${id} is cancelled; the payment is being refunded.`, "cancelled");
      render();
    } else if (a.status === 503 && a.retryAfter !== null) {
      say(myMessage, `The shop is busy, try again in ${a.retryAfter} seconds.`, "busy");
    } else {
      say(myMessage, a.message, "error");
    }
  }

  render();
  poll(refresh, 1000);
})();
