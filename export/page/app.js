// The ganzoo page: runs an exported generator (generator.onnx) in the browser with
// onnxruntime-web on WebAssembly, as model.json describes it (written by python -m export
// --format web). Needs to be served over HTTP (the runtime fetches its .wasm file), e.g.
//   python -m http.server --directory EXPORT/web 8000
//
// State lives in window.ganzoo, which tests read: the inputs and float output of the last
// generation, and how long loading and each generation took.
"use strict";

const ganzoo = (window.ganzoo = {
  ready: false, // the first grid is drawn
  error: null,
  generations: 0,
  timings: { load_ms: null, runs_ms: [] }, // runs_ms[0] is the first generation
  last: null, // {inputs: {name: {data, shape, dtype}}, output: {data, shape, dtype}}
});

const $ = (id) => document.getElementById(id);

// A seeded generator (mulberry32) and standard normal draws (Box-Muller), so that a seed gives
// the same latent vectors on every visit.
function rng(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    const u = 1 - uniform(); // (0, 1]: log(u) is finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return { uniform, normal };
}

const size = (shape) => shape.reduce((a, b) => a * b, 1);

// Spherical interpolation between two latent vectors (Gaussian latents keep their norm).
function slerp(a, b, t) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  const cos = Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb)));
  const omega = Math.acos(cos);
  const out = new Float32Array(a.length);
  if (omega < 1e-6) {
    for (let i = 0; i < a.length; i++) out[i] = (1 - t) * a[i] + t * b[i];
    return out;
  }
  const s = Math.sin(omega), wa = Math.sin((1 - t) * omega) / s, wb = Math.sin(t * omega) / s;
  for (let i = 0; i < a.length; i++) out[i] = wa * a[i] + wb * b[i];
  return out;
}

async function main() {
  const meta = await (await fetch("model.json")).json();
  const batch = meta.batch;
  $("title").textContent = `${meta.name} generator`;
  $("about").textContent = meta.about;
  document.title = `${meta.name} · ganzoo`;

  const examples = {};
  for (const input of meta.inputs.filter((i) => i.kind === "data")) {
    const bytes = new Uint8Array(await (await fetch(input.examples)).arrayBuffer());
    examples[input.name] = Float32Array.from(bytes, (v) => v / 127.5 - 1);
  }

  ort.env.wasm.wasmPaths = "./";
  ort.env.wasm.numThreads = 1; // threads need a cross-origin-isolated page; a static host is not
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(meta.onnx, { executionProviders: ["wasm"] });
  ganzoo.timings.load_ms = performance.now() - t0;

  const latent = meta.inputs.some((i) => i.kind === "normal" || i.kind === "code");
  const classInput = meta.inputs.find((i) => i.kind === "class");
  if (classInput) {
    const select = $("class");
    select.add(new Option("mixed", "mixed"));
    for (let c = 0; c < classInput.classes; c++) select.add(new Option(String(c), String(c)));
    $("class-picker").hidden = false;
    select.onchange = () => generate();
  }
  if (!latent) {
    $("interpolate").title = "this generator translates images: it has no latent to interpolate";
    $("interpolate").style.opacity = 0.5;
  }

  let seed = Number(new URLSearchParams(location.search).get("seed") || 0);
  let draws; // the two sets of latent inputs the slider moves between

  function draw(drawSeed) {
    const random = rng(drawSeed * 2654435761 + 1);
    const values = {};
    for (const input of meta.inputs) {
      const n = batch * size(input.shape.slice(1));
      if (input.kind === "normal") values[input.name] = Float32Array.from({ length: n }, random.normal);
      else if (input.kind === "code")
        values[input.name] = Float32Array.from({ length: n }, () => 2 * random.uniform() - 1);
      else if (input.kind === "class")
        values[input.name] = Int32Array.from({ length: batch }, () =>
          Math.floor(random.uniform() * input.classes));
    }
    return values;
  }

  function inputs() {
    const t = Number($("t").value) / 100;
    const feeds = {};
    const saved = {};
    for (const input of meta.inputs) {
      const shape = [batch, ...input.shape.slice(1)];
      const row = size(shape.slice(1));
      let data;
      if (input.kind === "normal" || input.kind === "code") {
        const [a, b] = [draws[0][input.name], draws[1][input.name]];
        data = new Float32Array(a.length);
        for (let i = 0; i < batch; i++) {
          const sa = a.subarray(i * row, (i + 1) * row), sb = b.subarray(i * row, (i + 1) * row);
          const mixed = input.kind === "normal" ? slerp(sa, sb, t) : sa.map((v, k) => (1 - t) * v + t * sb[k]);
          data.set(mixed, i * row);
        }
      } else if (input.kind === "class") {
        const picked = $("class").value;
        data = picked === "mixed" ? draws[0][input.name] : new Int32Array(batch).fill(Number(picked));
      } else {
        const all = examples[input.name];
        const count = all.length / row;
        data = new Float32Array(batch * row);
        for (let i = 0; i < batch; i++) {
          const k = (seed * batch + i) % count;
          data.set(all.subarray(k * row, (k + 1) * row), i * row);
        }
      }
      const type = input.dtype === "int32" ? "int32" : "float32";
      feeds[input.name] = new ort.Tensor(type, data, shape);
      saved[input.name] = { data: Array.from(data), shape, dtype: input.dtype };
    }
    return [feeds, saved];
  }

  let busy = false, again = false;
  async function generate() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const [feeds, saved] = inputs();
        const start = performance.now();
        const result = await session.run(feeds);
        ganzoo.timings.runs_ms.push(performance.now() - start);
        const image = result[meta.output.name];
        render(image, feeds);
        ganzoo.last = {
          inputs: saved,
          output: { data: Array.from(image.data), shape: image.dims, dtype: meta.output.dtype },
        };
        ganzoo.generations += 1;
      } while (again);
    } finally {
      busy = false;
    }
    const runs = ganzoo.timings.runs_ms;
    $("status").textContent =
      `${batch} samples in ${runs[runs.length - 1].toFixed(1)} ms (first: ${runs[0].toFixed(1)} ms, ` +
      `model load ${ganzoo.timings.load_ms.toFixed(0)} ms), onnxruntime-web ${meta.runtime} on WebAssembly`;
  }

  function render(image, feeds) {
    const [n, h, w, c] = image.dims;
    const grid = $("grid");
    grid.replaceChildren();
    const shown = meta.inputs.find((i) => i.kind === "data" && i.shape.length === 4);
    for (let i = 0; i < n; i++) {
      const cell = document.createElement("div");
      cell.className = "sample";
      if (shown) {
        const t = feeds[shown.name];
        cell.append(canvas(t.data, t.dims, i, "float32", "input"));
      }
      cell.append(canvas(image.data, image.dims, i, meta.output.dtype, "output"));
      grid.append(cell);
    }
  }

  // One sample of an NHWC tensor as a canvas at its own resolution (CSS scales it up):
  // floats in [-1, 1] become round((x + 1) * 127.5), clipped to [0, 255].
  function canvas(data, dims, i, dtype, role) {
    const [, h, w, c] = dims;
    const element = document.createElement("canvas");
    element.width = w;
    element.height = h;
    element.className = role;
    const context = element.getContext("2d");
    const pixels = context.createImageData(w, h);
    const offset = i * h * w * c;
    for (let p = 0; p < h * w; p++) {
      for (let k = 0; k < 3; k++) {
        const v = data[offset + p * c + (c === 1 ? 0 : k)];
        pixels.data[p * 4 + k] =
          dtype === "uint8" ? v : Math.min(255, Math.max(0, Math.round((v + 1) * 127.5)));
      }
      pixels.data[p * 4 + 3] = 255;
    }
    context.putImageData(pixels, 0, 0);
    return element;
  }

  function fresh() {
    draws = [draw(2 * seed), draw(2 * seed + 1)];
    $("t").value = 0;
  }

  $("new").onclick = () => { seed += 1; fresh(); generate(); };
  $("t").oninput = () => generate();
  fresh();
  await generate();
  $("new").disabled = false;
  $("t").disabled = !latent;
  ganzoo.ready = true;
}

main().catch((err) => {
  ganzoo.error = String((err && err.message) || err);
  $("status").textContent = `error: ${ganzoo.error}`;
  $("status").className = "error";
});
