// The sign form, on the petition's page and in the widget (templates/petitions/_sign_form.html).
// Each part only helps: the server decides the same without it.

// Signers from a high-risk country: choosing one shows what is kept and who sees it (in the page
// already, hidden) and ticks "leave my name out of the list handed in", unless the person has
// touched that box. Choosing another country hides the note and never unticks the box.
(function () {
  "use strict";
  document.querySelectorAll("select[data-high-risk]").forEach(function (select) {
    var form = select.form;
    var notice = form && form.querySelector("[data-high-risk-notice]");
    if (!notice) return;
    var codes = select.getAttribute("data-high-risk").split(" ");
    var hideName = form.elements.namedItem("hide_name");
    var touched = false;
    if (hideName) {
      hideName.addEventListener("change", function () { touched = true; });
    }
    select.addEventListener("change", function () {
      var highRisk = select.value !== "" && codes.indexOf(select.value) !== -1;
      notice.hidden = !highRisk;
      if (highRisk && hideName && !touched) hideName.checked = true;
    });
  });
})();

// "Sign without my name": the name fields are then not needed, as the server decides too; only
// their required state follows the box (what is typed stays, and is not kept).
(function () {
  "use strict";
  document.querySelectorAll('input[name="without_name"]').forEach(function (box) {
    var names = ["first_name", "last_name"].map(function (name) {
      return box.form && box.form.elements.namedItem(name);
    });
    function follow() {
      names.forEach(function (field) {
        if (field) field.required = !box.checked;
      });
    }
    box.addEventListener("change", follow);
    follow();
  });
})();
