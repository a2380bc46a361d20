// Keeps the device page current: new requests appear and answered ones vanish without reloading, the countdowns
// count, and Approve / Deny answer in place with a notice. Without JavaScript the page works by reloading.
(function () {
  var pending = document.getElementById("pending");
  if (!pending) return;
  var token = pending.getAttribute("data-token");
  var notice = document.getElementById("confirmation");
  var shown = null;
  var offset = 0; // the server's clock minus this browser's, in ms: countdowns follow the server's clock

  function setServerTime(seconds) {
    if (seconds) offset = parseFloat(seconds) * 1000 - Date.now();
  }

  function tick() {
    var now = (Date.now() + offset) / 1000;
    var timers = document.querySelectorAll("[data-expires-at]");
    for (var i = 0; i < timers.length; i++) {
      var expires = parseFloat(timers[i].getAttribute("data-expires-at"));
      var period = parseFloat(timers[i].getAttribute("data-period"));
      if (period && expires <= now) {
        // a new passcode: count to the end of its step at once, and fetch it
        while (expires <= now) expires += period;
        timers[i].setAttribute("data-expires-at", expires.toFixed(3));
        refresh();
      }
      var left = Math.max(0, Math.ceil(expires - now));
      var text = left + " s";
      if (timers[i].textContent !== text) timers[i].textContent = text;
    }
  }

  function pendingIds() {
    return Array.prototype.map.call(pending.querySelectorAll("[data-txid]"),
      function (e) { return e.getAttribute("data-txid"); }).join(",");
  }

  function refresh() {
    return fetch("/device/" + token + "/state.json", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (!state) return;
        setServerTime(state.server_time);
        var ids = state.pending.map(function (p) { return p.txid; }).join(",");
        if (ids !== shown) { pending.innerHTML = state.pending_html; shown = ids; }
        var sms = document.getElementById("sms");
        if (sms && sms.innerHTML !== state.sms_html) sms.innerHTML = state.sms_html;
        var code = document.getElementById("passcode");
        if (code && state.passcode && code.textContent !== state.passcode) code.textContent = state.passcode;
        var next = document.querySelector("[data-testid=passcode-expires-in]");
        if (next && state.passcode_expires_at) next.setAttribute("data-expires-at", state.passcode_expires_at);
        tick();
      })
      .catch(function () {});
  }

  // Approve / Deny: answer with fetch, say what was done, and update the list at once
  pending.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    if (!button || !window.fetch) return; // the browser submits the form itself
    event.preventDefault();
    var buttons = form.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    var body = new URLSearchParams();
    body.append("txid", form.elements.txid.value);
    body.append("decision", button.value);
    fetch(form.action, { method: "POST", body: body, headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (answer) { notice.innerHTML = answer.confirmation_html; })
      .catch(function () {
        notice.textContent = "Your answer could not be sent. Reload the page and try again.";
        for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
      })
      .then(refresh);
  });

  setServerTime(pending.getAttribute("data-server-time"));
  shown = pendingIds();
  tick();
  setInterval(tick, 250);
  setInterval(refresh, 1000);
})();
