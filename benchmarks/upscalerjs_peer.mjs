#!/usr/bin/env node
// UpscalerJS 1.0 held warm in one Node process, driven by benchmarks/peers.py.
//
//   node upscalerjs_peer.mjs <harness dir> <backend> <model>
//
// <harness dir> is a copy of the UpscalerJS peer harness after `npm ci` (and, for the
// `tensorflow` backend, after its build_tfjs_node.sh); every package is resolved from
// there, so this file needs nothing installed beside it. <backend>: tensorflow (the
// native addon, what `upscaler/node` users get), wasm (1 thread, SIMD) or cpu.
// <model>: the harness's names, e.g. esrgan-slim/2x, esrgan-legacy/gans.
//
// Why a server and not the harness's run.mjs: run.mjs is one process per configuration,
// so its runs cannot alternate with ours round by round; a warm process answering one
// command at a time can, and its model stays loaded and traced between rounds, as ours
// does. The backend set-up below is run.mjs's (the same redirect and file:// loader),
// so the two time the same code: upscaler.upscale() on an already decoded int32 tensor
// plus reading the float result back; no PNG decode or encode.
//
// Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.
//   (start)                                   -> {"ready": true, "backend", "tfjs", ...}
//   {"op": "input", "path", "height", "width"} -> {"ok": true}   raw uint8 RGB, row-major
//   {"op": "run"}                              -> {"ms": N}       one timed upscale
//   {"op": "save", "path"}                     -> {"shape": [h, w, c]}  float32 raw result
// Errors reply {"error": "..."}; end of stdin ends the process.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';

const [harness, backend, modelName] = process.argv.slice(2);
if (!harness || !['tensorflow', 'wasm', 'cpu'].includes(backend) || !modelName) {
  process.stderr.write('usage: node upscalerjs_peer.mjs <harness dir> tensorflow|wasm|cpu <model>\n');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(harness), 'package.json'));

let tf;
if (backend === 'tensorflow') {
  tf = require('@tensorflow/tfjs-node');
} else {
  // upscaler/node requires @tensorflow/tfjs-node; give it plain tfjs (same 4.11 API).
  const Module = require('node:module');
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function redirect(request, ...rest) {
    return resolve.call(this, request === '@tensorflow/tfjs-node' ? '@tensorflow/tfjs' : request, ...rest);
  };
  tf = require('@tensorflow/tfjs');
  tf.io.registerLoadRouter((url) => {
    if (typeof url !== 'string' || !url.startsWith('file://')) return null;
    const jsonPath = url.slice('file://'.length);
    return {
      load: async () => tf.io.getModelArtifactsForJSON(
        JSON.parse(fs.readFileSync(jsonPath, 'utf8')),
        async (manifest) => {
          const specs = manifest.flatMap((g) => g.weights);
          const buffers = manifest.flatMap((g) => g.paths).map((p) => {
            const b = fs.readFileSync(path.join(path.dirname(jsonPath), p));
            return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
          });
          return [specs, tf.io.concatenateArrayBuffers(buffers)];
        }),
    };
  });
}

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

async function start() {
  if (backend === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    const wasmFile = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
    wasm.setWasmPaths(path.dirname(wasmFile) + path.sep);
  }
  if (backend !== 'tensorflow' && !(await tf.setBackend(backend))) {
    throw new Error(`could not start the ${backend} backend`);
  }
  await tf.ready();
  const Upscaler = require('upscaler/node');
  const spec = `@upscalerjs/${modelName.replace(/^@upscalerjs\//, '')}`;
  const mod = require(spec);
  const started = performance.now();
  const upscaler = new Upscaler({ model: mod.default ?? mod });
  await upscaler.ready;
  const loadMs = performance.now() - started;
  const threads = backend === 'wasm' ? require('@tensorflow/tfjs-backend-wasm').getThreadsCount() : null;
  return { upscaler, info: { ready: true, backend: tf.getBackend(), tfjs: tf.version.tfjs,
    model: spec, load_ms: loadMs, wasm_threads: threads, node: process.version } };
}

async function main() {
  const { upscaler, info } = await start();
  reply(info);
  let image = null;
  async function upscaleOnce() {
    const input = tf.tensor3d(image.rgb, [image.height, image.width, 3], 'int32');
    const begin = performance.now();
    const out = await upscaler.upscale(input, { output: 'tensor' });
    const data = await out.data();
    const ms = performance.now() - begin;
    const shape = out.shape;
    out.dispose();
    input.dispose();
    return { ms, data, shape };
  }
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    try {
      const cmd = JSON.parse(line);
      if (cmd.op === 'input') {
        const bytes = fs.readFileSync(cmd.path);
        image = { rgb: Int32Array.from(bytes), height: cmd.height, width: cmd.width };
        reply({ ok: true });
      } else if (cmd.op === 'run') {
        reply({ ms: (await upscaleOnce()).ms });
      } else if (cmd.op === 'save') {
        const { data, shape } = await upscaleOnce();
        fs.writeFileSync(cmd.path, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        reply({ shape });
      } else {
        reply({ error: `unknown op ${cmd.op}` });
      }
    } catch (err) {
      reply({ error: String(err && err.stack ? err.stack : err) });
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
