// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // The project switcher submits itself when a project is picked.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();

// A range slider beside a number input: shown only with JS, kept in step with the input.
(function () {
  "use strict";
  document.querySelectorAll("input[type=range][data-mirror]").forEach(function (slider) {
    var input = document.getElementById(slider.getAttribute("data-mirror"));
    if (!input) { return; }
    slider.hidden = false;
    if (input.value !== "") { slider.value = input.value; }
    slider.addEventListener("input", function () { input.value = slider.value; });
    input.addEventListener("input", function () { if (input.value !== "") { slider.value = input.value; } });
  });
})();
