// The trace as the trace page and the queue item show it (templates/evaluations/includes/
// trace_body.html): span bodies loaded when a span is opened, expand / collapse all, copy buttons.
// The page works without this file: a span's "Show input and output" link opens its body alone.
(function () {
  "use strict";

  var roots = document.querySelectorAll("[data-trace-body]");
  if (!roots.length) return;
  var MAX_LOADS = 4;  // "Open all spans" on a 500-span trace asks for the bodies a few at a time
  var running = 0;
  var waiting = [];

  // --- copy buttons ------------------------------------------------------------------------------

  function copyByTextarea(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    document.body.removeChild(area);
    return done;
  }

  function copied(button, ok) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = ok ? "Copied" : "Copy failed";
    button.classList.toggle("copied", ok);
    window.setTimeout(function () {
      button.textContent = label;
      button.classList.remove("copied");
    }, 1500);
  }

  // The Clipboard API needs a secure context (HTTPS or localhost); elsewhere, the old way.
  function copy(text, button) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { copied(button, copyByTextarea(text)); }
      );
    } else {
      copied(button, copyByTextarea(text));
    }
  }

  // Content blocks (message texts, JSON, plain text, tool arguments) get a copy button of their own;
  // ids carry theirs in the HTML (data-copy).
  var BLOCKS = ".message > .content, pre";

  function addCopyButtons(scope) {
    scope.querySelectorAll(BLOCKS).forEach(function (block) {
      var before = block.previousElementSibling;
      if (before && before.classList.contains("copy-block")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy copy-block";
      button.textContent = "Copy";
      button.title = "Copy to the clipboard";
      block.parentNode.insertBefore(button, block);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.copy");
    if (!button) return;
    event.preventDefault();
    if (button.hasAttribute("data-copy")) {
      copy(button.getAttribute("data-copy"), button);
    } else {
      var block = button.nextElementSibling;
      if (block) copy(block.textContent, button);
    }
  });

  // --- expand and collapse -----------------------------------------------------------------------

  // Long message lists, long messages and JSON are <details>; span rows are too, but opening one
  // asks the server for its body, so they have their own button.
  function setContentOpen(scope, open) {
    scope.querySelectorAll("details:not(.span)").forEach(function (details) { details.open = open; });
  }

  function expanded(root) { return root.getAttribute("data-expanded") === "true"; }

  roots.forEach(function (root) {
    root.querySelectorAll("[data-expand-all]").forEach(function (button) {
      button.addEventListener("click", function () {
        var open = !expanded(root);
        root.setAttribute("data-expanded", open ? "true" : "false");
        setContentOpen(root, open);
        button.textContent = open ? "Collapse all" : "Expand all";
      });
    });
    root.querySelectorAll("[data-open-spans]").forEach(function (button) {
      button.addEventListener("click", function () {
        var open = button.getAttribute("data-open") !== "true";
        button.setAttribute("data-open", open ? "true" : "false");
        root.querySelectorAll("details.span").forEach(function (details) { details.open = open; });
        button.textContent = open ? "Close all spans" : "Open all spans";
      });
    });
    addCopyButtons(root);
  });

  // --- span bodies, loaded on demand -------------------------------------------------------------

  function showError(slot, link, message) {
    var error = document.createElement("p");
    error.className = "span-load-error";
    error.textContent = message + " ";
    var retry = document.createElement("a");
    retry.href = link.href;
    retry.textContent = "Open it alone";
    error.appendChild(retry);
    slot.replaceChildren(error);
  }

  function next() {
    while (running < MAX_LOADS && waiting.length) {
      running += 1;
      fetchBody(waiting.shift());
    }
  }

  function fetchBody(details) {
    var slot = details.querySelector(":scope > .span-body");
    var link = slot && slot.querySelector(":scope > a.span-load");
    var finish = function () { running -= 1; next(); };
    if (!link) { finish(); return; }
    link.textContent = "Loading…";
    fetch(link.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        // A signed-out session answers with the login page (a redirect): not a span's body.
        if (!response.ok || response.redirected) {
          var why = response.redirected ? "You are signed out: reload the page." : "Could not load this span (HTTP " + response.status + ").";
          showError(slot, link, why);
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        slot.innerHTML = html;  // the server's fragment: trace content escaped there (trace_html.py)
        var root = details.closest("[data-trace-body]");
        if (root && expanded(root)) setContentOpen(slot, true);
        addCopyButtons(slot);
      })
      .catch(function () { showError(slot, link, "Could not load this span (network error)."); })
      .then(finish);
  }

  function load(details) {
    if (details.hasAttribute("data-loading")) return;
    if (!details.querySelector(":scope > .span-body > a.span-load")) return;  // inline or loaded
    details.setAttribute("data-loading", "");
    waiting.push(details);
    next();
  }

  // `toggle` does not bubble: listen while it goes down.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (details.open && details.matches && details.matches("[data-trace-body] details.span")) load(details);
  }, true);

  // A link to one span (`#span-<id>`, from the session page) opens it.
  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var item = id && document.getElementById(id);
    var details = item && item.querySelector(":scope > details.span");
    if (details) details.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
