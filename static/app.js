// onetime: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="element-id" hidden> are shown only when JS runs.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    var label = button.textContent;
    var copied = button.getAttribute("data-copied") || label;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = copied;
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
  });

  // Live size hint on the create form.
  var secret = document.getElementById("secret");
  var hint = document.getElementById("size-hint");
  if (secret && hint) {
    var max = parseInt(secret.getAttribute("data-max"), 10) || 0;
    var template = hint.getAttribute("data-template") || "{used} / {max}";
    var encoder = window.TextEncoder ? new TextEncoder() : null;
    var update = function () {
      var used = encoder ? encoder.encode(secret.value).length : secret.value.length;
      hint.textContent = template.replace("{used}", used).replace("{max}", max);
      hint.classList.toggle("over", max > 0 && used > max);
    };
    secret.addEventListener("input", update);
    update();
  }
})();
