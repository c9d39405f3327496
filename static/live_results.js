// Live results: while the poll is open, ask every few seconds whether anything changed (the
// server answers 304 when not, which costs it one small query) and swap in the redrawn results,
// rendered and escaped by the same template as the page. Pauses while the tab is hidden; stops
// when the poll closes. Without JavaScript the page reloads itself instead (<noscript>).
(function () {
  "use strict";
  const box = document.getElementById("live-results");
  const status = document.getElementById("live-status");
  if (!box || !box.dataset.liveUrl || !window.fetch) return;
  const url = box.dataset.liveUrl;
  let version = box.dataset.version || "";
  let every = 1000 * (Number(box.dataset.every) || 5);
  let failures = 0;

  function say(text) { if (status) status.textContent = text; }
  function clock() { return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }); }

  async function look() {
    if (document.hidden) { setTimeout(look, every); return; }
    try {
      const response = await fetch(url, {
        headers: { "Accept": "application/json", "If-None-Match": '"' + version + '"' },
        cache: "no-store",
        credentials: "same-origin",
      });
      if (response.status === 200) {
        const data = await response.json();
        version = data.version;
        if (Number(data.every) > 0) every = 1000 * Number(data.every);  // slower for big polls
        box.innerHTML = data.html;
        box.dataset.version = version;
        if (!data.open) { say("The poll is " + data.status + ": these are its results."); return; }
        say("The poll is open: updated at " + clock() + " as answers came in.");
      } else if (response.status !== 304) {
        throw new Error(String(response.status));
      }
      failures = 0;
    } catch (error) {
      failures += 1;
      say("Could not check for new answers; trying again shortly.");
    }
    setTimeout(look, every * Math.min(6, 1 + failures));
  }
  setTimeout(look, every);
})();
