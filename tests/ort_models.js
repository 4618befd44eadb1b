#!/usr/bin/env node
// ONNX Runtime (CPU) as a second oracle for the torchvision models of
// tests/gen_models.py: for every MODELS_DIR/<name>/ (model.onnx, input.npy,
// out_logits.npy from PyTorch in float64) runs the model and compares its logits
// with PyTorch's and with ours (OURS_DIR/<name>.npy from oracle_runner --dump):
// max |difference| <= 1e-4 of the logit range.  Exit 1 on any mismatch.
// usage: node tests/ort_models.js MODELS_DIR OURS_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.resolve(__dirname, '../bench/node_modules/onnxruntime-node'));

function readNpy(file) {   // little-endian float32, C order, format 1.x or 2.x
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(file + ': not a .npy file');
  const v = b[6], hl = v === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8), off = v === 1 ? 10 : 12;
  const h = b.toString('latin1', off, off + hl);
  if (!/'descr': '<f4'/.test(h) || /'fortran_order': True/.test(h)) throw new Error(file + ': not float32 C order');
  const shape = h.match(/'shape': \(([^)]*)\)/)[1].split(',').filter(s => s.trim()).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + off + hl, b.byteOffset + b.length));
  return { shape, data };
}

function maxDiff(a, b) { let m = 0; for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i] - b[i]); m = d > m || d !== d ? d : m; } return m; }

async function main() {
  const [dir, ours] = process.argv.slice(2);
  if (!ours) { console.error('usage: node ort_models.js MODELS_DIR OURS_DIR'); process.exit(2); }
  let bad = 0, n = 0;
  for (const name of fs.readdirSync(dir).sort()) {
    const d = path.join(dir, name);
    if (!fs.existsSync(path.join(d, 'model.onnx'))) continue;
    n++;
    const x = readNpy(path.join(d, 'input.npy')), ref = readNpy(path.join(d, 'out_logits.npy'));
    const sess = await ort.InferenceSession.create(path.join(d, 'model.onnx'), { executionProviders: ['cpu'] });
    const r = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) });
    const z = r[sess.outputNames[0]].data;
    let lo = Infinity, hi = -Infinity;
    for (const v of ref.data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const tol = 1e-4 * (hi - lo);
    const dt = maxDiff(z, ref.data);
    let line = `${name}: ORT vs PyTorch ${dt.toExponential(2)}`;
    let ok = z.length === ref.data.length && dt <= tol;
    const of = path.join(ours, name + '.npy');
    if (fs.existsSync(of)) {
      const o = readNpy(of).data, du = maxDiff(z, o);
      line += `, ORT vs contrastcam ${du.toExponential(2)}`;
      ok = ok && o.length === z.length && du <= tol;
    } else { line += ', no contrastcam logits'; ok = false; }
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${line} (tol ${tol.toExponential(2)})`);
    if (!ok) bad++;
  }
  console.log(`ONNX Runtime ${ort.env.versions ? ort.env.versions.common : ''}: ${n} models, ${bad} failed`);
  process.exit(bad || !n ? 1 : 0);
}
main().catch(e => { console.error(e.message || e); process.exit(1); });
