// onetime: end-to-end secrets (docs/envelope.md). The create page encrypts here, with a fresh
// key that only ever travels in the link's "#" part, which browsers never send to a server; the
// reveal page decrypts here. No dependencies, no eval, nothing inline: the CSP's 'self' covers
// this file. Without WebCrypto (JavaScript off, or a plain-http page other than localhost) the
// pages keep working in server-side mode.
(function () {
  "use strict";

  var PREFIX = "ote1.";
  var AD = "onetime-e2e-v1";
  var VERIFIER_LABEL = "onetime-e2e-v1 key verifier\u0000";
  var KEY_CHARS = 43;
  var subtle = window.crypto && window.crypto.subtle;
  var encoder = new TextEncoder();

  // --- the envelope ------------------------------------------------------------------------

  var b64u = function (bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  var unb64u = function (text) {
    if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("malformed");
    var plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(plain.length);
    for (var i = 0; i < plain.length; i++) out[i] = plain.charCodeAt(i);
    return out;
  };

  // The key from a link's fragment, or null when it cannot be one.
  var parseKey = function (fragment) {
    if (fragment.length !== KEY_CHARS || !/^[A-Za-z0-9_-]+$/.test(fragment)) return null;
    var key = unb64u(fragment);
    return key.length === 32 ? key : null;
  };

  var cut = function (text, max) {
    var bytes = encoder.encode(text);
    if (bytes.length <= max) return bytes;
    // At a character boundary: drop UTF-8 continuation bytes at the cut.
    var end = max;
    while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
    return bytes.subarray(0, end);
  };

  // Text, then optionally one file: lengths big-endian (docs/envelope.md, "Plaintext framing").
  var frame = function (text, file) {
    var t = encoder.encode(text);
    var parts = [t];
    var size = 4 + t.length;
    var name, type;
    if (file) {
      name = cut(file.name, 255);
      type = cut(file.type || "", 255);
      size += 2 + name.length + 2 + type.length + 4 + file.bytes.length;
    }
    var out = new Uint8Array(size);
    var view = new DataView(out.buffer);
    view.setUint32(0, t.length);
    out.set(t, 4);
    if (file) {
      var at = 4 + t.length;
      view.setUint16(at, name.length); out.set(name, at + 2); at += 2 + name.length;
      view.setUint16(at, type.length); out.set(type, at + 2); at += 2 + type.length;
      view.setUint32(at, file.bytes.length); out.set(file.bytes, at + 4);
    }
    return out;
  };

  var unframe = function (plain) {
    var view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    var at = 0;
    var field = function (width) {
      if (at + width > plain.length) throw new Error("framing");
      var len = width === 2 ? view.getUint16(at) : view.getUint32(at);
      at += width;
      if (at + len > plain.length) throw new Error("framing");
      var bytes = plain.subarray(at, at + len);
      at += len;
      return bytes;
    };
    var strict = new TextDecoder("utf-8", { fatal: true });
    var result = { text: strict.decode(field(4)), file: null };
    if (at === plain.length) return result;
    var name = strict.decode(field(2));
    var type = strict.decode(field(2));
    var bytes = field(4);
    if (at !== plain.length) throw new Error("framing");
    result.file = { name: name, type: type, bytes: bytes };
    return result;
  };

  var aesKey = function (raw, usage) {
    return subtle.importKey("raw", raw, { name: "AES-GCM" }, false, [usage]);
  };

  // Seals text and file under the raw key with the given IV (fresh random when omitted).
  var seal = function (raw, text, file, iv) {
    iv = iv || crypto.getRandomValues(new Uint8Array(12));
    return aesKey(raw, "encrypt").then(function (key) {
      return subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: encoder.encode(AD) },
        key, frame(text, file));
    }).then(function (sealed) {
      var body = new Uint8Array(12 + sealed.byteLength);
      body.set(iv, 0);
      body.set(new Uint8Array(sealed), 12);
      return PREFIX + b64u(body);
    });
  };

  // Opens an envelope: {text, file}; rejects for anything that does not authenticate.
  var open = function (raw, envelope) {
    if (envelope.indexOf(PREFIX) !== 0) return Promise.reject(new Error("malformed"));
    var body = unb64u(envelope.slice(PREFIX.length));
    if (body.length < 28) return Promise.reject(new Error("malformed"));
    return aesKey(raw, "decrypt").then(function (key) {
      return subtle.decrypt({ name: "AES-GCM", iv: body.subarray(0, 12),
        additionalData: encoder.encode(AD) }, key, body.subarray(12));
    }).then(function (plain) { return unframe(new Uint8Array(plain)); });
  };

  // Hex SHA-256 over the label and the key: what the server compares before a reveal.
  var verifier = function (raw) {
    var label = encoder.encode(VERIFIER_LABEL);
    var input = new Uint8Array(label.length + raw.length);
    input.set(label, 0);
    input.set(raw, label.length);
    return subtle.digest("SHA-256", input).then(function (hash) {
      return Array.prototype.map.call(new Uint8Array(hash), function (b) {
        return (b < 16 ? "0" : "") + b.toString(16);
      }).join("");
    });
  };

  // The API's password rules (src/crypto/generate.rs): every class present, no ambiguous
  // characters, uniform over the alphabet by rejection sampling.
  var CLASSES = ["ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghjkmnpqrstuvwxyz", "23456789",
    "!@#$%^&*()_-+=[]{}|:;\"'<>,.?/~`"];
  var generatePassword = function (length) {
    length = Math.max(4, length || 16);
    var all = CLASSES.join("");
    var limit = 256 - (256 % all.length);
    for (;;) {
      var out = "";
      while (out.length < length) {
        var bytes = crypto.getRandomValues(new Uint8Array(2 * length));
        for (var i = 0; i < bytes.length && out.length < length; i++) {
          if (bytes[i] < limit) out += all.charAt(bytes[i] % all.length);
        }
      }
      var complete = CLASSES.every(function (c) {
        return out.split("").some(function (ch) { return c.indexOf(ch) >= 0; });
      });
      if (complete) return out;
    }
  };

  window.onetimeE2E = {
    seal: seal, open: open, verifier: verifier, parseKey: parseKey, b64u: b64u,
    generatePassword: generatePassword
  };
  if (!subtle) return;

  var fragment = function () { return location.hash.replace(/^#/, ""); };
  var showProblem = function (element, words) {
    element.textContent = words;
    element.hidden = false;
  };
  var hideNoJsNotes = function () {
    document.querySelectorAll("[data-e2e-nojs]").forEach(function (n) { n.hidden = true; });
  };

  // --- the create page ---------------------------------------------------------------------

  var createForm = document.getElementById("create");
  if (createForm) {
    var modeNote = document.getElementById("mode-note");
    if (modeNote) modeNote.textContent = modeNote.getAttribute("data-e2e");
    hideNoJsNotes();
    var fileField = document.getElementById("file-field");
    var fileInput = document.getElementById("file");
    var fileError = document.getElementById("file-error");
    var maxFile = parseInt(createForm.getAttribute("data-max-file"), 10) || 0;
    if (fileField && maxFile > 0) {
      fileField.hidden = false;
      fileField.addEventListener("dragover", function (e) {
        e.preventDefault();
        fileField.classList.add("dragging");
      });
      fileField.addEventListener("dragleave", function () { fileField.classList.remove("dragging"); });
      fileField.addEventListener("drop", function (e) {
        e.preventDefault();
        fileField.classList.remove("dragging");
        if (e.dataTransfer && e.dataTransfer.files.length) fileInput.files = e.dataTransfer.files;
      });
    }
    var busy = false;
    createForm.addEventListener("submit", function (event) {
      var generate = event.submitter && event.submitter.value === "generate";
      var secret = document.getElementById("secret");
      var picked = fileInput && fileInput.files && fileInput.files[0];
      var max = parseInt(secret.getAttribute("data-max"), 10) || 0;
      var text = generate ? generatePassword(parseInt(createForm.getAttribute("data-generate-length"), 10)) : secret.value;
      // Nothing to share, or over the limit: the server's own refusal (it sees no secret).
      if (!generate && !picked && !text.trim()) return;
      event.preventDefault();
      if (busy) return;
      if (encoder.encode(text).length > max) {
        secret.focus();
        return;
      }
      if (picked && picked.size > maxFile) {
        showProblem(fileError, fileError.getAttribute("data-too-large"));
        fileInput.focus();
        return;
      }
      busy = true;
      var raw = crypto.getRandomValues(new Uint8Array(32));
      var read = picked ? picked.arrayBuffer() : Promise.resolve(null);
      read.then(function (buffer) {
        var file = buffer ? { name: picked.name, type: picked.type, bytes: new Uint8Array(buffer) } : null;
        return Promise.all([seal(raw, text, file), verifier(raw)]);
      }).then(function (done) {
        var key = b64u(raw);
        var post = document.createElement("form");
        post.method = "post";
        // The key rides in the fragment: not sent, and inherited across the redirect to the
        // receipt, which reads it there.
        // A file announces itself in the query: only then is the body given a file's room.
        post.action = (picked ? "/?e2e=file" : "/") + "#" + key;
        post.hidden = true;
        var add = function (name, value) {
          var input = document.createElement("input");
          input.type = "hidden";
          input.name = name;
          input.value = value;
          post.appendChild(input);
        };
        new FormData(createForm).forEach(function (value, name) {
          if (name !== "secret" && name !== "action" && typeof value === "string") add(name, value);
        });
        add("action", "share");
        add("secret", done[0]);
        add("e2e", picked ? "file" : "text");
        add("verifier", done[1]);
        if (generate) sessionStorage.setItem("onetime-generated:" + key, text);
        document.body.appendChild(post);
        post.submit();
      }).catch(function () {
        busy = false;
        showProblem(fileError, fileError.getAttribute("data-failed"));
      });
    });
  }

  // --- the receipt, right after creating ---------------------------------------------------

  var link = document.querySelector("#secret-link[data-e2e]");
  if (link) {
    var key = fragment();
    if (parseKey(key)) {
      link.value = link.value + "#" + key;
      var note = document.getElementById("e2e-key-note");
      if (note) note.textContent = note.getAttribute("data-full");
      var generated = sessionStorage.getItem("onetime-generated:" + key);
      sessionStorage.removeItem("onetime-generated:" + key);
      var box = document.getElementById("e2e-generated");
      if (generated && box) {
        var field = document.getElementById("e2e-generated-value");
        field.id = "generated-value";
        box.querySelector("label").htmlFor = "generated-value";
        field.value = generated;
        box.hidden = false;
      }
    }
    // Off the address bar and out of history: a reload or a later visit no longer has it.
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  }

  // --- the link's interstitial -------------------------------------------------------------

  var revealForm = document.getElementById("reveal-form");
  if (revealForm) {
    var button = document.getElementById("reveal");
    var problem = document.getElementById("e2e-problem");
    var verifierField = revealForm.querySelector("input[name=verifier]");
    var bare = revealForm.getAttribute("action").split("#")[0];
    var initiallyHidden = button.hidden;
    var ready = null;
    // Reads the link's key: a verifier for the server, the key kept in the form's target
    // (a fragment, never sent) for the revealed page.
    var readKey = function () {
      var given = fragment();
      var raw = given ? parseKey(given) : null;
      var mode = revealForm.getAttribute("data-e2e");
      problem.hidden = true;
      verifierField.value = "";
      revealForm.action = bare;
      ready = null;
      button.hidden = initiallyHidden;
      if (given && !raw) {
        // A cut-off or mangled key: never posted, the secret stays unread.
        showProblem(problem, problem.getAttribute("data-bad-key"));
        button.hidden = true;
      } else if (!given && mode === "yes") {
        showProblem(problem, problem.getAttribute("data-no-key"));
        button.hidden = true;
      } else if (raw) {
        button.hidden = false;
        // The revealed page gets an address of its own (`?reveal`), so that opening the link
        // again loads it afresh instead of only scrolling to its fragment.
        revealForm.action = bare + "?reveal#" + given;
        ready = verifier(raw).then(function (hex) { verifierField.value = hex; });
      }
    };
    hideNoJsNotes();
    readKey();
    // A corrected link pasted into the same tab changes only the fragment: read it afresh.
    window.addEventListener("hashchange", readKey);
    revealForm.addEventListener("submit", function (event) {
      if (!ready || verifierField.value) return;
      event.preventDefault();
      ready.then(function () { revealForm.submit(); });
    });
  }

  // --- the revealed page -------------------------------------------------------------------

  var sealed = document.getElementById("e2e-reveal");
  if (sealed) {
    var status = document.getElementById("e2e-status");
    var rawKey = parseKey(fragment());
    if (!rawKey) {
      status.textContent = status.getAttribute("data-no-key");
      status.className = "error";
    } else {
      open(rawKey, sealed.getAttribute("data-envelope")).then(function (contents) {
        sealed.removeAttribute("data-envelope");
        status.remove();
        if (contents.text || !contents.file) {
          var label = document.createElement("label");
          label.htmlFor = "secret-value";
          label.className = "visually-hidden";
          label.textContent = sealed.getAttribute("data-label");
          var area = document.createElement("textarea");
          area.id = "secret-value";
          area.className = "mono";
          area.readOnly = true;
          area.spellcheck = false;
          area.rows = Math.min(20, Math.max(3, contents.text.split("\n").length));
          area.value = contents.text;
          sealed.appendChild(label);
          sealed.appendChild(area);
          var copy = document.getElementById("copy-secret");
          if (copy && window.onetime) window.onetime.bindCopy(copy);
        }
        if (contents.file) {
          var caption = document.createElement("p");
          caption.textContent = sealed.getAttribute("data-file-label");
          var anchor = document.createElement("a");
          anchor.id = "file-download";
          anchor.className = "button primary";
          anchor.download = contents.file.name || "secret";
          anchor.href = URL.createObjectURL(new Blob([contents.file.bytes],
            { type: contents.file.type || "application/octet-stream" }));
          anchor.textContent = sealed.getAttribute("data-download").replace("{0}", anchor.download);
          anchor.setAttribute("data-size", String(contents.file.bytes.length));
          sealed.appendChild(caption);
          sealed.appendChild(anchor);
        }
      }, function () {
        status.textContent = status.getAttribute("data-changed");
        status.className = "error";
        status.id = "e2e-error";
      });
    }
  }
})();
