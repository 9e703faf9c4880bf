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

// The language notice: a reader on an English page whose browser prefers another of the site's
// languages is offered that language, in that language, until they take it or say no.
(function () {
  "use strict";
  var notice = document.querySelector("[data-language-notice]");
  if (!notice) return;
  var storageKey = "language-notice-dismissed";
  try {
    if (window.localStorage.getItem(storageKey)) return;
  } catch (error) {
    return; // storage blocked: never offer what cannot be dismissed for good
  }
  var preferred = navigator.languages || [navigator.language || ""];
  var offer = null;
  for (var i = 0; i < preferred.length && !offer; i++) {
    var code = String(preferred[i]).toLowerCase().split("-")[0];
    if (code === "en") return; // the reader is happy with English
    offer = notice.querySelector('[data-language="' + code + '"]');
  }
  if (!offer) return;
  offer.hidden = false;
  notice.hidden = false;
  function dismiss() {
    try { window.localStorage.setItem(storageKey, "1"); } catch (error) { /* nothing to keep */ }
    notice.hidden = true;
  }
  offer.querySelector("[data-language-notice-close]").addEventListener("click", dismiss);
  offer.querySelector("a").addEventListener("click", dismiss); // chosen once: not offered again
})();
