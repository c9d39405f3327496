// A "Print" button (no inline script: the CSP allows none). The page's print styles do the rest.
document.querySelectorAll("[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
