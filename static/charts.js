// Charts that filter: progressive enhancement of the SVG charts the server draws
// (app/web/charts.py, templates/partials/_charts.html). Without this file every bar is still a
// link to the grid with its filter; with it:
//   - in the grid, a bar sets the score's min/max inputs of the filter form and submits it
//     (htmx swaps the results, the facets and the charts), so the form never disagrees with
//     the URL; elsewhere (the overview) a bar is followed as the link it is;
//   - dragging across a histogram ("brushing") filters to the dragged range;
//   - arrow keys move between the bars of a chart (one tab stop per chart, not twenty);
//   - the charts reload only when the filter changed (not for a new page or order).
(() => {
  "use strict";

  const BRUSH_MIN_UNITS = 4; // a drag shorter than this (viewBox units) is a click
  const IGNORED = ["page", "after", "sort", "seed", "size"]; // do not change a histogram
  let brush = null; // the drag in progress
  let swallowClick = false; // the click that ends a brush is not a bar's click
  let pendingFocus = null; // {score, index}: the bar to focus once the charts reload

  const filterForm = () => document.getElementById("filters");

  function decimals(step) {
    const text = String(step);
    return text.includes(".") ? text.split(".")[1].length : 0;
  }

  function roundTo(value, step, base, mode) {
    const units = (value - base) / step;
    const n = mode === "floor" ? Math.floor(units + 1e-9) : Math.ceil(units - 1e-9);
    return String(parseFloat((base + n * step).toFixed(decimals(step))));
  }

  // Apply [min, max] ('' for an open end) to a score: through the grid's filter form when the
  // page has one, else by opening the grid's URL the server wrote on the chart.
  function applyRange(svg, score, min, max) {
    const form = filterForm();
    const low = form && form.elements.namedItem(`${score}_min`);
    const high = form && form.elements.namedItem(`${score}_max`);
    if (low && high) {
      low.value = min;
      high.value = max;
      if (form.requestSubmit) form.requestSubmit(); else htmx.trigger(form, "submit");
      return;
    }
    const url = new URL(svg.dataset.href, window.location.href);
    url.searchParams.delete(`${score}_min`);
    url.searchParams.delete(`${score}_max`);
    if (min !== "") url.searchParams.set(`${score}_min`, min);
    if (max !== "") url.searchParams.set(`${score}_max`, max);
    window.location.assign(url.toString());
  }

  // --- clicks on bars ---------------------------------------------------------------------------
  document.addEventListener("click", (event) => {
    if (swallowClick) {
      swallowClick = false;
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    // A bar, or its range in the chart's table.
    const bar = event.target.closest && event.target.closest("a[data-score][data-index]");
    if (!bar || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const form = filterForm();
    if (!form || !form.elements.namedItem(`${bar.dataset.score}_min`)) return; // a plain link
    event.preventDefault();
    if (event.detail === 0) pendingFocus = { score: bar.dataset.score, index: bar.dataset.index };
    const svg = document.querySelector(`#chart-${bar.dataset.score} svg.chart-svg`);
    applyRange(svg, bar.dataset.score, bar.dataset.min, bar.dataset.max);
  }, true);

  // --- brushing ---------------------------------------------------------------------------------
  function svgX(svg, event) {
    const matrix = svg.getScreenCTM();
    if (!matrix) return null;
    return new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse()).x;
  }

  function plotOf(svg) {
    const d = svg.dataset;
    return {
      x: parseFloat(d.plotX), y: parseFloat(d.plotY),
      width: parseFloat(d.plotWidth), height: parseFloat(d.plotHeight),
      low: parseFloat(d.low), high: parseFloat(d.high),
      limitLow: parseFloat(d.limitLow), step: parseFloat(d.step),
    };
  }

  function clampX(plot, x) {
    return Math.min(Math.max(x, plot.x), plot.x + plot.width);
  }

  // The dragged span as filter values: rounded outwards to the score's input step; an end
  // dragged to the plot's edge stays open (the outer bins hold everything beyond the axis).
  function rangeOf(plot, x1, x2) {
    const a = clampX(plot, Math.min(x1, x2));
    const b = clampX(plot, Math.max(x1, x2));
    const value = (x) => plot.low + ((x - plot.x) / plot.width) * (plot.high - plot.low);
    const min = a <= plot.x + 0.5 ? "" : roundTo(value(a), plot.step, plot.limitLow, "floor");
    let max = b >= plot.x + plot.width - 0.5 ? "" : roundTo(value(b), plot.step, plot.limitLow, "ceil");
    if (min !== "" && max !== "" && parseFloat(max) <= parseFloat(min)) {
      max = roundTo(parseFloat(min) + plot.step, plot.step, plot.limitLow, "floor");
    }
    return [min, max];
  }

  document.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const svg = event.target.closest && event.target.closest("svg.chart-svg[data-score]");
    if (!svg) return;
    const x = svgX(svg, event);
    if (x === null) return;
    brush = { svg, pointerId: event.pointerId, start: x, rect: null, plot: plotOf(svg) };
  });

  document.addEventListener("pointermove", (event) => {
    if (!brush || event.pointerId !== brush.pointerId) return;
    const x = svgX(brush.svg, event);
    if (x === null) return;
    if (!brush.rect) {
      if (Math.abs(x - brush.start) < BRUSH_MIN_UNITS) return;
      brush.rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      brush.rect.setAttribute("class", "chart-brush");
      brush.rect.setAttribute("y", brush.plot.y);
      brush.rect.setAttribute("height", brush.plot.height);
      brush.svg.appendChild(brush.rect);
      brush.svg.classList.add("is-brushing");
      try { brush.svg.setPointerCapture(event.pointerId); } catch (_) { /* already released */ }
    }
    const a = clampX(brush.plot, Math.min(brush.start, x));
    const b = clampX(brush.plot, Math.max(brush.start, x));
    brush.rect.setAttribute("x", a);
    brush.rect.setAttribute("width", Math.max(b - a, 1));
  });

  function endBrush(event, apply) {
    if (!brush || event.pointerId !== brush.pointerId) return;
    const current = brush;
    brush = null;
    if (!current.rect) return; // a click: the bar's link handles it
    current.svg.classList.remove("is-brushing");
    swallowClick = true;
    window.setTimeout(() => { swallowClick = false; }, 0);
    const x = svgX(current.svg, event);
    if (!apply || x === null) {
      current.rect.remove();
      return;
    }
    const [min, max] = rangeOf(current.plot, current.start, x);
    applyRange(current.svg, current.svg.dataset.score, min, max);
  }

  document.addEventListener("pointerup", (event) => endBrush(event, true));
  document.addEventListener("pointercancel", (event) => endBrush(event, false));
  // A bar is a link: without this, dragging across one would start dragging the link away.
  document.addEventListener("dragstart", (event) => {
    if (event.target.closest && event.target.closest("svg.chart-svg")) event.preventDefault();
  });

  // --- keyboard: one tab stop per chart, arrows between its bars --------------------------------
  function setUp(root) {
    root.querySelectorAll("svg.chart-svg").forEach((svg) => {
      const bars = Array.from(svg.querySelectorAll("a.chart-bar"));
      if (!bars.length || svg.dataset.roving) return;
      svg.dataset.roving = "1";
      bars.forEach((bar) => bar.setAttribute("tabindex", "-1"));
      bars[0].setAttribute("tabindex", "0");
    });
    if (pendingFocus) {
      const { score, index } = pendingFocus;
      const bar = root.querySelector &&
        root.querySelector(`a.chart-bar[data-score="${score}"][data-index="${index}"]`);
      if (bar) {
        pendingFocus = null;
        moveFocus(bar.closest("svg"), bar);
      }
    }
  }

  function moveFocus(svg, bar) {
    svg.querySelectorAll("a.chart-bar").forEach((other) => other.setAttribute("tabindex", "-1"));
    bar.setAttribute("tabindex", "0");
    bar.focus();
  }

  document.addEventListener("keydown", (event) => {
    const bar = event.target.closest && event.target.closest("a.chart-bar");
    if (!bar) return;
    const svg = bar.closest("svg");
    const bars = Array.from(svg.querySelectorAll("a.chart-bar"));
    const at = bars.indexOf(bar);
    const next = {
      ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1,
      Home: 0, End: bars.length - 1,
    }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    moveFocus(svg, bars[Math.min(Math.max(next, 0), bars.length - 1)]);
  });

  // --- the grid's charts follow the filter ------------------------------------------------------
  function filterKey(src) {
    if (!src) return null;
    const url = new URL(src, window.location.href);
    IGNORED.forEach((name) => url.searchParams.delete(name));
    url.searchParams.sort();
    return url.pathname + "?" + url.searchParams.toString();
  }

  // Every htmx answer of the grid carries the charts' slot out of band; keep the charts shown
  // when they already are the charts of that filter (a new page or order of the same records).
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const target = event.detail.target;
    if (!target || target.id !== "histograms") return;
    const fragment = event.detail.fragment;
    const incoming = fragment && (fragment.id === "histograms" ? fragment
      : fragment.querySelector && fragment.querySelector("#histograms"));
    if (!incoming) return;
    const shown = target.dataset.src || target.getAttribute("hx-get");
    if (filterKey(shown) === filterKey(incoming.getAttribute("hx-get"))) {
      event.detail.shouldSwap = false;
    }
  });

  document.addEventListener("htmx:load", (event) => setUp(event.detail.elt));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => setUp(document));
  } else {
    setUp(document);
  }
})();
