// SnapGlyph dashboard: progressive enhancement only. Every action works
// without this file; it adds copy-to-clipboard buttons and turns the
// dialogs the server draws open into modal ones (focus stays inside,
// Escape closes).
(function () {
  "use strict";

  function copied(btn, ok) {
    var label = btn.querySelector("span");
    var status = document.getElementById(btn.getAttribute("data-status"));
    if (label) label.textContent = ok ? "Copied" : "Copy";
    if (status) {
      status.textContent = ok
        ? "Copied to the clipboard."
        : "The text is selected: press Ctrl+C (or ⌘C) to copy it.";
    }
    if (ok && label) {
      setTimeout(function () { label.textContent = "Copy"; }, 2500);
    }
  }

  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var field = document.getElementById(btn.getAttribute("data-copy"));
      if (!field) return;
      field.focus();
      field.select();
      var legacy = function () {
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        copied(btn, ok);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { copied(btn, true); }, legacy);
      } else {
        legacy();
      }
    });
  });

  document.querySelectorAll("input[data-select]").forEach(function (field) {
    field.addEventListener("focus", function () { field.select(); });
  });

  document.querySelectorAll("dialog[open][data-modal]").forEach(function (dialog) {
    if (typeof dialog.showModal !== "function") return;
    var overlay = dialog.parentElement;
    dialog.close();
    if (overlay && overlay.classList.contains("overlay")) overlay.classList.add("enhanced");
    dialog.showModal();
    dialog.addEventListener("cancel", function (event) {
      event.preventDefault();
      var to = dialog.getAttribute("data-close");
      if (to) window.location.assign(to);
    });
  });
})();
