// The embedding map (templates/pages/map.html, app/web/map.py): a WebGL renderer of Loupe's
// own. No library: regl (under regl-scatterplot and deepscatter) compiles its draw commands
// with Function(), which the Content-Security-Policy (script-src 'self', no 'unsafe-eval')
// refuses; this file generates no code at run time.
//
//   - points: one gl.POINTS draw call per layer (the payload, and the detail of a zoomed-in
//     view when the server sent a sample) over vertex buffers of uint16 x/y, a uint8 colour
//     index and a uint8 flags byte; pan and zoom are two uniforms, the point size follows
//     the zoom; a 256-colour palette texture colours by cluster, language or a score;
//   - a density layer (a 256 x 256 texture of every visible point's count) under a sample;
//   - hover and click: picking on the CPU through a uniform grid over the points;
//   - box selection (shift-drag, or the Select mode) over the typed arrays, given to the
//     grid as a shareable `region` filter;
//   - window.loupeMap: the renderer's state, for tests and benches.
//
// The payload (/api/map/points) is little-endian; typed arrays are read in the platform's
// order, which is little-endian in every browser that runs WebGL.
(() => {
  "use strict";

  const root = document.getElementById("map-page");
  if (!root) return;
  root.classList.add("has-js");

  const QUANT = 65535;
  const MISSING = 255;
  const DETAIL_ZOOM = 2; // above this zoom a sampled map asks for its viewport's detail
  const MAX_ZOOM = 4000;
  const BACKGROUND = [0.984, 0.98, 0.969];
  const ds = root.dataset.ds;
  const kind = root.dataset.kind;
  let filters = new URLSearchParams(root.dataset.filters || "");
  let searchParams = new URLSearchParams(root.dataset.search || "");

  const $ = (id) => document.getElementById(id);
  const canvas = $("map-canvas");
  const stage = $("map-stage");
  const statusEl = $("map-status");
  const labelsEl = $("map-labels");
  const boxEl = $("map-box");
  const hoverEl = $("map-hover");
  const legendEl = $("map-legend");
  const countEl = $("map-count");
  const colourSelect = $("map-colour");

  const api = {
    ready: false,
    error: null,
    frames: 0,
    pointsDrawn: 0,
    firstFrameMs: null, // performance.now() of the first frame with points (ms since navigation)
    firstPresentedMs: null,
    loadedMs: null,
    payloadBytes: 0,
    colourBy: "cluster",
    selection: null, // {count, region, matching}
    hovered: null, // catalog position
    pinned: null,
  };
  window.loupeMap = api;

  // --- state -----------------------------------------------------------------------------
  let meta = null; // /api/map
  let token = null;
  let base = null; // the payload's layer
  let detail = null; // the viewport's layer (sampled maps only)
  let density = null; // {texture, width, height}
  let world = { wx: 1, wy: 1 }; // the layout's aspect: x spans wx, y spans wy (max 1)
  const view = { cx: 0.5, cy: 0.5, k: 1 };
  let dragMode = "pan";
  let dirty = true;

  // --- WebGL ------------------------------------------------------------------------------
  const gl =
    canvas.getContext("webgl2", { antialias: false, premultipliedAlpha: true }) ||
    canvas.getContext("webgl", { antialias: false, premultipliedAlpha: true });

  const POINT_VERTEX = `
attribute vec2 a_xy;
attribute float a_value;
attribute float a_flags;
uniform vec2 u_scale;
uniform vec2 u_offset;
uniform float u_size;
uniform float u_filtered;
varying float v_value;
varying float v_state;
void main() {
  gl_Position = vec4(a_xy * u_scale + u_offset, 0.0, 1.0);
  float match = mod(a_flags, 2.0);
  float hit = mod(floor(a_flags / 2.0), 2.0);
  float picked = mod(floor(a_flags / 4.0), 2.0);
  float state = (u_filtered > 0.5 && match < 0.5) ? 0.0 : 1.0;
  if (hit > 0.5 || picked > 0.5) state = 2.0;
  v_state = state;
  v_value = a_value;
  gl_PointSize = state > 1.5 ? u_size * 1.6 + 2.0 : u_size;
}`;
  const POINT_FRAGMENT = `
precision mediump float;
uniform sampler2D u_palette;
uniform float u_alpha;
varying float v_value;
varying float v_state;
void main() {
  vec2 d = gl_PointCoord - vec2(0.5);
  float r2 = dot(d, d);
  if (r2 > 0.25) discard;
  vec4 c = texture2D(u_palette, vec2((v_value + 0.5) / 256.0, 0.5));
  float a = u_alpha;
  if (v_state < 0.5) { c.rgb = mix(c.rgb, vec3(0.78), 0.75); a = 0.16; }
  else if (v_state > 1.5) { a = 1.0; if (r2 > 0.13) c.rgb = vec3(0.08); }
  gl_FragColor = vec4(c.rgb * a, a);
}`;
  const DENSITY_VERTEX = `
attribute vec2 a_corner;
uniform vec2 u_scale;
uniform vec2 u_offset;
varying vec2 v_uv;
void main() {
  v_uv = a_corner;
  gl_Position = vec4(a_corner * u_scale + u_offset, 0.0, 1.0);
}`;
  const DENSITY_FRAGMENT = `
precision mediump float;
uniform sampler2D u_density;
varying vec2 v_uv;
void main() {
  float v = texture2D(u_density, v_uv).r;
  float a = v * 0.55;
  gl_FragColor = vec4(vec3(0.25, 0.3, 0.42) * a, a);
}`;

  function compile(type, source) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
      throw new Error("shader: " + gl.getShaderInfoLog(shader));
    }
    return shader;
  }

  function program(vertex, fragment) {
    const p = gl.createProgram();
    gl.attachShader(p, compile(gl.VERTEX_SHADER, vertex));
    gl.attachShader(p, compile(gl.FRAGMENT_SHADER, fragment));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error("link: " + gl.getProgramInfoLog(p));
    const locations = { program: p };
    const count = gl.getProgramParameter(p, gl.ACTIVE_UNIFORMS);
    for (let i = 0; i < count; i++) {
      const name = gl.getActiveUniform(p, i).name;
      locations[name] = gl.getUniformLocation(p, name);
    }
    for (const name of ["a_xy", "a_value", "a_flags", "a_corner"]) {
      locations[name] = gl.getAttribLocation(p, name);
    }
    return locations;
  }

  let points = null;
  let densityProgram = null;
  let paletteTexture = null;
  let quad = null;
  if (gl) {
    try {
      points = program(POINT_VERTEX, POINT_FRAGMENT);
      densityProgram = program(DENSITY_VERTEX, DENSITY_FRAGMENT);
      paletteTexture = gl.createTexture();
      quad = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, quad);
      gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);
    } catch (error) {
      api.error = String(error);
    }
  } else {
    api.error = "no-webgl";
  }

  // --- colours ------------------------------------------------------------------------------
  // Categories: Tableau's 20 colours, then more by the golden angle.
  const CATEGORICAL = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  ].map(hex);
  // viridis, 9 stops: a sequential scale that stays readable in grey and for colour-blind eyes.
  const VIRIDIS = [
    "#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30",
    "#fde725",
  ].map(hex);
  const GREY = [0.62, 0.62, 0.62];
  const LIGHT_GREY = [0.8, 0.8, 0.8];

  function hex(text) {
    const n = parseInt(text.slice(1), 16);
    return [(n >> 16) / 255, ((n >> 8) & 255) / 255, (n & 255) / 255];
  }

  function categorical(i) {
    if (i < CATEGORICAL.length) return CATEGORICAL[i];
    const h = ((i * 137.508) % 360) / 360;
    return hsl(h, 0.55, 0.5);
  }

  function hsl(h, s, l) {
    const f = (n) => {
      const k = (n + h * 12) % 12;
      return l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    };
    return [f(0), f(8), f(4)];
  }

  function sequential(t) {
    const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const f = x - i;
    return [0, 1, 2].map((c) => VIRIDIS[i][c] * (1 - f) + VIRIDIS[i + 1][c] * f);
  }

  const LANGUAGE_COLOURS = 12; // the most frequent languages get their own colour

  function paletteFor(by) {
    const colours = [];
    for (let v = 0; v < 256; v++) {
      if (by === "cluster") colours.push(categorical(v % 64));
      else if (by === "language") {
        if (v === 0) colours.push(LIGHT_GREY);
        else if (v <= LANGUAGE_COLOURS) colours.push(categorical(v - 1));
        else colours.push(GREY);
      } else colours.push(v === MISSING ? LIGHT_GREY : sequential(v / 254));
    }
    return colours;
  }

  function uploadPalette(by) {
    if (!gl || !paletteTexture) return;
    const data = new Uint8Array(256 * 4);
    paletteFor(by).forEach((c, i) => {
      data[i * 4] = Math.round(c[0] * 255);
      data[i * 4 + 1] = Math.round(c[1] * 255);
      data[i * 4 + 2] = Math.round(c[2] * 255);
      data[i * 4 + 3] = 255;
    });
    gl.bindTexture(gl.TEXTURE_2D, paletteTexture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, data);
    setNearest();
  }

  function setNearest() {
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  }

  function css(c) {
    return `rgb(${Math.round(c[0] * 255)}, ${Math.round(c[1] * 255)}, ${Math.round(c[2] * 255)})`;
  }

  // --- the payload ----------------------------------------------------------------------------
  const TYPES = { uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array };

  function decode(buffer) {
    const bytes = new Uint8Array(buffer);
    const magic = new TextDecoder().decode(bytes.subarray(0, 8));
    if (magic !== "LOUPEMAP") throw new Error("not a map payload");
    const length = new DataView(buffer).getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
    const columns = {};
    for (const c of header.columns) {
      const Type = TYPES[c.type];
      columns[c.name] = new Type(buffer, c.offset, c.bytes / Type.BYTES_PER_ELEMENT);
    }
    if (header.density) {
      const d = header.density;
      columns.density = new Uint32Array(buffer, d.offset, d.width * d.height);
    }
    return { header, columns };
  }

  function query(extra) {
    const params = new URLSearchParams();
    params.set("ds", ds);
    params.set("kind", kind);
    for (const [k, v] of filters) params.append(k, v);
    for (const [k, v] of searchParams) params.append(k, v);
    for (const [k, v] of Object.entries(extra || {})) params.set(k, v);
    return params.toString();
  }

  async function fetchOk(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) {
      let detail = `${response.status}`;
      try {
        detail = (await response.json()).detail || detail;
      } catch (_) {
        /* not JSON */
      }
      throw new Error(detail);
    }
    return response;
  }

  async function fetchPayload(extra) {
    const response = await fetchOk("/api/map/points?" + query(extra));
    const buffer = await response.arrayBuffer();
    api.payloadBytes += buffer.byteLength;
    return decode(buffer);
  }

  // --- layers -----------------------------------------------------------------------------------
  function makeLayer(payload) {
    const { header, columns } = payload;
    const layer = {
      n: header.count,
      bbox: header.bbox,
      xy: columns.xy,
      pos: columns.pos,
      cluster: columns.cluster,
      language: columns.language,
      scores: {},
      flags: new Uint8Array(columns.flags),
      values: new Uint8Array(header.count),
      buffers: null,
    };
    for (const score of Object.keys(meta.scores)) layer.scores[score] = columns[score];
    layer.grid = buildGrid(layer);
    fillValues(layer);
    if (gl && points) {
      layer.buffers = { xy: gl.createBuffer(), value: gl.createBuffer(), flags: gl.createBuffer() };
      gl.bindBuffer(gl.ARRAY_BUFFER, layer.buffers.xy);
      gl.bufferData(gl.ARRAY_BUFFER, layer.xy, gl.STATIC_DRAW);
      uploadValues(layer);
      uploadFlags(layer);
    }
    return layer;
  }

  function dropLayer(layer) {
    if (layer && layer.buffers && gl) for (const b of Object.values(layer.buffers)) gl.deleteBuffer(b);
  }

  function fillValues(layer) {
    const by = api.colourBy;
    const out = layer.values;
    if (by === "cluster") {
      for (let i = 0; i < layer.n; i++) out[i] = layer.cluster[i] % 255;
    } else if (by === "language") {
      out.set(layer.language);
    } else {
      out.set(layer.scores[by]);
    }
  }

  function uploadValues(layer) {
    if (!layer.buffers) return;
    gl.bindBuffer(gl.ARRAY_BUFFER, layer.buffers.value);
    gl.bufferData(gl.ARRAY_BUFFER, layer.values, gl.DYNAMIC_DRAW);
  }

  function uploadFlags(layer) {
    if (!layer.buffers) return;
    gl.bindBuffer(gl.ARRAY_BUFFER, layer.buffers.flags);
    gl.bufferData(gl.ARRAY_BUFFER, layer.flags, gl.DYNAMIC_DRAW);
  }

  // A uniform grid over [0, 1]^2: the points of each cell, for picking near the pointer.
  function buildGrid(layer) {
    const n = layer.n;
    const size = Math.max(8, Math.min(1024, Math.round(Math.sqrt(n / 4))));
    const cellOf = new Uint32Array(n);
    const starts = new Uint32Array(size * size + 1);
    for (let i = 0; i < n; i++) {
      const cx = Math.min(size - 1, Math.floor((layer.xy[2 * i] * size) / 65536));
      const cy = Math.min(size - 1, Math.floor((layer.xy[2 * i + 1] * size) / 65536));
      const cell = cy * size + cx;
      cellOf[i] = cell;
      starts[cell + 1]++;
    }
    for (let c = 0; c < size * size; c++) starts[c + 1] += starts[c];
    const fill = starts.slice(0, size * size);
    const items = new Uint32Array(n);
    for (let i = 0; i < n; i++) items[fill[cellOf[i]]++] = i;
    return { size, starts, items };
  }

  // --- the view ---------------------------------------------------------------------------------
  function cssSize() {
    return { w: canvas.clientWidth || 1, h: canvas.clientHeight || 1 };
  }

  function pixelsPerUnit() {
    const { w, h } = cssSize();
    return Math.min(w / world.wx, h / world.wy) * 0.92 * view.k;
  }

  // Map units u in [0, 1]^2 (the uint16 coordinates / 65535) <-> CSS pixels in the canvas.
  function toScreen(ux, uy) {
    const { w, h } = cssSize();
    const ppu = pixelsPerUnit();
    return [w / 2 + (ux * world.wx - view.cx) * ppu, h / 2 - (uy * world.wy - view.cy) * ppu];
  }

  function toUnits(sx, sy) {
    const { w, h } = cssSize();
    const ppu = pixelsPerUnit();
    return [((sx - w / 2) / ppu + view.cx) / world.wx, ((h / 2 - sy) / ppu + view.cy) / world.wy];
  }

  function resetView() {
    view.cx = world.wx / 2;
    view.cy = world.wy / 2;
    view.k = 1;
    changed();
  }

  function zoomAt(sx, sy, factor) {
    const before = toUnits(sx, sy);
    view.k = Math.max(0.5, Math.min(MAX_ZOOM, view.k * factor));
    const after = toUnits(sx, sy);
    view.cx += (before[0] - after[0]) * world.wx;
    view.cy += (before[1] - after[1]) * world.wy;
    changed();
  }

  function panBy(dx, dy) {
    const ppu = pixelsPerUnit();
    view.cx -= dx / ppu;
    view.cy += dy / ppu;
    changed();
  }

  function changed() {
    dirty = true;
    requestAnimationFrame(frame);
    scheduleDetail();
  }

  function pointSize(n) {
    const basePx = n <= 2000 ? 8 : n <= 20000 ? 5 : n <= 200000 ? 3 : n <= 1000000 ? 1.7 : 1.3;
    return Math.max(1, Math.min(18, basePx * Math.pow(view.k, 0.4)));
  }

  // --- drawing ------------------------------------------------------------------------------------
  function resize() {
    const dpr = window.devicePixelRatio || 1;
    const { w, h } = cssSize();
    const width = Math.max(1, Math.round(w * dpr));
    const height = Math.max(1, Math.round(h * dpr));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      dirty = true;
    }
  }

  function transform() {
    const { w, h } = cssSize();
    const ppu = pixelsPerUnit();
    return {
      scale: [(world.wx * ppu * 2) / w, (world.wy * ppu * 2) / h],
      offset: [(-view.cx * ppu * 2) / w, (-view.cy * ppu * 2) / h],
    };
  }

  function render() {
    if (!gl || !points) return;
    resize();
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(BACKGROUND[0], BACKGROUND[1], BACKGROUND[2], 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const t = transform();
    if (density) {
      const p = densityProgram;
      gl.useProgram(p.program);
      gl.uniform2fv(p.u_scale, t.scale);
      gl.uniform2fv(p.u_offset, t.offset);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, density.texture);
      gl.uniform1i(p.u_density, 0);
      gl.bindBuffer(gl.ARRAY_BUFFER, quad);
      gl.enableVertexAttribArray(p.a_corner);
      gl.vertexAttribPointer(p.a_corner, 2, gl.FLOAT, false, 0, 0);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      gl.disableVertexAttribArray(p.a_corner);
    }
    const p = points;
    gl.useProgram(p.program);
    gl.uniform2fv(p.u_scale, t.scale);
    gl.uniform2fv(p.u_offset, t.offset);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, paletteTexture);
    gl.uniform1i(p.u_palette, 0);
    gl.uniform1f(p.u_filtered, root.dataset.filtered === "true" ? 1 : 0);
    const dpr = window.devicePixelRatio || 1;
    let drawn = 0;
    for (const layer of [base, detail]) {
      if (!layer || !layer.n || !layer.buffers) continue;
      const total = base && base.header ? base.header.total : layer.n;
      gl.uniform1f(p.u_size, pointSize(Math.min(total, layer === detail ? layer.n * 4 : total)) * dpr);
      gl.uniform1f(p.u_alpha, layer.n > 200000 ? 0.55 : layer.n > 20000 ? 0.75 : 0.9);
      bind(p.a_xy, layer.buffers.xy, 2, gl.UNSIGNED_SHORT, true);
      bind(p.a_value, layer.buffers.value, 1, gl.UNSIGNED_BYTE, false);
      bind(p.a_flags, layer.buffers.flags, 1, gl.UNSIGNED_BYTE, false);
      gl.drawArrays(gl.POINTS, 0, layer.n);
      drawn += layer.n;
    }
    for (const location of [p.a_xy, p.a_value, p.a_flags]) gl.disableVertexAttribArray(location);
    api.pointsDrawn = drawn;
    api.frames += 1;
    if (drawn && api.firstFrameMs === null) {
      gl.finish(); // the first frame's time is when its points are drawn, not when asked for
      api.firstFrameMs = performance.now();
      api.ready = true;
      requestAnimationFrame(() => {
        api.firstPresentedMs = performance.now(); // and the compositor's next frame
      });
    }
    placeLabels();
    placeRing();
  }

  function bind(location, buffer, size, type, normalized) {
    if (location < 0) return;
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.enableVertexAttribArray(location);
    gl.vertexAttribPointer(location, size, type, normalized, 0, 0);
  }

  function frame() {
    if (!dirty) return;
    dirty = false;
    render();
  }

  function uploadDensity(grid, width, height) {
    let max = 0;
    for (let i = 0; i < grid.length; i++) if (grid[i] > max) max = grid[i];
    const scale = max > 0 ? 255 / Math.log1p(max) : 0;
    const data = new Uint8Array(width * height);
    for (let i = 0; i < grid.length; i++) data[i] = grid[i] ? Math.max(24, Math.log1p(grid[i]) * scale) : 0;
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, width, height, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return { texture, width, height };
  }

  // --- cluster labels ---------------------------------------------------------------------------
  let labelNodes = [];

  function makeLabels() {
    labelsEl.replaceChildren();
    const [x0, y0, x1, y1] = meta.bounds;
    labelNodes = meta.clusters
      .filter((c) => c.size > 0 && c.label)
      .sort((a, b) => b.size - a.size)
      .map((c) => {
        const el = document.createElement("span");
        el.className = "map-label";
        el.textContent = c.label;
        labelsEl.append(el);
        return {
          el,
          ux: (c.centroid[0] - x0) / (x1 - x0 || 1),
          uy: (c.centroid[1] - y0) / (y1 - y0 || 1),
          width: 0,
        };
      });
  }

  // Largest regions first; a label that would overlap one already placed is left out.
  function placeLabels() {
    const { w, h } = cssSize();
    const placed = [];
    for (const label of labelNodes) {
      if (!label.width) label.width = label.el.offsetWidth || label.el.textContent.length * 7;
      const [sx, sy] = toScreen(label.ux, label.uy);
      const box = [sx - label.width / 2 - 4, sy - 10, sx + label.width / 2 + 4, sy + 10];
      const inside = box[0] >= 0 && box[2] <= w && box[1] >= 0 && box[3] <= h;
      const free = inside && placed.every((o) => box[2] < o[0] || box[0] > o[2] || box[3] < o[1] || box[1] > o[3]);
      label.el.hidden = !free;
      if (free) {
        placed.push(box);
        label.el.style.transform = `translate(${Math.round(sx)}px, ${Math.round(sy)}px) translate(-50%, -50%)`;
      }
    }
  }

  // --- legend -------------------------------------------------------------------------------------
  function renderLegend() {
    legendEl.replaceChildren();
    const by = api.colourBy;
    const title = document.createElement("h2");
    title.textContent = by === "cluster" ? "Regions" : by === "language" ? "Languages" : by;
    legendEl.append(title);
    const list = document.createElement("ul");
    list.className = "map-legend-list";
    const notes = [];
    const item = (colour, text) => {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "map-swatch";
      swatch.style.background = css(colour);
      li.append(swatch, document.createTextNode(text));
      list.append(li);
    };
    if (by === "cluster") {
      const shown = meta.clusters.filter((c) => c.size > 0).sort((a, b) => b.size - a.size);
      for (const c of shown.slice(0, 10)) item(categorical(c.id % 64), `${c.label || "cluster " + c.id} (${c.size.toLocaleString()})`);
      if (shown.length > 10) note(`and ${shown.length - 10} more regions, listed below`);
    } else if (by === "language") {
      const languages = meta.languages;
      for (let i = 1; i < Math.min(languages.length, LANGUAGE_COLOURS + 1); i++) item(categorical(i - 1), languages[i]);
      if (languages.length > LANGUAGE_COLOURS + 1) item(GREY, `${languages.length - 1 - LANGUAGE_COLOURS} other languages`);
      item(LIGHT_GREY, "none detected");
    } else {
      const [low, high] = meta.scores[by];
      const bar = document.createElement("div");
      bar.className = "map-gradient";
      bar.style.background = `linear-gradient(to right, ${VIRIDIS.map(css).join(", ")})`;
      const ends = document.createElement("p");
      ends.className = "map-gradient-ends";
      const lowEl = document.createElement("span");
      lowEl.textContent = String(low);
      const highEl = document.createElement("span");
      highEl.textContent = String(high);
      ends.append(lowEl, highEl);
      legendEl.append(bar, ends);
      if (by === "punsafe") {
        note(`Pictures above ${root.dataset.punsafeThreshold} are blurred in the cards.`);
      }
      item(LIGHT_GREY, "no score");
    }
    if (root.dataset.filtered === "true") {
      note("Faded points do not match the filters; outlined ones are a search's results.");
    }
    legendEl.append(list, ...notes);

    function note(text) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = text;
      notes.push(p);
    }
  }

  function setColourBy(by) {
    api.colourBy = by;
    uploadPalette(by);
    for (const layer of [base, detail]) {
      if (!layer) continue;
      fillValues(layer);
      uploadValues(layer);
    }
    renderLegend();
    changed();
  }

  // --- picking ------------------------------------------------------------------------------------
  function pick(sx, sy) {
    const size = pointSize(base ? base.header.total : 1);
    const radius = Math.max(6, size / 2 + 3);
    const ppu = pixelsPerUnit();
    const [ux, uy] = toUnits(sx, sy);
    const rx = radius / (ppu * world.wx);
    const ry = radius / (ppu * world.wy);
    const filtered = root.dataset.filtered === "true";
    let best = null;
    for (const layer of [detail, base]) {
      if (!layer || !layer.n) continue;
      const g = layer.grid;
      const c0 = Math.max(0, Math.floor((ux - rx) * g.size));
      const c1 = Math.min(g.size - 1, Math.floor((ux + rx) * g.size));
      const r0 = Math.max(0, Math.floor((uy - ry) * g.size));
      const r1 = Math.min(g.size - 1, Math.floor((uy + ry) * g.size));
      for (let r = r0; r <= r1; r++) {
        for (let c = c0; c <= c1; c++) {
          const cell = r * g.size + c;
          for (let k = g.starts[cell]; k < g.starts[cell + 1]; k++) {
            const i = g.items[k];
            const [px, py] = toScreen(layer.xy[2 * i] / QUANT, layer.xy[2 * i + 1] / QUANT);
            const d = (px - sx) ** 2 + (py - sy) ** 2;
            if (d > radius * radius) continue;
            // Points that match the filters are preferred over faded ones.
            const rank = filtered && !(layer.flags[i] & 1) ? d + 1e6 : d;
            if (!best || rank < best.rank) best = { layer, i, rank, pos: layer.pos[i] };
          }
        }
      }
    }
    return best;
  }

  function canvasPoint(event) {
    const rect = canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  // --- the hover card -------------------------------------------------------------------------
  const cards = new Map();
  let cardTimer = null;
  let cardRequest = null;

  function showCard(pos, pinned) {
    api.hovered = pos;
    if (pinned) api.pinned = pos;
    clearTimeout(cardTimer);
    const cached = cards.get(pos);
    if (cached !== undefined) {
      putCard(pos, cached);
      return;
    }
    cardTimer = setTimeout(async () => {
      if (cardRequest) cardRequest.abort();
      cardRequest = new AbortController();
      try {
        const response = await fetch(`/map/card?ds=${encodeURIComponent(ds)}&pos=${pos}`, {
          credentials: "same-origin",
          signal: cardRequest.signal,
        });
        const html = response.ok ? await response.text() : "";
        if (cards.size > 300) cards.clear();
        cards.set(pos, html);
        if (api.hovered === pos) putCard(pos, html);
      } catch (_) {
        /* aborted: another point is hovered */
      }
    }, 60);
  }

  function putCard(pos, html) {
    // The card is the server's own partial (partials/_card.html, autoescaped), so a
    // picture above the punsafe threshold comes blurred exactly as in the grid.
    const template = document.createElement("template");
    template.innerHTML = html;
    hoverEl.replaceChildren(template.content);
    $("map-point").hidden = !html;
    $("map-point-open").href = `/map/point?ds=${encodeURIComponent(ds)}&pos=${pos}`;
    placeRing();
  }

  // A ring around the point whose card is shown.
  function placeRing() {
    const ring = $("map-ring");
    const pos = api.pinned ?? api.hovered;
    const at = pos === null || pos === undefined ? null : locate(pos);
    ring.hidden = !at;
    if (at) ring.style.transform = `translate(${Math.round(at[0])}px, ${Math.round(at[1])}px) translate(-50%, -50%)`;
  }

  // The canvas pixel of the point at catalog position ``pos`` (null when not loaded).
  function locate(pos) {
    for (const layer of [detail, base]) {
      if (!layer) continue;
      for (let i = 0; i < layer.n; i++) {
        if (layer.pos[i] === pos) return toScreen(layer.xy[2 * i] / QUANT, layer.xy[2 * i + 1] / QUANT);
      }
    }
    return null;
  }

  // --- pointer and keyboard ---------------------------------------------------------------------
  const pointers = new Map();
  let gesture = null; // {type: "pan" | "box" | "pinch", ...}

  canvas.addEventListener("pointerdown", (event) => {
    // A mouse is one pointer: a press whose release happened elsewhere (on a link, in
    // another page before Back) leaves nothing behind.
    if (event.pointerType === "mouse") pointers.clear();
    canvas.setPointerCapture(event.pointerId);
    const [sx, sy] = canvasPoint(event);
    pointers.set(event.pointerId, [sx, sy]);
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      gesture = { type: "pinch", distance: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: mid(a, b) };
      boxEl.hidden = true;
      return;
    }
    const box = dragMode === "select" || event.shiftKey;
    gesture = { type: box ? "box" : "pan", start: [sx, sy], last: [sx, sy], moved: false };
  });

  canvas.addEventListener("pointermove", (event) => {
    const [sx, sy] = canvasPoint(event);
    if (!pointers.has(event.pointerId)) {
      hoverAt(sx, sy);
      return;
    }
    pointers.set(event.pointerId, [sx, sy]);
    if (!gesture) return;
    if (gesture.type === "pinch" && pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
      const m = mid(a, b);
      panBy(m[0] - gesture.mid[0], m[1] - gesture.mid[1]);
      if (gesture.distance > 0) zoomAt(m[0], m[1], distance / gesture.distance);
      gesture.distance = distance;
      gesture.mid = m;
      return;
    }
    const moved = Math.hypot(sx - gesture.start[0], sy - gesture.start[1]) > 4;
    gesture.moved = gesture.moved || moved;
    if (gesture.type === "pan" && gesture.moved) {
      panBy(sx - gesture.last[0], sy - gesture.last[1]);
    } else if (gesture.type === "box" && gesture.moved) {
      drawBox(gesture.start, [sx, sy]);
    }
    gesture.last = [sx, sy];
  });

  function endPointer(event) {
    const [sx, sy] = canvasPoint(event);
    pointers.delete(event.pointerId);
    const g = gesture;
    if (pointers.size > 0) return;
    gesture = null;
    if (!g || g.type === "pinch") return;
    if (g.type === "box" && g.moved) {
      boxEl.hidden = true;
      selectBox(g.start, [sx, sy]);
      return;
    }
    if (!g.moved && event.type === "pointerup") {
      const hit = pick(sx, sy);
      if (!hit) return;
      if (dragMode === "select") showCard(hit.pos, true);
      else openPoint(hit.pos);
    }
  }
  canvas.addEventListener("pointerup", endPointer);
  canvas.addEventListener("pointercancel", endPointer);

  function mid(a, b) {
    return [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  }

  let hoverFrame = null;
  function hoverAt(sx, sy) {
    if (hoverFrame) return;
    hoverFrame = requestAnimationFrame(() => {
      hoverFrame = null;
      const hit = pick(sx, sy);
      canvas.classList.toggle("is-over-point", Boolean(hit));
      if (hit && hit.pos !== api.hovered) showCard(hit.pos, false);
    });
  }

  function openPoint(pos) {
    window.location.assign(`/map/point?ds=${encodeURIComponent(ds)}&pos=${pos}`);
  }

  canvas.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const [sx, sy] = canvasPoint(event);
      const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      zoomAt(sx, sy, Math.exp(-delta * 0.0015));
    },
    { passive: false },
  );

  canvas.addEventListener("keydown", (event) => {
    const { w, h } = cssSize();
    const step = 60;
    const keys = {
      ArrowLeft: () => panBy(step, 0),
      ArrowRight: () => panBy(-step, 0),
      ArrowUp: () => panBy(0, step),
      ArrowDown: () => panBy(0, -step),
      "+": () => zoomAt(w / 2, h / 2, 1.4),
      "=": () => zoomAt(w / 2, h / 2, 1.4),
      "-": () => zoomAt(w / 2, h / 2, 1 / 1.4),
      0: resetView,
      Enter: () => {
        const pos = api.pinned ?? api.hovered;
        if (pos !== null && pos !== undefined) openPoint(pos);
      },
    };
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  // --- box selection --------------------------------------------------------------------------
  function drawBox(a, b) {
    boxEl.hidden = false;
    boxEl.style.left = `${Math.min(a[0], b[0])}px`;
    boxEl.style.top = `${Math.min(a[1], b[1])}px`;
    boxEl.style.width = `${Math.abs(a[0] - b[0])}px`;
    boxEl.style.height = `${Math.abs(a[1] - b[1])}px`;
  }

  // The box in uint16 steps, and the region that holds exactly those steps: each edge half a
  // step outside the outermost step inside, so the server (float coordinates) and this page
  // (rounded ones) agree on which points are in it.
  function selectBox(a, b) {
    const [ux0, uy1] = toUnits(Math.min(a[0], b[0]), Math.min(a[1], b[1]));
    const [ux1, uy0] = toUnits(Math.max(a[0], b[0]), Math.max(a[1], b[1]));
    const q = {
      x0: Math.max(0, Math.ceil(ux0 * QUANT)),
      x1: Math.min(QUANT, Math.floor(ux1 * QUANT)),
      y0: Math.max(0, Math.ceil(uy0 * QUANT)),
      y1: Math.min(QUANT, Math.floor(uy1 * QUANT)),
    };
    if (q.x0 > q.x1 || q.y0 > q.y1) return;
    let count = 0;
    let matching = 0;
    for (const layer of [base, detail]) {
      if (!layer) continue;
      for (let i = 0; i < layer.n; i++) {
        const x = layer.xy[2 * i];
        const y = layer.xy[2 * i + 1];
        const inside = x >= q.x0 && x <= q.x1 && y >= q.y0 && y <= q.y1;
        layer.flags[i] = inside ? layer.flags[i] | 4 : layer.flags[i] & ~4;
        if (inside && layer === base) {
          count++;
          if (layer.flags[i] & 1) matching++;
        }
      }
      uploadFlags(layer);
    }
    const [bx0, by0, bx1, by1] = meta.bounds;
    const at = (low, high, steps) => low + (steps / QUANT) * (high - low);
    const region =
      `${kind}:${fixed(at(bx0, bx1, q.x0 - 0.5))},${fixed(at(by0, by1, q.y0 - 0.5))},` +
      `${fixed(at(bx0, bx1, q.x1 + 0.5))},${fixed(at(by0, by1, q.y1 + 0.5))}`;
    api.selection = { count, matching, region, sampled: Boolean(meta.sampled) };
    showSelection();
    changed();
  }

  function fixed(value) {
    return value.toFixed(9);
  }

  function gridUrl(region) {
    const params = new URLSearchParams();
    params.set("ds", ds);
    for (const [k, v] of filters) if (k !== "region") params.append(k, v);
    for (const [k, v] of searchParams) params.append(k, v);
    if (region) params.set("region", region);
    return "/?" + params.toString();
  }

  async function showSelection() {
    const section = $("map-selection");
    const s = api.selection;
    if (!s) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const about = s.sampled ? "about " : "";
    let text = `${about}${s.count.toLocaleString()} point${s.count === 1 ? "" : "s"} in the box`;
    if (root.dataset.filtered === "true") text += `, ${about}${s.matching.toLocaleString()} of them matching the filters`;
    $("map-selection-count").textContent = text + ".";
    $("map-open-grid").href = gridUrl(s.region);
    if (s.sampled) {
      // A sample holds only some of the points: the server counts them all.
      try {
        const response = await fetchOk("/api/map?" + query({ region: s.region }));
        const info = await response.json();
        if (api.selection === s) {
          s.matching = info.points;
          $("map-selection-count").textContent = `${info.points.toLocaleString()} records in the box match the filters.`;
        }
      } catch (_) {
        /* the estimate stays */
      }
    }
  }

  function clearSelection() {
    api.selection = null;
    for (const layer of [base, detail]) {
      if (!layer) continue;
      for (let i = 0; i < layer.n; i++) layer.flags[i] &= ~4;
      uploadFlags(layer);
    }
    showSelection();
    changed();
  }

  // --- detail of a zoomed-in, sampled map ---------------------------------------------------------
  let detailTimer = null;
  let detailKey = null;

  function scheduleDetail() {
    if (!meta || !meta.sampled) return;
    clearTimeout(detailTimer);
    detailTimer = setTimeout(loadDetail, 250);
  }

  async function loadDetail() {
    if (view.k < DETAIL_ZOOM) {
      if (detail) {
        dropLayer(detail);
        detail = null;
        detailKey = null;
        changed();
      }
      return;
    }
    const { w, h } = cssSize();
    const [ux0, uy1] = toUnits(0, 0);
    const [ux1, uy0] = toUnits(w, h);
    const [bx0, by0, bx1, by1] = meta.bounds;
    const bbox = [
      bx0 + ux0 * (bx1 - bx0),
      by0 + uy0 * (by1 - by0),
      bx0 + ux1 * (bx1 - bx0),
      by0 + uy1 * (by1 - by0),
    ].map((v) => v.toFixed(6));
    const key = bbox.join(",");
    if (key === detailKey) return;
    detailKey = key;
    try {
      const payload = await fetchPayload({ bbox: key });
      if (detailKey !== key) return;
      dropLayer(detail);
      detail = makeLayer(payload);
      changed();
    } catch (error) {
      setStatus(`Could not load the detail: ${error.message}`);
    }
  }

  // --- filters and searches -----------------------------------------------------------------------
  async function refreshFlags() {
    setStatus("Finding the matching points…");
    const filtered = [...filters.keys()].length > 0 || searchParams.has("like") || searchParams.has("vec") || searchParams.get("mode") === "meaning";
    root.dataset.filtered = filtered ? "true" : "false";
    try {
      const [info, flags, detailFlags] = await Promise.all([
        fetchOk("/api/map?" + query()).then((r) => r.json()),
        fetchPayload({ fields: "flags" }),
        detail ? fetchPayload({ fields: "flags", bbox: detailKey }) : Promise.resolve(null),
      ]);
      if (info.token !== token || flags.header.token !== token) {
        await load(); // the visible points changed meanwhile: start over
        return;
      }
      applyFlags(base, flags.columns.flags);
      if (detail && detailFlags) applyFlags(detail, detailFlags.columns.flags);
      meta.points = info.points;
      updateCount(info);
      updateLinks();
      renderLegend();
      if (api.selection) showSelection();
      setStatus("");
      changed();
    } catch (error) {
      setStatus(`Could not apply the filters: ${error.message}`);
    }
    const address = "/map?" + query();
    history.replaceState(null, "", address);
  }

  // The links the server wrote for the filters of the first request follow the new ones:
  // the filter line, each region's link to the grid, the other kind's map.
  function updateLinks() {
    const line = $("map-filters");
    if (line) {
      const items = [...filters, ...searchParams];
      line.classList.toggle("muted", !items.length);
      if (!items.length) {
        line.replaceChildren(document.createTextNode("No filter: every visible record is a point."));
      } else {
        const parts = [document.createTextNode("Filters: ")];
        for (const [k, v] of items) {
          const code = document.createElement("code");
          code.textContent = `${k}=${v}`;
          parts.push(code, document.createTextNode(" "));
        }
        const grid = document.createElement("a");
        grid.href = gridUrl(filters.get("region"));
        grid.textContent = "these records in the grid";
        const clear = document.createElement("a");
        clear.href = `/map?ds=${encodeURIComponent(ds)}&kind=${encodeURIComponent(kind)}`;
        clear.textContent = "clear";
        parts.push(document.createTextNode("· "), grid, document.createTextNode(" · "), clear);
        line.replaceChildren(...parts);
      }
    }
    for (const link of document.querySelectorAll(".map-region-list a")) {
      const region = new URL(link.href, location.href).searchParams.get("region");
      link.href = gridUrl(region);
    }
    for (const link of document.querySelectorAll(".map-kinds a")) {
      const other = new URL(link.href, location.href).searchParams.get("kind");
      const params = new URLSearchParams(query());
      params.set("kind", other);
      link.href = "/map?" + params.toString();
    }
  }

  function applyFlags(layer, flags) {
    for (let i = 0; i < layer.n; i++) layer.flags[i] = (flags[i] & 3) | (layer.flags[i] & 4);
    uploadFlags(layer);
  }

  function updateCount(info) {
    const strong = document.createElement("strong");
    let text;
    if (root.dataset.filtered === "true") {
      strong.textContent = info.points.toLocaleString();
      const what = info.selection === "nearest" ? "the search by meaning (its nearest records)" : info.selection === "search" ? "the caption search and filters" : "the filters";
      text = ` of ${info.total.toLocaleString()} points match ${what}`;
    } else {
      strong.textContent = info.total.toLocaleString();
      text = " points, one per visible record";
    }
    if (info.sampled) {
      text += ` · a sample of ${info.payload_points.toLocaleString()} is drawn, with the density of all; zoom in for detail`;
    }
    countEl.replaceChildren(strong, document.createTextNode(text + "."));
  }

  const form = $("map-search");
  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const next = new URLSearchParams();
      const nextSearch = new URLSearchParams();
      for (const [k, v] of data) {
        if (k === "ds" || k === "kind" || v === "") continue;
        if (k === "mode" || k === "space") nextSearch.append(k, String(v));
        else next.append(k, String(v));
      }
      filters = next;
      searchParams = nextSearch;
      refreshFlags();
    });
  }

  const likeButton = $("map-point-like");
  if (likeButton) {
    likeButton.addEventListener("click", () => {
      const card = hoverEl.querySelector("[data-sample-id]");
      if (!card) return;
      searchParams = new URLSearchParams({ like: card.dataset.sampleId });
      filters.delete("q");
      refreshFlags();
    });
  }

  // --- controls ---------------------------------------------------------------------------------
  function setMode(mode) {
    dragMode = mode;
    $("map-mode-pan").setAttribute("aria-pressed", String(mode === "pan"));
    $("map-mode-select").setAttribute("aria-pressed", String(mode === "select"));
    canvas.classList.toggle("is-selecting", mode === "select");
  }
  $("map-mode-pan").addEventListener("click", () => setMode("pan"));
  $("map-mode-select").addEventListener("click", () => setMode("select"));
  $("map-reset").addEventListener("click", resetView);
  $("map-clear-selection").addEventListener("click", clearSelection);
  colourSelect.addEventListener("change", () => setColourBy(colourSelect.value));

  function setStatus(text) {
    statusEl.textContent = text;
    statusEl.hidden = !text;
  }

  // --- loading ----------------------------------------------------------------------------------
  async function load() {
    if (!gl || !points) {
      setStatus("This browser cannot draw the map (WebGL is off or missing). Its regions are listed beside it; each opens the grid.");
      return;
    }
    const started = performance.now();
    try {
      const [info, payload] = await Promise.all([
        fetchOk("/api/map?" + query()).then((r) => r.json()),
        fetchPayload(),
      ]);
      meta = info;
      token = payload.header.token;
      const [x0, y0, x1, y1] = info.bounds;
      const span = Math.max(x1 - x0, y1 - y0) || 1;
      world = { wx: (x1 - x0) / span || 1, wy: (y1 - y0) / span || 1 };
      dropLayer(base);
      dropLayer(detail);
      detail = null;
      base = makeLayer(payload);
      base.header = payload.header;
      density = payload.columns.density
        ? uploadDensity(payload.columns.density, payload.header.density.width, payload.header.density.height)
        : null;
      api.loadedMs = performance.now() - started;
      makeLabels();
      uploadPalette(api.colourBy);
      renderLegend();
      updateCount(info);
      setStatus(base.n ? "" : "No point to draw: every record of this map is hidden or filtered out.");
      view.cx = world.wx / 2;
      view.cy = world.wy / 2;
      view.k = 1;
      dirty = true;
      render();
    } catch (error) {
      api.error = error.message;
      setStatus(`The map cannot be drawn: ${error.message}`);
    }
  }

  // --- for tests and benches --------------------------------------------------------------------
  api.screenOf = (pos) => {
    const at = locate(pos);
    if (!at) return null;
    const rect = canvas.getBoundingClientRect();
    return { x: rect.left + at[0], y: rect.top + at[1] };
  };
  api.pointAt = (clientX, clientY) => {
    const rect = canvas.getBoundingClientRect();
    const hit = pick(clientX - rect.left, clientY - rect.top);
    return hit ? hit.pos : null;
  };
  api.positions = () => (base ? Array.from(base.pos) : []);
  api.view = view;
  // Pixels of the canvas that are not the background, read right after drawing.
  api.countLitPixels = () => {
    if (!gl) return 0;
    render();
    const data = new Uint8Array(canvas.width * canvas.height * 4);
    gl.readPixels(0, 0, canvas.width, canvas.height, gl.RGBA, gl.UNSIGNED_BYTE, data);
    const bg = BACKGROUND.map((c) => Math.round(c * 255));
    let lit = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - bg[0]) + Math.abs(data[i + 1] - bg[1]) + Math.abs(data[i + 2] - bg[2]) > 12) lit++;
    }
    return lit;
  };
  api.setColourBy = setColourBy;
  api.zoomAt = zoomAt;

  if (typeof ResizeObserver === "function") {
    new ResizeObserver(() => {
      dirty = true;
      requestAnimationFrame(frame);
    }).observe(stage);
  }
  // Back to this page from the back/forward cache: no gesture is under way.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    pointers.clear();
    gesture = null;
    boxEl.hidden = true;
    changed();
  });
  setMode("pan");
  load();
})();
