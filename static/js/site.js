// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // "Copy link" buttons: shown only when the browser can copy.
  if (navigator.clipboard) {
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var field = document.getElementById(button.getAttribute("data-copy-target"));
        if (!field) return;
        navigator.clipboard.writeText(field.value).then(function () {
          var original = button.textContent;
          button.textContent = button.getAttribute("data-copied-label");
          window.setTimeout(function () { button.textContent = original; }, 2500);
        });
      });
    });
  }

  // Move focus to the error summary so that keyboard and screen-reader users hear it first.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) summary.focus();
})();
