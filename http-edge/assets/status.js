// The operators' page: GET /status.json (the owner's: sign in with the
// owner token) every 2 s, drawn read-only. Request rates are the
// difference between two samples over the server's clock.
"use strict";

(() => {
  const { h, text, api, poll, ownerSignIn } = kukka;
  const updated = document.getElementById("status-updated");
  const roles = document.getElementById("roles");
  const breakers = document.querySelector("#breakers tbody");
  const stream = document.getElementById("stream");
  const groups = document.querySelector("#groups tbody");
  const requests = document.getElementById("requests");
  const routes = document.querySelector("#routes tbody");
  const ROLES = ["order", "payment", "delivery", "edge"];

  let previous = null; // the last sample, for rates

  const session = ownerSignIn((t) => {
    previous = null;
    if (t) refresh();
    else text(updated, "Sign in to see the cluster.");
  });

  const show = (v) => (v === null || v === undefined ? "—" : String(v));

  function facts(dl, pairs) {
    dl.replaceChildren(...pairs.map(([label, value, key]) =>
      h("div", { "data-fact": key }, h("dt", {}, label), h("dd", {}, show(value)))));
  }

  function drawRoles(s) {
    roles.replaceChildren(...ROLES.map((role) => {
      const r = (s.roles && s.roles[role]) || { joined: 0, members: [] };
      const members = Array.isArray(r.members) ? r.members : [];
      return h("article", { class: "role", "data-role": role, "data-joined": r.joined },
        h("h3", {}, role),
        h("p", { class: "big", "data-state": r.joined > 0 ? "up" : "down" },
          r.joined > 0 ? `${r.joined} joined` : "none joined"),
        h("ul", { class: "members" }, members.map((m) =>
          h("li", {}, `${show(m.name)} · actor ${show(m.actorId)}`,
            m.local ? " (this node)" : ` (node ${show(m.nodeId)})`))));
    }));
  }

  function drawBreakers(s) {
    const rows = (Array.isArray(s.breakers) ? s.breakers : []).map((b) => {
      const state = b.breakerState || "unknown";
      const shard = b.shard === null || b.shard === undefined ? `actor ${show(b.member && b.member.actorId)}` : b.shard;
      return h("tr", { "data-shard": show(b.shard), "data-breaker-state": state },
        h("td", {}, show(shard)),
        h("td", {}, h("span", { class: "badge", "data-status": state }, b.error ? `no answer: ${b.error}` : state)),
        h("td", {}, show(b.inFlight)), h("td", {}, show(b.rejected)),
        h("td", {}, show(b.lastTransitionAt || "never")));
    });
    if (rows.length === 0) rows.push(h("tr", {}, h("td", { colspan: 5 }, "No order shard is joined.")));
    breakers.replaceChildren(...rows);
  }

  function drawStream(s) {
    const st = s.stream || {};
    facts(stream, [
      ["Stream", st.name, "name"], ["Entries", st.length, "length"],
      ["Dead letters", st.deadLetters, "deadLetters"],
      ...(st.error ? [["Problem", st.error, "error"]] : []),
    ]);
    const rows = (Array.isArray(st.groups) ? st.groups : []).map((g) =>
      h("tr", { "data-group": g.name },
        h("td", {}, show(g.name)), h("td", {}, show(g.consumers)), h("td", {}, show(g.pending)),
        h("td", {}, show(g.lag)), h("td", {}, show(g.partitions))));
    if (rows.length === 0) rows.push(h("tr", {}, h("td", { colspan: 5 }, "No consumer group yet.")));
    groups.replaceChildren(...rows);
  }

  function rate(now, before, seconds) {
    if (before === null || before === undefined || !(seconds > 0)) return "—";
    return (Math.max(0, now - before) / seconds).toFixed(1);
  }

  function drawRequests(s) {
    const r = s.requests || {};
    const p = previous && previous.requests;
    const seconds = previous ? (s.sampledAtMs - previous.sampledAtMs) / 1000 : 0;
    const byClass = r.byClass || {};
    facts(requests, [
      ["Total", r.total, "total"],
      ["Per second", rate(r.total, p && p.total, seconds), "rate"],
      ["Client errors (4xx)", byClass["4xx"], "4xx"],
      ["Server errors (5xx)", byClass["5xx"], "5xx"],
    ]);
    const byRoute = r.byRoute || {};
    routes.replaceChildren(...Object.keys(byRoute).map((route) =>
      h("tr", { "data-route": route },
        h("td", {}, route), h("td", {}, show(byRoute[route])),
        h("td", {}, rate(byRoute[route], p && p.byRoute && p.byRoute[route], seconds)))));
  }

  async function refresh() {
    const token = session.token();
    if (!token) return;
    const a = await api("GET", "/status.json", { token });
    if (session.refused(a)) return;
    if (!a.ok || !a.body) {
      text(updated, `Cannot read the status: ${a.message} Retrying…`);
      updated.dataset.state = "error";
      return;
    }
    const s = a.body;
    drawRoles(s);
    drawBreakers(s);
    drawStream(s);
    drawRequests(s);
    text(updated, `Updated ${show(s.generatedAt)}${s.draining ? " · this edge is shutting down" : ""}`);
    updated.dataset.state = "ok";
    previous = s;
  }

  poll(refresh, 2000);
})();
