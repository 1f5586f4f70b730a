// Keeps the tracking page current without a reload: asks the page's JSON every 30 s
// with If-None-Match (a 304 costs almost nothing), updates the headline and the ETA,
// and reloads the page when the delivery's status changes, unless the recipient is
// typing in one of its forms. The page works without this script.
(function () {
  "use strict";
  var INTERVAL_MS = 30000;
  var api = document.body.getAttribute("data-api");
  var status = document.body.getAttribute("data-status");
  var etag = null;
  var typing = false;
  if (!api) { return; }
  document.addEventListener("input", function () { typing = true; });

  function set(name, text) {
    var node = document.querySelector('[data-bind="' + name + '"]');
    if (node && text != null) { node.textContent = text; }
  }

  function poll() {
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(api, { headers: headers, credentials: "omit", cache: "no-store" })
      .then(function (response) {
        if (response.status !== 200) { return null; }
        etag = response.headers.get("ETag");
        return response.json();
      })
      .then(function (view) {
        if (!view) { return; }
        if (view.status !== status && !typing) { window.location.reload(); return; }
        set("headline", view.headline);
        if (view.eta) { set("eta-text", view.eta.text); set("eta-local", view.eta.local); }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }
  window.setInterval(poll, INTERVAL_MS);
}());
