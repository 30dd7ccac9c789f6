// securemail webmail: progressive enhancement only; every action works without this file.
"use strict";
(function () {
  const body = document.body;
  const help = document.getElementById("help");

  function openHelp(show) { if (help) { help.hidden = !show; if (show) help.querySelector("button").focus(); } }
  document.querySelectorAll("[data-help]").forEach((b) => b.addEventListener("click", () => openHelp(true)));
  document.querySelectorAll("[data-help-close]").forEach((b) => b.addEventListener("click", () => openHelp(false)));

  const toggle = document.querySelector(".menu-toggle");
  const side = document.getElementById("side");
  if (toggle && side) {
    toggle.addEventListener("click", () => {
      const open = side.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }

  document.querySelectorAll("form[data-confirm]").forEach((f) => f.addEventListener("submit", (e) => {
    if (!window.confirm(f.dataset.confirm)) e.preventDefault();
  }));

  // Message list: j/k move the cursor, Enter/o opens, x selects.
  const rows = Array.from(document.querySelectorAll("tr.msg"));
  let cursor = -1;
  function mark(i) {
    if (!rows.length) return;
    cursor = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, n) => r.classList.toggle("selected", n === cursor));
    const link = rows[cursor].querySelector("td.subject a");
    if (link) link.focus();
  }
  function clickKey(key) {
    const el = document.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (el) { el.click(); return true; }
    return false;
  }
  let pendingG = false;
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (e.key === "Escape") { openHelp(false); return; }
    if (pendingG) {
      pendingG = false;
      if (e.key === "i") { const inbox = document.querySelector(".mailbox.current .folders a"); if (inbox) inbox.click(); }
      return;
    }
    switch (e.key) {
      case "?": openHelp(help ? help.hidden : false); break;
      case "j": mark(cursor + 1); break;
      case "k": mark(cursor - 1); break;
      case "o": case "Enter": if (cursor >= 0 && rows[cursor]) { window.location.href = rows[cursor].dataset.href; } else return; break;
      case "x": if (cursor >= 0) { const box = rows[cursor].querySelector("input[type=checkbox]"); box.checked = !box.checked; } break;
      case "/": { const q = document.getElementById("q"); if (q) q.focus(); break; }
      case "g": pendingG = true; break;
      case "#": {
        if (cursor >= 0) { const box = rows[cursor].querySelector("input[type=checkbox]"); box.checked = true; }
        if (!clickKey("#")) return;
        break;
      }
      default:
        if (!clickKey(e.key)) return;
    }
    e.preventDefault();
  });

  // New mail without reloading: the server sends an event when this mailbox changes.
  const mailbox = body.dataset.mailbox;
  if (mailbox && window.EventSource) {
    const source = new EventSource(`/events?mailbox=${encodeURIComponent(mailbox)}`);
    source.addEventListener("changed", (ev) => {
      const data = JSON.parse(ev.data);
      const sameFolder = String(data.folder) === body.dataset.folder;
      const busy = document.querySelector("tr.msg input:checked");
      refreshPage(sameFolder && !busy);
    });
  }
  async function refreshPage(withList) {
    const res = await fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" });
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const fresh = doc.querySelector("table.messages tbody");
    const side = doc.getElementById("side");
    const old = document.querySelector("table.messages tbody");
    if (withList && fresh && old) old.replaceWith(fresh);
    const oldSide = document.getElementById("side");
    if (side && oldSide) oldSide.replaceWith(side);
    const head = doc.querySelector(".listhead");
    const oldHead = document.querySelector(".listhead");
    if (withList && head && oldHead) oldHead.replaceWith(head);
  }
})();
