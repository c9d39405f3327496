// The simulator without page reloads: post the same forms with fetch, swap in the server's HTML
// (rendered and escaped by the same templates as the full page). Without JS the forms still work.
(function () {
  "use strict";
  const chat = document.getElementById("chat");
  const outbox = document.getElementById("outbox");
  if (!chat || !outbox) return;

  function scrollChat() { chat.scrollTop = chat.scrollHeight; }

  function showNotice(text) {
    let note = document.getElementById("sim-notice");
    if (!note) {
      note = document.createElement("p");
      note.id = "sim-notice";
      note.className = "flash";
      note.setAttribute("role", "status");
      chat.parentNode.insertBefore(note, chat);
    }
    note.textContent = text;
  }

  document.querySelectorAll("form[data-sim]").forEach(function (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          headers: { "Accept": "application/json" },
          credentials: "same-origin",
        });
        if (!response.ok) { showNotice("That did not work (" + response.status + "). Reload the page."); return; }
        const data = await response.json();
        chat.innerHTML = data.chat_html;
        outbox.innerHTML = data.outbox_html;
        if (data.notice) showNotice(data.notice);
        if (form.hasAttribute("data-clear")) {
          const body = form.querySelector("[name=body]");
          if (body) { body.value = ""; body.focus(); }
        }
        scrollChat();
      } finally {
        if (button) button.disabled = false;
      }
    });
  });

  // Keep the send form's poll in step with the chosen poll, so a no-JS redirect keeps it too.
  const select = document.getElementById("sim-poll");
  const hidden = document.querySelector(".sim-send [name=poll]");
  if (select && hidden) select.addEventListener("change", function () { hidden.value = select.value; });
  scrollChat();
})();
