// The unbind form's upload progress (progressive enhancement: without
// this script the form is a plain multipart POST). The form is sent with
// XMLHttpRequest so that a <progress> bar can follow the upload; the
// answer (the status page after a redirect, or the form again with its
// errors) then replaces the page as a normal submission would.
(function () {
  "use strict";
  var form = document.getElementById("unbind-form");
  var box = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-bar");
  var failed = document.getElementById("upload-failed");
  if (!form || !box || !bar || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    box.hidden = false;
    failed.hidden = true;
    bar.value = 0;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round(e.loaded * 100 / e.total);
      } else {
        bar.removeAttribute("value");
      }
    });
    xhr.addEventListener("load", function () {
      var dest = xhr.responseURL || "";
      if (dest && dest !== form.action && xhr.status === 200) {
        window.location.assign(dest); // the status page
        return;
      }
      // The form again with its errors, or an error page: show it.
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener("error", function () {
      failed.hidden = false;
      if (button) { button.disabled = false; }
    });
    xhr.send(new FormData(form));
  });
})();
