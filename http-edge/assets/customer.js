// The customer's page: order a box (POST /orders) and watch "my page"
// (GET /myPages/{id} for the orders this browser placed, every second),
// with a cancel button while cancelling is allowed.
"use strict";

(() => {
  const { h, text, status, won, boxName, api, poll, randomKey, say } = kukka;
  const STORE = "kukka.myOrders"; // localStorage: [{id, flowerType, qty, price, customerName, address}]
  const MAX_KEPT = 20;
  const form = document.getElementById("order-form");
  const qty = document.getElementById("qty");
  const total = document.getElementById("total");
  const placeButton = document.getElementById("place-order");
  const result = document.getElementById("order-result");
  const list = document.getElementById("my-orders");
  const empty = document.getElementById("my-empty");
  const myMessage = document.getElementById("my-message");

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
  showTotal();

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
    if (!form.reportValidity()) return;
    const box = chosenBox();
    const n = quantity();
    if (!box || !n) return;
    const order = {
      customerName: form.elements.customerName.value,
      phoneNumber: form.elements.phoneNumber.value,
      address: form.elements.address.value,
      flowerType: box.value,
      qty: n,
      price: Number(box.dataset.price) * n,
    };
    idempotencyKey = idempotencyKey || randomKey();
    placeButton.disabled = true;
    say(result, "Paying…", "pending");
    const answer = await api("POST", "/orders", { body: order, idempotencyKey });
    placeButton.disabled = false;
    if (answer.status !== 0) idempotencyKey = null;
    delete result.dataset.orderId;
    delete result.dataset.retryAfter;
    if (answer.status === 201 && answer.body && typeof answer.body.id === "string") {
      const placed = answer.body;
      result.dataset.orderId = placed.id;
      say(result, `Paid: order ${placed.id}, ${won(placed.price)}. Follow it on My page below.`, "paid");
      remember(placed);
      render();
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

  function load() {
    try {
      const v = JSON.parse(localStorage.getItem(STORE) || "[]");
      return Array.isArray(v) ? v.filter((o) => o && typeof o.id === "string") : [];
    } catch (e) {
      return [];
    }
  }

  function remember(order) {
    const kept = load().filter((o) => o.id !== order.id);
    kept.unshift({
      id: order.id, flowerType: order.flowerType, qty: order.qty, price: order.price,
      customerName: order.customerName, address: order.address,
    });
    try {
      localStorage.setItem(STORE, JSON.stringify(kept.slice(0, MAX_KEPT)));
    } catch (e) {
      say(myMessage, "This browser cannot keep your orders (storage is full or blocked).", "error");
    }
  }

  const views = new Map(); // id -> latest MyPage entry (or null if not there yet)
  // Orders cancelled from this page: the view catches up a moment later, and
  // until then it must not look cancellable again.
  const cancelledHere = new Set();

  function cancellable(v) {
    return !!v && v.orderStatus === "Ordered"
      && v.deliveryStatus !== "Delivered" && v.deliveryStatus !== "DeliveryCancelled";
  }

  function finished(v) {
    return !!v && (v.deliveryStatus === "Delivered"
      || (v.orderStatus === "OrderCancelled" && v.paymentStatus === "PaymentCancelled"
          && v.deliveryStatus === "DeliveryCancelled"));
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

  function fill(li, kept, view) {
    const v = { ...(view || {}) };
    if (cancelledHere.has(kept.id) && v.orderStatus === "Ordered") v.orderStatus = "OrderCancelled";
    const get = (name) => li.querySelector(`[data-field="${name}"]`);
    const flowerType = v.flowerType ?? kept.flowerType;
    const n = v.qty ?? kept.qty;
    text(get("box"), `${boxName(flowerType)} × ${n ?? "?"}`);
    text(get("price"), won(v.price ?? kept.price));
    text(get("customerName"), v.customerName ?? kept.customerName ?? "");
    text(get("address"), v.address ?? kept.address ?? "");
    status(get("orderStatus"), v.orderStatus);
    status(get("paymentStatus"), v.paymentStatus);
    status(get("deliveryStatus"), v.deliveryStatus);
    text(get("note"), view ? "" : "Waiting for the shop to record it…");
    li.querySelector('[data-action="cancel"]').hidden = !view || !cancellable(v);
  }

  // Puts one row per kept order into the list, newest first, updating rows
  // in place (so focus and keyboard position survive the updates).
  function render() {
    const kept = load();
    empty.hidden = kept.length > 0;
    const wanted = new Set(kept.map((o) => o.id));
    for (const li of Array.from(list.children)) {
      if (!wanted.has(li.dataset.orderId)) li.remove();
    }
    let before = list.firstElementChild;
    for (const o of kept) {
      let li = Array.from(list.children).find((el) => el.dataset.orderId === o.id);
      if (!li) li = row(o.id);
      if (li !== before) list.insertBefore(li, before);
      before = li.nextElementSibling;
      fill(li, o, views.get(o.id) || null);
    }
  }

  async function refresh() {
    const kept = load();
    const due = kept.filter((o) => !finished(views.get(o.id)));
    const answers = await Promise.all(due.map((o) => api("GET", `/myPages/${encodeURIComponent(o.id)}`)));
    let unreachable = false;
    due.forEach((o, i) => {
      const a = answers[i];
      if (a.ok && a.body) views.set(o.id, a.body);
      else if (a.status === 0 || a.status >= 500) unreachable = true;
    });
    if (unreachable) say(myMessage, "Could not refresh just now; retrying…", "error");
    else if (myMessage.dataset.state === "error") say(myMessage, "", "");
    render();
  }

  async function cancelOrder(id, button) {
    button.disabled = true;
    const a = await api("POST", `/orders/${encodeURIComponent(id)}/cancel`);
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
