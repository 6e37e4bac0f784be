// SnapGlyph dashboard: progressive enhancement only. Every action works
// without this file; it adds copy-to-clipboard buttons, turns the
// dialogs the server draws open into modal ones (focus stays inside,
// Escape goes back, but never away from a one-time secret), and gives the
// QR-code form its live preview.
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

  // Copy leaves focus on the button: moved to the field, it made a screen
  // reader read the whole secret out again, ahead of "Copied".
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var field = document.getElementById(btn.getAttribute("data-copy"));
      if (!field) return;
      // The old way copies the selection, which needs the field focused.
      // Copied, focus goes back to the button; otherwise it stays on the
      // selected text, for Ctrl+C as the status says.
      var legacy = function () {
        field.focus();
        field.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        if (ok) btn.focus();
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

  // The Logs' From and To count with "Custom (UTC)" only: the server
  // draws them disabled otherwise (out of the tab order, not sent); this
  // enables them as soon as Custom is chosen, and disables them again for
  // any other range (also on load: a restored form).
  var range = document.getElementById("f-range");
  var rangeFrom = document.getElementById("f-from"), rangeTo = document.getElementById("f-to");
  if (range && rangeFrom && rangeTo) {
    var custom = function () { rangeFrom.disabled = rangeTo.disabled = range.value !== "custom"; };
    range.addEventListener("change", custom);
    custom();
  }

  // Permissions (the create dialog, a key's page): "Full access" and
  // "Restricted to:" are one radio group, one stop for Tab, so a keyboard
  // goes from "Full access" straight to the boxes. Ticking one chooses
  // "Restricted to:" (the server refuses boxes ticked beside Full access
  // anyway). Choosing "Full access" unticks them, and "Restricted to:"
  // ticks them again, so arrowing through the two loses nothing.
  document.querySelectorAll('input[name="access"][value="restricted"]').forEach(function (restricted) {
    var full = restricted.form && restricted.form.querySelector('input[name="access"][value="full"]');
    if (!full) return;
    var boxes = [].slice.call(restricted.form.querySelectorAll('input[type="checkbox"][name="scope"]'));
    var kept = [];
    boxes.forEach(function (box) {
      box.addEventListener("change", function () {
        if (box.checked && !restricted.checked) restricted.checked = true;
        kept = [];
      });
    });
    full.addEventListener("change", function () {
      if (!full.checked) return;
      kept = boxes.filter(function (box) { return box.checked; });
      kept.forEach(function (box) { box.checked = false; });
    });
    restricted.addEventListener("change", function () {
      if (!restricted.checked) return;
      if (!boxes.some(function (box) { return box.checked; })) kept.forEach(function (box) { box.checked = true; });
      kept = [];
    });
  });

  document.querySelectorAll("[data-select]").forEach(function (field) {
    field.addEventListener("focus", function () { field.select(); });
  });

  // An icon-only button's word (the stylesheet shows its title over it on
  // keyboard focus and on hover) goes away with Escape, focus staying
  // where it is, and comes back with the next focus or hover (WCAG
  // 1.4.13). That Escape does nothing else: in a dialog, the next one
  // closes it. Taken before the dialogs' own handler (capture).
  var tips = [].slice.call(document.querySelectorAll(".icon-btn[title]"));
  tips.forEach(function (btn) {
    var show = function () { btn.classList.remove("tip-off"); };
    btn.addEventListener("focus", show);
    btn.addEventListener("mouseenter", show);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.isComposing) return;
    var shown = tips.filter(function (btn) {
      return !btn.classList.contains("tip-off") &&
        (btn.matches(":hover") || btn === document.activeElement && btn.matches(":focus-visible"));
    });
    if (!shown.length) return;
    shown.forEach(function (btn) { btn.classList.add("tip-off"); });
    event.preventDefault();
  }, true);

  // A status drawn with the page (data-announce: an invitation pending,
  // after Done) is read out: what a live region holds when the page loads
  // is not, so its words are put in again once the page has loaded.
  document.querySelectorAll("[role=status][data-announce]").forEach(function (status) {
    var words = status.querySelector("span");
    if (!words) return;
    var text = words.textContent;
    words.textContent = "";
    var put = function () { setTimeout(function () { words.textContent = text; }, 250); };
    if (document.readyState === "complete") put(); else window.addEventListener("load", put);
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
      if (field) { field.value = ""; field.defaultValue = ""; }
    });
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      var status = document.getElementById(btn.getAttribute("data-status"));
      if (status) status.textContent = "";
    });
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && hasSecret()) window.location.reload();
  });

  // Escape in a dialog leads to its data-close (the page behind it, with
  // focus on what opened it); a dialog without one (a one-time secret)
  // stays open. Escape is taken on its keydown, before the browser makes a
  // close request of it: Chrome does not let a page cancel a close request
  // when there was no user activation since the last one, so one Escape
  // (two after a Tab) closed a new key's reveal and hid the key for good.
  document.querySelectorAll("dialog[open][data-modal]").forEach(function (dialog) {
    if (typeof dialog.showModal !== "function") return;
    var overlay = dialog.parentElement;
    var to = dialog.getAttribute("data-close");
    dialog.close();
    if (overlay && overlay.classList.contains("overlay")) overlay.classList.add("enhanced");
    dialog.showModal();
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || event.defaultPrevented || event.isComposing || !dialog.open) return;
      event.preventDefault();
      if (to) window.location.assign(to);
    });
    // Other close requests (a phone's Back) come as cancel.
    dialog.addEventListener("cancel", function (event) {
      event.preventDefault();
      if (to) window.location.assign(to);
    });
    // One the page may not refuse closes the dialog: a secret's opens
    // again.
    if (!to) {
      dialog.addEventListener("close", function () {
        if (!dialog.open) dialog.showModal();
      });
    }
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

  // What the preview says is shown as it comes, but read out only when
  // the user is done with a field: on leaving a field they typed in, or
  // on a change of a list, a box, a colour or the logo (not of the type,
  // whose new fields are empty yet). Read on every pause in typing, it
  // said "Password is required." three times while the password was
  // typed. The shown text is not a live region; a hidden one says it,
  // once for each new message.
  status.removeAttribute("role");
  status.setAttribute("aria-live", "off");
  var live = document.createElement("p");
  live.className = "sr-only";
  live.setAttribute("role", "status");
  status.parentNode.insertBefore(live, status.nextSibling);
  var said = "";         // the message read out last
  var announce = false;  // read out the next answer
  var busy = false;      // a preview is due or on its way
  var touched = [];      // the fields typed in

  function typed(el) {
    return el.tagName === "TEXTAREA" ||
      el.tagName === "INPUT" && /^(text|url|tel|email|number|password|search)$/.test(el.type);
  }

  function say(text) {
    if (text === said) return;
    said = text;
    live.textContent = text;
  }

  function show(src) {
    img.src = src;
    img.hidden = false;
    if (empty) empty.hidden = true;
    frame.classList.remove("stale");
    status.textContent = "";
    status.classList.remove("bad");
    busy = announce = false;
    say("");
  }

  function problem(text) {
    if (!img.hidden) frame.classList.add("stale");
    status.textContent = text;
    status.classList.add("bad");
    busy = false;
    if (announce) say(text);
    announce = false;
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
    busy = true;
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }
  form.addEventListener("input", function (event) {
    if (typed(event.target) && touched.indexOf(event.target) < 0) touched.push(event.target);
    announce = false;
    later();
  });
  form.addEventListener("change", function (event) {
    var el = event.target;
    announce = el.name !== "type" && (!typed(el) || touched.indexOf(el) >= 0);
    later();
  });
  form.addEventListener("focusout", function (event) {
    if (touched.indexOf(event.target) < 0) return;
    if (busy) announce = true;
    else if (status.classList.contains("bad")) say(status.textContent);
  });
  if (form.hasAttribute("data-preview-now")) refresh();
})();
