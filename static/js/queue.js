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

  function round(value) { return Math.round(value * 1e6) / 1e6; }

  // Puts the value a key stands for into a control; false when the key means nothing there.
  function pick(control, key) {
    var radios = control.querySelectorAll("input[type=radio][data-key]");
    if (radios.length) {
      for (var i = 0; i < radios.length; i++) {
        if (radios[i].getAttribute("data-key") === key) {
          radios[i].checked = true;
          radios[i].dispatchEvent(new Event("change", { bubbles: true }));
          return true;
        }
      }
      return false;
    }
    if (control.getAttribute("data-kind") !== "NUMERIC") return false;
    var low = parseFloat(control.getAttribute("data-low"));
    var high = parseFloat(control.getAttribute("data-high"));
    var input = control.querySelector("input");
    input.value = key === "=" || key === ")" ? String(high) : String(round(low + (parseInt(key, 10) / 10) * (high - low)));
    input.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
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
    if (key === "Enter") {
      var tag = (event.target && event.target.tagName || "").toLowerCase();
      if (tag === "a" || tag === "button") return;  // a focused link or button does its own thing
      event.preventDefault();
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
      return;
    }
    if (/^[0-9=)]$/.test(key) && controls.length) {  // ")" is Shift+0 on US keyboards
      var index = activeIndex();
      if (pick(controls[index], key)) {
        event.preventDefault();
        activate(index + 1);
      }
    }
  });
})();
