// The trace filter's enhancements (the explorer and the queue builder); both pages work without it.
(function () {
  "use strict";

  // A time-range preset fills the date boxes at once; typing a date makes the range "custom". The
  // server's clock and time zone decide (`data-now`, its local time at render): the boxes hold the
  // server's local time, which is how the server reads them.
  var PRESETS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
  var loadedAt = Date.now();

  function boxValue(ms) {
    return new Date(ms).toISOString().slice(0, 19);  // UTC arithmetic on a naive time: no DST shifts
  }

  document.querySelectorAll("select[data-range-preset]").forEach(function (select) {
    var after = document.getElementById(select.getAttribute("data-after"));
    var before = document.getElementById(select.getAttribute("data-before"));
    var serverNow = Date.parse(select.getAttribute("data-now") + "Z");
    if (!after || !before || isNaN(serverNow)) { return; }
    select.addEventListener("change", function () {
      var span = PRESETS[select.value];
      if (span === undefined) { return; }
      after.value = boxValue(serverNow + (Date.now() - loadedAt) - span);
      before.value = "";
    });
    [after, before].forEach(function (box) {
      box.addEventListener("input", function () { select.value = "custom"; });
    });
  });

  // "Select all" ticks every row of the page (the header box is hidden without this script).
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var form = all.form || all.closest("form");
    if (!form) { return; }
    var name = all.getAttribute("data-select-all");
    var boxes = function () { return form.querySelectorAll("input[type=checkbox][name='" + name + "']"); };
    var sync = function () {
      var list = Array.prototype.slice.call(boxes());
      var ticked = list.filter(function (box) { return box.checked; }).length;
      all.checked = list.length > 0 && ticked === list.length;
      all.indeterminate = ticked > 0 && ticked < list.length;
    };
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
    });
    form.addEventListener("change", function (event) {
      if (event.target !== all) { sync(); }
    });
    sync();
  });
})();
