// onetime: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // The page's one polite status region (base.html): copy results and the size count are
  // announced there in words, in the page's language (the words come rendered into the page).
  var status = document.getElementById("status");
  var announce = function (words) {
    if (!status) return;
    // Emptied first, so the same words twice ("Copied", then "Copied") are announced twice.
    status.textContent = "";
    setTimeout(function () { status.textContent = words; }, 100);
  };

  // Copy buttons: <button data-copy="element-id" hidden> are shown only when JS runs. One whose
  // target appears later (e2e.js's decrypted secret) is bound then, through window.onetime.
  var bindCopy = function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    var label = button.textContent;
    var copied = button.getAttribute("data-copied") || label;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = copied;
        announce(copied);
        setTimeout(function () { button.textContent = label; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(target.value).then(done, function () {
          target.select();
        });
      } else {
        target.focus();
        target.select();
        try { if (document.execCommand("copy")) done(); } catch (e) { /* selected for the user */ }
      }
    });
  };
  document.querySelectorAll("button[data-copy]").forEach(bindCopy);
  window.onetime = { bindCopy: bindCopy, announce: announce };

  // Live size hint on the create form, in words (not only in red when over the limit).
  var secret = document.getElementById("secret");
  var hint = document.getElementById("size-hint");
  if (secret && hint) {
    var max = parseInt(secret.getAttribute("data-max"), 10) || 0;
    var template = hint.getAttribute("data-template") || "{used} / {max}";
    var overTemplate = hint.getAttribute("data-over") || "+{over}";
    var encoder = window.TextEncoder ? new TextEncoder() : null;
    var digits = window.Intl ? new Intl.NumberFormat(document.documentElement.lang || undefined) : null;
    var number = function (n) { return digits ? digits.format(n) : String(n); };
    var wasOver = false;
    var pause = null;
    var update = function (typed) {
      var used = encoder ? encoder.encode(secret.value).length : secret.value.length;
      var over = max > 0 && used > max;
      var words = over
        ? overTemplate.replace("{over}", number(used - max))
        : template.replace("{used}", number(used)).replace("{max}", number(max));
      hint.textContent = words;
      hint.classList.toggle("over", over);
      if (!typed) return;
      clearTimeout(pause);
      if (over !== wasOver) {
        // Crossing the limit is said at once; ...
        announce(words);
      } else {
        // ... the count only once typing pauses, not at every key (as GOV.UK's counter does).
        pause = setTimeout(function () { announce(words); }, 1000);
      }
      wasOver = over;
    };
    secret.addEventListener("input", function () { update(true); });
    update(false);
    wasOver = hint.classList.contains("over");
  }
})();
