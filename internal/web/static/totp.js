// The authenticator page's two conveniences; the page works without them
// (the key is selectable text, and the browser's menu prints).
"use strict";
(function () {
  document.querySelectorAll("[data-copy]").forEach(function (b) {
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (!el || !navigator.clipboard) { return; }
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(el.textContent.replace(/\s+/g, "")).then(function () {
        b.textContent = b.getAttribute("data-copied");
      });
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () { window.print(); });
  });
})();
