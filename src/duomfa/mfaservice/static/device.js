// Keeps the device page current: new requests appear and answered ones vanish without reloading.
(function () {
  var pending = document.getElementById("pending");
  if (!pending) return;
  var token = pending.getAttribute("data-token");
  var shown = null;

  function refresh() {
    fetch("/device/" + token + "/state.json", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (!state) return;
        var ids = state.pending.map(function (p) { return p.txid; }).join(",");
        if (ids !== shown) { pending.innerHTML = state.pending_html; shown = ids; }
        var sms = document.getElementById("sms");
        if (sms && sms.innerHTML !== state.sms_html) sms.innerHTML = state.sms_html;
        var code = document.getElementById("passcode");
        if (code && state.passcode && code.textContent !== state.passcode) code.textContent = state.passcode;
      })
      .catch(function () {});
  }

  shown = Array.prototype.map.call(pending.querySelectorAll("[data-txid]"),
    function (e) { return e.getAttribute("data-txid"); }).join(",");
  setInterval(refresh, 1000);
})();
