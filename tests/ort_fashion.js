#!/usr/bin/env node
// ONNX Runtime (CPU) on the shipped Fashion-MNIST model: predicts every test
// image and compares with our engine's predictions.
// usage: node tests/ort_fashion.js MODEL DATA_DIR OUT_DIR
//   OUT_DIR/pred.bin (int32 per image) and OUT_DIR/preprocess.txt ("mean std")
//   come from `train_tool eval`.  Prints agreement and accuracy; exit 1 when
//   fewer than 99.9% of the predictions agree.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require(path.resolve(__dirname, '../bench/node_modules/onnxruntime-node'));

function readIdx(file) {
  const raw = zlib.gunzipSync(fs.readFileSync(file));
  const nd = raw[3];
  const dims = [];
  for (let i = 0; i < nd; i++) dims.push(raw.readUInt32BE(4 + 4 * i));
  return { dims, data: raw.subarray(4 + 4 * nd) };
}

async function main() {
  const [model, data, out] = process.argv.slice(2);
  if (!out) { console.error('usage: node ort_fashion.js MODEL DATA_DIR OUT_DIR'); process.exit(2); }
  const [mean, std] = fs.readFileSync(path.join(out, 'preprocess.txt'), 'utf8').trim().split(/\s+/).map(Number);
  const images = readIdx(path.join(data, 't10k-images-idx3-ubyte.gz'));
  const labels = readIdx(path.join(data, 't10k-labels-idx1-ubyte.gz'));
  const ours = new Int32Array(fs.readFileSync(path.join(out, 'pred.bin')).buffer.slice(0));
  const n = ours.length, hw = images.dims[1] * images.dims[2];
  const sess = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
  const inName = sess.inputNames[0], outName = sess.outputNames[0];
  let agree = 0, right = 0;
  const disagree = [];
  const x = new Float32Array(hw);
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < hw; q++) x[q] = (images.data[i * hw + q] / 255 - mean) / std;
    const r = await sess.run({ [inName]: new ort.Tensor('float32', x, [1, 1, images.dims[1], images.dims[2]]) });
    const z = r[outName].data;
    let a = 0;
    for (let j = 1; j < z.length; j++) if (z[j] > z[a]) a = j;
    if (a === ours[i]) agree++; else if (disagree.length < 10) disagree.push(i);
    if (a === labels.data[i]) right++;
  }
  const frac = agree / n;
  console.log(`ONNX Runtime ${require(path.resolve(__dirname, '../bench/node_modules/onnxruntime-node/package.json')).version}: ` +
              `accuracy ${(right / n).toFixed(4)}, predictions agree with contrastcam on ${agree}/${n} (${(100 * frac).toFixed(2)}%)` +
              (disagree.length ? `; first disagreements at ${disagree.join(', ')}` : ''));
  process.exit(frac >= 0.999 ? 0 : 1);
}
main().catch((e) => { console.error(e); process.exit(1); });
