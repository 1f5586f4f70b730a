// Small conveniences on top of pages that work without any script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Exception queue: select all, count the selection, and prefer "selected" once ticking.
  const boxes = () => Array.from(document.querySelectorAll('input[type=checkbox][name="items"]'));
  const counter = document.querySelector("[data-selected-count]");
  const scopeSelected = document.querySelector('input[name="scope"][value="selected"]');
  const recount = () => {
    if (counter) counter.textContent = String(boxes().filter((b) => b.checked).length);
  };
  const all = document.querySelector("[data-select-all]");
  if (all) {
    all.addEventListener("change", () => {
      boxes().forEach((b) => { b.checked = all.checked; });
      if (scopeSelected) scopeSelected.checked = true;
      recount();
    });
  }
  boxes().forEach((b) => b.addEventListener("change", () => {
    if (scopeSelected) scopeSelected.checked = true;
    recount();
  }));
  recount();

  // Filters that apply as soon as they change.
  document.querySelectorAll("[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form && el.form.submit());
  });

  // A message template's preview follows the form as the admin types: the server
  // renders it (the same sandbox as the worker) and nothing is saved.
  const preview = document.querySelector("[data-live-preview-of]");
  const editor = preview && document.getElementById(preview.getAttribute("data-live-preview-of"));
  if (editor) {
    let timer = null;
    editor.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const body = new FormData(editor);
        body.set("action", "preview");
        try {
          // getAttribute: the form.action property is shadowed by the buttons named "action".
          const reply = await fetch(editor.getAttribute("action"), {
            method: "POST", body, credentials: "same-origin",
          });
          const page = new DOMParser().parseFromString(await reply.text(), "text/html");
          const fresh = page.querySelector("[data-live-preview-of]");
          if (fresh) preview.innerHTML = fresh.innerHTML;
        } catch (err) {
          // Offline for a moment: the Preview button still works.
        }
      }, 500);
    });
  }

  // The day's live progress: refresh the table in place.
  const live = document.querySelector("[data-refresh]");
  if (live) {
    const every = 1000 * Number(live.getAttribute("data-every") || "30");
    setInterval(async () => {
      try {
        const reply = await fetch(live.getAttribute("data-refresh"), { credentials: "same-origin" });
        if (reply.ok) live.innerHTML = await reply.text();
      } catch (err) {
        // Offline for a moment: keep showing the last numbers.
      }
    }, every);
  }
});
