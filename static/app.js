// Progressive enhancement only: every page works without this file.
// Empty form fields mean "no filter"; leaving them out keeps the pushed URLs readable.
document.addEventListener("htmx:configRequest", (event) => {
  if (event.detail.verb !== "get") return;
  const params = event.detail.parameters;
  for (const key of Array.from(params.keys ? params.keys() : Object.keys(params))) {
    const values = params.getAll ? params.getAll(key) : [params[key]];
    if (values.every((value) => value === "")) {
      if (params.delete) params.delete(key); else delete params[key];
    }
  }
});

// A <select data-submit-on-change> (the dataset switcher) submits its form when changed. An
// inline onchange= attribute would be refused by the Content-Security-Policy (no inline script).
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-submit-on-change")) {
    if (target.form) target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit();
  }
});

// --- Small screens and loading states (issue 13) ----------------------------------------------
// The grid's filters sit in a <details data-open-when-wide> (templates/pages/browse.html):
// closed on phones, where they would push the first image ~1,400 px down; opened here where
// the viewport is wide enough for the sidebar (the same 800 px break as static/app.css).
{
  const wide = window.matchMedia("(min-width: 801px)");
  const openWhenWide = () => {
    if (!wide.matches) return;
    for (const panel of document.querySelectorAll("details[data-open-when-wide]")) panel.open = true;
  };
  openWhenWide();
  if (wide.addEventListener) wide.addEventListener("change", openWhenWide);
}

// A search by an uploaded picture takes a second or two (the first one loads the model): the
// button says so and cannot be pressed twice. The form posts and the page is replaced; if the
// visitor comes back to it (the back/forward cache), the button is ready again.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("form.upload")) return;
  const button = form.querySelector("button[type=submit]");
  if (!button || button.disabled) return;
  button.dataset.label = button.textContent;
  button.textContent = "Searching…";
  button.disabled = true;
  form.setAttribute("aria-busy", "true");
});
window.addEventListener("pageshow", () => {
  for (const button of document.querySelectorAll("form.upload button[data-label]")) {
    button.textContent = button.dataset.label;
    button.disabled = false;
    button.closest("form").removeAttribute("aria-busy");
  }
});

// The grid's filters ask for results as they change: a box or a menu at once, typed words after
// a pause. A custom event rather than htmx trigger filters (change[...]): those are evaluated
// as code, which the Content-Security-Policy forbids.
(function () {
  let typing = null;
  const changed = (field) => {
    if (field.form && field.form.id === "filters" && window.htmx) {
      window.htmx.trigger(field.form, "filters-changed");
    }
  };
  document.addEventListener("change", (event) => {
    const field = event.target;
    if (field.classList && field.classList.contains("live-change")) changed(field);
  });
  document.addEventListener("input", (event) => {
    const field = event.target;
    if (!field.classList || !field.classList.contains("live-text")) return;
    clearTimeout(typing);
    typing = setTimeout(() => changed(field), 400);
  });
})();
