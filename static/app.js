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
