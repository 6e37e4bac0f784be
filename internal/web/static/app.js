// SnapGlyph dashboard: progressive enhancement only. Every action works
// without this file; it adds copy-to-clipboard buttons, turns the
// dialogs the server draws open into modal ones (focus stays inside,
// Escape closes), and gives the QR-code form its live preview.
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

  // Filters folded away for a phone are open on a wide screen (the
  // server opens them itself when a filter is set). So is the sidebar's
  // menu in a browser that hides a closed one's content whatever the
  // stylesheet says (no ::details-content).
  if (window.matchMedia && window.matchMedia("(min-width: 821px)").matches) {
    document.querySelectorAll("details[data-open-wide]").forEach(function (d) { d.open = true; });
    var menu = document.querySelector("details.nav-menu");
    if (menu && !(window.CSS && CSS.supports && CSS.supports("selector(::details-content)"))) menu.open = true;
  }

  // The create-key dialog's expiry date counts with "On a date…" only:
  // otherwise the stylesheet hides it and this disables it, so it is
  // neither focused nor sent (the server ignores it then anyway).
  var expires = document.getElementById("key-expires");
  var expiresOn = document.getElementById("key-expires-on");
  if (expires && expiresOn) {
    var dated = function () { expiresOn.disabled = expires.value !== "date"; };
    expires.addEventListener("change", dated);
    dated();
  }

  document.querySelectorAll("input[data-select]").forEach(function (field) {
    field.addEventListener("focus", function () { field.select(); });
  });

  // Where focus starts: a form sent back with errors puts it on the
  // first field in error (each is tied to its message with
  // aria-describedby); otherwise a confirmation (pause, resume, revoke…)
  // takes it, so a screen reader reads it out and the keyboard starts
  // there. An open dialog keeps its own autofocus; the QR-code form's
  // error summary is focused by its own script below.
  (function () {
    if (document.querySelector("dialog[open]") || document.getElementById("problems")) return;
    var invalid = document.querySelector('main [aria-invalid="true"]');
    if (invalid) { invalid.focus(); return; }
    var flash = document.getElementById("flash");
    // A confirmation of something done further down the page (the
    // address's fragment names its section: #sessions, #mail) is moved
    // into that section, to be seen beside what it is about.
    var at = null;
    try { at = document.getElementById(decodeURIComponent(window.location.hash.slice(1))); } catch (e) { at = null; }
    if (flash && at && at.matches("main section") && !at.contains(flash)) {
      var head = at.querySelector(":scope > .card-head, :scope > h2");
      if (head) head.insertAdjacentElement("afterend", flash); else at.insertBefore(flash, at.firstChild);
      // The browser's own move to the fragment, once the page has
      // loaded, takes focus back to the page: focus the message again.
      window.addEventListener("load", function () {
        setTimeout(function () { if (document.activeElement === document.body) flash.focus(); }, 0);
      });
    }
    if (flash) { flash.focus(); return; }
    // Back from a dialog (Cancel, Escape, Done): the address's fragment
    // names the control that opened it (#create-key, #revoke-…) or the
    // key it was about (#key-link-…), and focus returns there rather
    // than to the top of the page. Browsers focus a focusable fragment
    // target themselves (without JavaScript too); this covers those that
    // only scroll to it.
    var id = window.location.hash.slice(1);
    var target = id && document.getElementById(decodeURIComponent(id));
    if (target && target.closest("main") && target.matches("a[href], button")) target.focus();
  })();

  // A one-time secret (a new API key, a webhook's signing secret) must
  // not come back with Back: Chrome keeps even a no-store page in its
  // back/forward cache. Leaving the page blanks the secret, and a page
  // restored from the cache is loaded again, which says the secret
  // cannot be shown again (the server never shows it twice).
  var secrets = ["new-key", "new-secret"];
  function hasSecret() {
    return secrets.some(function (id) { return document.getElementById(id); });
  }
  window.addEventListener("pagehide", function () {
    secrets.forEach(function (id) {
      var field = document.getElementById(id);
      if (field) { field.value = ""; field.setAttribute("value", ""); }
    });
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      var status = document.getElementById(btn.getAttribute("data-status"));
      if (status) status.textContent = "";
    });
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && hasSecret()) window.location.reload();
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

// The QR-code form: show the chosen type's fields only (and send only
// theirs), name the chosen colours, and keep the preview in step with the
// form. The preview is drawn by the server (POST /qr-codes/preview, which
// stores nothing and costs nothing) and shown as a data: URL, which the
// Content-Security-Policy allows for images.
(function () {
  "use strict";

  var form = document.querySelector("form[data-qr-form]");
  if (!form) return;
  var img = document.getElementById("qr-preview");
  var empty = document.getElementById("preview-empty");
  var status = document.getElementById("preview-status");
  var frame = form.querySelector("[data-preview-frame]");
  var level = document.getElementById("f-errorCorrection");
  var logo = document.getElementById("f-logo");

  function showType() {
    var checked = form.querySelector('input[name="type"]:checked');
    var type = checked ? checked.value : "url";
    form.querySelectorAll("fieldset.type-fields").forEach(function (fs) {
      var on = fs.getAttribute("data-type") === type;
      fs.hidden = !on;
      fs.disabled = !on;
    });
  }
  form.querySelectorAll('input[name="type"]').forEach(function (radio) {
    radio.addEventListener("change", showType);
  });
  showType();

  form.querySelectorAll("output[data-colour-of]").forEach(function (out) {
    var input = document.getElementById(out.getAttribute("data-colour-of"));
    if (!input) return;
    input.addEventListener("input", function () { out.textContent = input.value; });
  });

  if (logo && level) {
    logo.addEventListener("change", function () {
      if (logo.files && logo.files.length > 0 && level.value !== "H") {
        level.value = "H";
        var note = document.getElementById("logo-level-note");
        if (note) note.textContent = "Error correction is now H, which a logo needs.";
      }
    });
  }

  var problems = document.getElementById("problems");
  if (problems) problems.focus();

  if (!img || !window.fetch || !window.FormData) return;
  var timer = null, seq = 0, controller = null;

  function show(src) {
    img.src = src;
    img.hidden = false;
    if (empty) empty.hidden = true;
    frame.classList.remove("stale");
    status.textContent = "";
    status.classList.remove("bad");
  }

  function problem(text) {
    if (!img.hidden) frame.classList.add("stale");
    status.textContent = text;
    status.classList.add("bad");
  }

  function refresh() {
    var mine = ++seq;
    if (controller) controller.abort();
    controller = window.AbortController ? new AbortController() : null;
    var body = new FormData(form);
    fetch(form.getAttribute("data-preview"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "image/svg+xml, image/png, text/plain" },
      signal: controller ? controller.signal : undefined
    }).then(function (resp) {
      var type = resp.headers.get("Content-Type") || "";
      if (resp.ok && type.indexOf("image/svg+xml") === 0) {
        return resp.text().then(function (svg) {
          if (mine === seq) show("data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg));
        });
      }
      if (resp.ok && type.indexOf("image/png") === 0) {
        return resp.blob().then(function (blob) {
          var reader = new FileReader();
          reader.onload = function () { if (mine === seq) show(reader.result); };
          reader.readAsDataURL(blob);
        });
      }
      if (type.indexOf("text/plain") === 0) {
        return resp.text().then(function (text) { if (mine === seq) problem(text); });
      }
      if (mine === seq) problem("The preview is not available right now.");
    }).catch(function (err) {
      if (err && err.name === "AbortError") return;
      if (mine === seq) problem("The preview is not available right now.");
    });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  if (form.hasAttribute("data-preview-now")) refresh();
})();
