// mlpact ui: the little script the pages use (no framework, nothing fetched).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A version's report: size its frame to its content (same origin, scripts off inside).
  document.querySelectorAll("iframe.report").forEach(function (frame) {
    frame.addEventListener("load", function () {
      try {
        frame.style.height = frame.contentDocument.documentElement.scrollHeight + 24 + "px";
      } catch (e) { /* keep the default height */ }
    });
  });
  // Writes ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  // Compare buttons: enabled for 2 to 6 ticked rows.
  document.querySelectorAll("form.compare-form").forEach(function (form) {
    var button = form.querySelector(".compare-button");
    if (!button) { return; }
    var min = +button.getAttribute("data-min"), max = +button.getAttribute("data-max");
    function update() {
      var n = form.querySelectorAll("input[type=checkbox]:checked").length;
      button.disabled = n < min || n > max;
      button.textContent = n ? "Compare " + n + " selected" : "Compare selected";
    }
    form.addEventListener("change", update);
    update();
  });
});
