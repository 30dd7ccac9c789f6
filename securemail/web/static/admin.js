// securemail admin console: progressive enhancement only; every form works without this file.
"use strict";
(function () {
  // A CSV upload shows its progress: the form is sent by XMLHttpRequest and the answer
  // replaces the page, exactly as the plain form submission would have shown it.
  document.querySelectorAll("form[data-upload-progress]").forEach((form) => {
    const bar = form.querySelector("progress");
    const status = form.querySelector(".upload-status");
    if (!bar || !window.XMLHttpRequest || !window.FormData || !window.DOMParser) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", (e) => {
        if (!e.lengthComputable) return;
        bar.value = Math.round((e.loaded / e.total) * 100);
        if (status) status.textContent = `Uploading: ${bar.value}%`;
      });
      xhr.upload.addEventListener("load", () => {
        bar.removeAttribute("value"); // indeterminate while the server creates the users
        if (status) status.textContent = "Uploaded: creating the users, this may take a while...";
      });
      xhr.addEventListener("load", () => {
        const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        document.title = doc.title;
        document.body.replaceWith(document.adoptNode(doc.body));
        window.scrollTo(0, 0);
      });
      xhr.addEventListener("error", () => {
        bar.hidden = true;
        if (button) button.disabled = false;
        if (status) status.textContent = "The upload failed: check the connection and try again.";
      });
      bar.hidden = false;
      bar.value = 0;
      if (button) button.disabled = true;
      xhr.send(new FormData(form));
    });
  });
})();
