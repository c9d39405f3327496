// The poll builder's live side: keep the form and the YAML view in step, show problems next to
// their fields and preview every text, by posting to /admin/polls/preview. The server decides
// everything (parse_poll); this file only moves rows and places what the server says.
(function () {
  "use strict";
  const form = document.getElementById("builder");
  if (!form) return;
  const questions = document.getElementById("questions");
  const yaml = document.getElementById("yaml");
  const previews = document.getElementById("previews");
  const summary = document.getElementById("problem-summary");
  const blank = document.getElementById("blank-question");
  const url = form.dataset.previewUrl;
  const token = document.querySelector("meta[name=csrf-token]").content;
  let timer = null;
  let sequence = 0;

  function rows() { return Array.from(questions.querySelectorAll("[data-question]")); }

  // Give row i the names q-i-*, so the posted order is the order on screen.
  function renumber() {
    rows().forEach(function (row, i) {
      row.querySelectorAll("[name],[id],[for],[aria-describedby],[data-errors-for]").forEach(function (el) {
        ["name", "id", "for", "aria-describedby", "data-errors-for"].forEach(function (attr) {
          const value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(/q-\d+-/g, "q-" + i + "-"));
        });
      });
      row.querySelectorAll("button[data-move]").forEach(function (b) {
        b.value = b.dataset.move + ":" + i;
      });
      const number = row.querySelector("[data-number]");
      if (number) number.textContent = String(i + 1);
      row.querySelectorAll(".visually-hidden").forEach(function (span) {
        span.textContent = span.textContent.replace(/question \d+/, "question " + (i + 1));
      });
    });
  }

  // Show only the inputs that the chosen kind of question uses.
  function showForKind(row) {
    const kind = row.querySelector("[data-kind]").value;
    row.querySelectorAll("[data-show-for]").forEach(function (el) {
      const kinds = el.dataset.showFor.split(" ");
      const hasValue = Array.from(el.querySelectorAll("input,textarea")).some(function (i) { return i.value.trim() !== ""; });
      el.hidden = kinds.indexOf(kind) < 0 && !hasValue;
    });
  }

  function placeProblems(problems) {
    form.querySelectorAll("[data-errors-for]").forEach(function (box) { box.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
    const list = summary.querySelector("ul");
    list.textContent = "";
    problems.forEach(function (p) {
      const item = document.createElement("li");
      item.textContent = p.field + ": " + p.message;
      list.appendChild(item);
      const box = form.querySelector('[data-errors-for="' + p.input + '"]');
      if (!box) return;
      const line = document.createElement("p");
      line.className = "error field-error";
      line.id = p.input + "-error";
      line.textContent = p.message;
      box.appendChild(line);
      const input = document.getElementById(p.input);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", p.input + "-error");
      }
    });
    summary.querySelector("h2").textContent =
      "Please fix " + problems.length + " problem" + (problems.length === 1 ? "" : "s");
    summary.hidden = problems.length === 0;
  }

  async function refresh(source) {
    const mine = ++sequence;
    const data = new FormData(form);
    data.set("source", source);
    const response = await fetch(url, {
      method: "POST",
      body: data,
      headers: { "X-CSRFToken": token, "Accept": "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok || mine !== sequence) return;
    const body = await response.json();
    if (source === "form" && body.yaml !== null) {
      yaml.value = body.yaml;
    }
    if (source === "yaml" && body.form) {
      Object.keys(body.form).forEach(function (name) {
        const input = form.elements.namedItem(name);
        if (input && "value" in input) {
          if (input.tagName === "SELECT" && body.form[name] &&
              !Array.from(input.options).some(function (o) { return o.value === body.form[name]; })) {
            input.add(new Option(body.form[name], body.form[name]));
          }
          input.value = body.form[name];
        }
      });
      questions.innerHTML = body.rows_html;
      rows().forEach(showForKind);
    }
    placeProblems(body.problems);
    previews.innerHTML = body.previews_html;
  }

  function soon(source) {
    clearTimeout(timer);
    timer = setTimeout(function () { refresh(source); }, 300);
  }

  form.addEventListener("input", function (event) {
    if (event.target === yaml) soon("yaml");
    else soon("form");
  });
  form.addEventListener("change", function (event) {
    const row = event.target.closest("[data-question]");
    if (row && event.target.matches("[data-kind]")) showForKind(row);
    if (event.target !== yaml) soon("form");
  });

  // Add, move and remove questions in place; the same buttons post to the server without JS.
  form.addEventListener("click", function (event) {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.id === "add-question") {
      event.preventDefault();
      const fresh = blank.content.firstElementChild.cloneNode(true);
      questions.appendChild(fresh);
      renumber();
      showForKind(fresh);
      fresh.querySelector("input").focus();
      soon("form");
      return;
    }
    const move = button.dataset.move;
    if (!move) return;
    event.preventDefault();
    const row = button.closest("[data-question]");
    if (move === "remove") {
      row.remove();
    } else if (move === "up" && row.previousElementSibling) {
      questions.insertBefore(row, row.previousElementSibling);
    } else if (move === "down" && row.nextElementSibling) {
      questions.insertBefore(row.nextElementSibling, row);
    }
    renumber();
    button.focus();
    soon("form");
  });

  rows().forEach(showForKind);
})();
