#!/usr/bin/env node
// ONNX Runtime (CPU) anchor: median forward time of an ONNX model.
// usage: node bench/ort.js MODEL.onnx [iters=20] [warmup=3]
// Prints one JSON line: {"model":..., "median_ms":..., "min_ms":..., "iters":..., "load_ms":...}
'use strict';
const path = require('path');
const ort = require('onnxruntime-node');

// The benchmark input: 1x3x224x224, xorshift32(seed 12345) mapped to [-1, 1),
// identical in bench.c and torch_ref.py.
function benchInput(n) {
  const x = new Float32Array(n);
  let s = 12345 >>> 0;
  for (let i = 0; i < n; i++) {
    s ^= (s << 13) >>> 0; s >>>= 0;
    s ^= s >>> 17;
    s ^= (s << 5) >>> 0; s >>>= 0;
    x[i] = (s >>> 8) / 16777216 * 2 - 1;
  }
  return x;
}

async function main() {
  const [model, itersArg, warmArg] = process.argv.slice(2);
  if (!model) { console.error('usage: node ort.js MODEL.onnx [iters] [warmup]'); process.exit(2); }
  const iters = parseInt(itersArg || '20', 10);
  const warm = parseInt(warmArg || '3', 10);
  const t0 = process.hrtime.bigint();
  const sess = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: parseInt(process.env.ORT_THREADS || '2', 10),
    interOpNumThreads: 1,
    // graphOptimizationLevel left at its default ('all')
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const inName = sess.inputNames[0];
  const feeds = { [inName]: new ort.Tensor('float32', benchInput(3 * 224 * 224), [1, 3, 224, 224]) };
  let out;
  for (let i = 0; i < warm; i++) out = await sess.run(feeds);
  const times = [];
  for (let i = 0; i < iters; i++) {
    const t = process.hrtime.bigint();
    out = await sess.run(feeds);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  const m = times.length;
  const median = m % 2 ? times[(m - 1) / 2] : (times[m / 2 - 1] + times[m / 2]) / 2;
  const logits = out[sess.outputNames[0]].data;
  let arg = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[arg]) arg = i;
  console.log(JSON.stringify({
    model: path.basename(model), runtime: 'onnxruntime-node ' + ort.env.versions.node,
    median_ms: +median.toFixed(3), min_ms: +times[0].toFixed(3), iters, warmup: warm,
    load_ms: +loadMs.toFixed(1), argmax: arg, logit0: logits[0],
  }));
}
main().catch((e) => { console.error(e); process.exit(1); });
