// The run page's live figures: while the run works, read its progress (same origin, the session's
// cookie) every ~2 s and update the bar and the counters; stop once it has ended. Without this
// file the page shows the figures as they were when it loaded.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var panel = document.querySelector("[data-run-progress]");
  if (!panel || panel.hasAttribute("data-finished") || !window.fetch) return;
  var url = panel.getAttribute("data-url");

  function show(progress) {
    document.querySelectorAll("[data-live]").forEach(function (element) {
      var value = progress[element.getAttribute("data-live")];
      if (value !== undefined) element.textContent = String(value);
    });
    document.querySelectorAll("[data-live-when]").forEach(function (element) {
      element.hidden = !progress[element.getAttribute("data-live-when")];
    });
    var bar = document.querySelector("[data-live-bar]");
    if (bar) {
      bar.max = progress.total_targets;
      bar.value = progress.evaluated_count;
      bar.textContent = progress.percent + " %";
    }
    var badge = document.querySelector("[data-live-status]");
    if (badge) {
      badge.textContent = progress.status.toLowerCase();
      badge.className = "badge status-" + progress.status;
    }
    if (progress.finished) {
      document.querySelectorAll("[data-live-while-active]").forEach(function (element) { element.hidden = true; });
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("progress: HTTP " + response.status);
        return response.json();
      })
      .then(function (progress) {
        show(progress);
        if (!progress.finished) window.setTimeout(poll, INTERVAL_MS);
      })
      // Gone (deleted), signed out or offline: the figures stay as they are; a reload shows why.
      .catch(function () {});
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
