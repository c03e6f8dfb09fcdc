// The threshold lab's sliders (progressive enhancement: presets and the JSON twin work without it).
// - a ticked box turns its threshold on (a disabled slider is not part of the URL);
// - the value beside a slider follows it while it moves;
// - the slider last moved is the "focus", whose boundary strips the results show.
// Arrow keys move a focused slider by one step (native range inputs do this).
(function () {
  const form = document.getElementById("lab-form");
  if (!form) return;
  const focus = document.getElementById("lab-focus");
  const show = (slider) => {
    const output = form.querySelector(`output[for="${slider.id}"]`);
    if (output) output.textContent = slider.disabled ? "off" : slider.value;
  };
  form.addEventListener("input", (event) => {
    const target = event.target;
    if (target.classList && target.classList.contains("lab-slider")) {
      show(target);
      if (focus) focus.value = target.name;
    }
  });
  form.addEventListener("change", (event) => {
    const box = event.target;
    if (!box.classList || !box.classList.contains("lab-use")) return;
    const slider = document.getElementById(box.dataset.for);
    if (!slider) return;
    slider.disabled = !box.checked;
    show(slider);
    if (focus) focus.value = box.checked ? slider.name : "";
    if (box.checked) slider.focus();
  });
})();
