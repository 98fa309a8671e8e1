// Review-queue work page: keyboard first. The page works without this file (links and a form);
// the keys are documented in the `?` overlay (templates/queues/_keys.html).
(function () {
  "use strict";

  var form = document.getElementById("review-form");
  var overlay = document.getElementById("keys-help");
  if (!form || !overlay) return;
  var controls = Array.prototype.slice.call(form.querySelectorAll(".score-control"));

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select" || target.isContentEditable) return true;
    if (tag !== "input") return false;
    return ["radio", "checkbox", "button", "submit", "hidden"].indexOf(target.type) === -1;
  }

  function overlayOpen() { return !overlay.hidden; }

  function toggleOverlay(show) {
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
  }

  function activeIndex() {
    for (var i = 0; i < controls.length; i++) {
      if (controls[i].classList.contains("active")) return i;
    }
    return 0;
  }

  function activate(index) {
    if (!controls.length) return;
    index = Math.max(0, Math.min(controls.length - 1, index));
    controls.forEach(function (c, i) { c.classList.toggle("active", i === index); });
    controls[index].scrollIntoView({ block: "nearest" });
  }

  // The key -> value map of a control comes from the server (`score_keys`, as JSON in data-keys),
  // the same list the `?` overlay prints: the page never works out a value itself.
  function keyMap(control) {
    try { return JSON.parse(control.getAttribute("data-keys") || "{}"); } catch (e) { return {}; }
  }

  function setNotApplicable(control, on) {
    var box = control.querySelector(".na input[type=checkbox]");
    if (box) box.checked = on;
  }

  // Puts the value a key stands for into a control; false when the key means nothing there.
  function pick(control, key) {
    var value = keyMap(control)[key === ")" ? "=" : key];  // ")" is Shift+0 on US keyboards
    if (value === undefined) return false;
    var radios = control.querySelectorAll("input[type=radio]");
    var target = null;
    for (var i = 0; i < radios.length; i++) {
      if (radios[i].value === value) { radios[i].checked = true; target = radios[i]; }
    }
    if (!radios.length) {
      target = control.querySelector("input[type=number], input[type=text]:not(.comment)");
      if (!target) return false;
      target.value = value;
    }
    if (!target) return false;
    setNotApplicable(control, false);
    target.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  // N/A and a value exclude each other: marking N/A clears the value.
  function toggleNotApplicable(control) {
    var box = control.querySelector(".na input[type=checkbox]");
    if (!box) return;
    box.checked = !box.checked;
    if (!box.checked) return;
    control.querySelectorAll("input[type=radio]").forEach(function (r) { r.checked = false; });
    var input = control.querySelector("input[type=number], input[type=text]:not(.comment)");
    if (input) input.value = "";
  }

  function go(id) {
    var link = document.getElementById(id);
    if (link && link.href) window.location.href = link.href;
  }

  // A click in a control makes it the one the number keys fill.
  controls.forEach(function (control, index) {
    control.addEventListener("focusin", function () { activate(index); });
    control.addEventListener("click", function () { activate(index); });
  });
  document.querySelectorAll("[data-keys-toggle]").forEach(function (button) {
    button.addEventListener("click", function () { toggleOverlay(); });
  });
  overlay.addEventListener("click", function (event) {
    if (event.target === overlay) toggleOverlay(false);
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    var key = event.key;
    if (key === "Escape") {
      if (overlayOpen()) toggleOverlay(false);
      else if (isTyping(event.target)) event.target.blur();
      return;
    }
    if (isTyping(event.target)) return;  // Enter in a field submits natively; letters are text.
    if (key === "?") { event.preventDefault(); toggleOverlay(); return; }
    if (overlayOpen()) return;
    if (key === "j") { event.preventDefault(); go("next-item"); return; }
    if (key === "k") { event.preventDefault(); go("prev-item"); return; }
    if (key === "ArrowDown") { event.preventDefault(); activate(activeIndex() + 1); return; }
    if (key === "ArrowUp") { event.preventDefault(); activate(activeIndex() - 1); return; }
    if (key === "s") {
      var skip = document.getElementById("skip-form");
      if (skip) { event.preventDefault(); skip.submit(); }
      return;
    }
    if (key === "n" && controls.length) {
      event.preventDefault();
      toggleNotApplicable(controls[activeIndex()]);
      activate(activeIndex() + 1);
      return;
    }
    if (key === "c" && controls.length) {
      var comment = controls[activeIndex()].querySelector("input.comment");
      if (comment) { event.preventDefault(); comment.focus(); }
      return;
    }
    if (key === "Enter") {
      var tag = (event.target && event.target.tagName || "").toLowerCase();
      // A focused link, button or <summary> (a span or a folded block of the trace) does its own thing.
      if (tag === "a" || tag === "button" || tag === "summary") return;
      event.preventDefault();
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
      return;
    }
    if (/^[0-9=)]$/.test(key) && controls.length) {
      var index = activeIndex();
      if (pick(controls[index], key)) {
        event.preventDefault();
        activate(index + 1);
      }
    }
  });
})();
