// securemail compose: address suggestions and draft autosave; the form works without this file.
"use strict";
(function () {
  const form = document.getElementById("compose");
  if (!form) return;
  const csrf = document.body.dataset.csrf || "";
  const status = document.getElementById("c-status");

  // Enter in a one-line field must never send the message.
  form.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.key === "Enter" && t instanceof HTMLInputElement && t.type !== "submit") e.preventDefault();
  });

  // Address suggestions: the last address being typed is completed from the directory;
  // each <option> holds the whole field value, so choosing one keeps the addresses before it.
  let pending = null;
  form.querySelectorAll("input[data-suggest]").forEach((input) => {
    const list = document.getElementById(input.getAttribute("list"));
    input.addEventListener("input", () => {
      clearTimeout(pending);
      pending = setTimeout(() => suggest(input, list), 200);
    });
  });

  async function suggest(input, list) {
    const value = input.value;
    const cut = Math.max(value.lastIndexOf(","), value.lastIndexOf(";"));
    const head = cut >= 0 ? value.slice(0, cut + 1) + " " : "";
    const word = value.slice(cut + 1).trim();
    if (word.length < 2) { list.replaceChildren(); return; }
    try {
      const answer = await fetch(`/compose/suggest?q=${encodeURIComponent(word)}`, {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      if (!answer.ok || input.value !== value) return;
      const found = await answer.json();
      list.replaceChildren(...found.map((s) => {
        const option = document.createElement("option");
        option.value = head + s.address;
        option.textContent = s.name ? `${s.name} <${s.address}>` : s.address;
        return option;
      }));
    } catch (_) { /* suggestions are a convenience */ }
  }

  // Autosave: every N seconds, when something changed, the form is saved as a draft; the
  // answer names the new draft, whose attachments the form then carries instead of the files.
  const every = Number(form.dataset.autosave || 0);
  if (!every) return;
  const TRANSIENT = new Set(["csrf", "action", "draft_of", "forward_of", "keep", "files"]);
  function texts() {
    const out = [];
    for (const [k, v] of new FormData(form)) if (!TRANSIENT.has(k)) out.push(`${k}=${v}`);
    return out.join("\n");
  }
  function fileList() {
    return Array.from(form.elements.files.files).map((f) => `${f.name}:${f.size}`).join("\n");
  }
  function snapshot() {
    const keep = new FormData(form).getAll("keep").join(",");
    return `${texts()}\nkeep=${keep}\nfiles=${fileList()}`;
  }
  function show(text) { if (status) status.textContent = text; }

  function carry(attachments) {
    const box = document.getElementById("c-carried");
    const list = box.querySelector("ul");
    list.replaceChildren(...attachments.map((a) => {
      const item = document.createElement("li");
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.name = "keep"; box.value = String(a.index); box.checked = true;
      const size = document.createElement("span");
      size.className = "small";
      size.textContent = ` (${(a.size / 1024).toFixed(1)} KB)`;
      label.append(box, ` ${a.filename}`, size);
      item.append(label);
      return item;
    }));
    box.hidden = attachments.length === 0;
  }

  let last = snapshot();
  let saving = false;
  let leaving = false;
  async function save() {
    if (saving || leaving || snapshot() === last) return;
    saving = true;
    const sentTexts = texts();
    const sentFiles = fileList();
    const data = new FormData(form);
    data.set("action", "save");
    try {
      const answer = await fetch("/compose", {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      });
      const reply = await answer.json();
      if (!answer.ok) { show(reply.error || "The draft could not be saved."); return; }
      form.elements.draft_of.value = String(reply.draft);
      form.elements.forward_of.value = String(reply.draft);
      carry(reply.attachments);
      if (fileList() === sentFiles) form.elements.files.value = "";
      last = texts() === sentTexts ? snapshot() : "";
      show(`Draft saved at ${new Date().toLocaleTimeString()}.`);
    } catch (_) {
      show("The draft could not be saved.");
    } finally {
      saving = false;
    }
  }
  setInterval(save, every * 1000);
  form.addEventListener("submit", () => { leaving = true; });
})();
