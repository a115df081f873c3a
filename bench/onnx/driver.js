#!/usr/bin/env node
// tiershim ONNX benchmark driver: runs a BERT encoder (from gen_bert.py) on a
// fixed sequence of variable-shape batches and prints one line per request and
// a RESULT line. The runner starts it under each allocator (LD_PRELOAD) and
// compares the output: with a given seed and --threads 1 every sum and the
// final check must be identical whatever the allocator.
//
//   node bench/onnx/driver.js --model PATH [--requests N] [--mix BxS,...]
//        [--arena on|off] [--threads T] [--seed S] [--verbose]
//
// onnxruntime-node comes from $TS_ONNX_MODULES (a node_modules directory) or
// else bench/onnx/cache/npm/node_modules (bench/onnx/setup.sh installs it).
// Exit status: 2 for bad arguments, 1 when loading or running fails.
'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');
const vm = require('vm');
const { createRequire } = require('module');
const { performance } = require('perf_hooks');

const VOCAB = 30522; // gen_bert.py uses BERT's vocabulary size for every size
const MAX_SEQ = 512; // its position table
// Every batch x seq pair once, shuffled by hand so that big and small requests
// alternate (the allocator sees frees of big buffers followed by small ones).
const DEFAULT_MIX = '16x128,8x512,32x64,16x256,8x64,32x512,16x64,8x256,32x128,16x512,8x128,32x256';

function fail(code, msg) {
  process.stderr.write(`driver: error: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const o = { model: null, requests: 24, mix: DEFAULT_MIX, arena: 'off', threads: 1, seed: 42, verbose: false };
  const int = (k, v, min) => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
      fail(2, `--${k} takes an integer >= ${min}, not '${v}'`);
    }
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i], v;
    if (a === '--verbose') { o.verbose = true; continue; }
    if (a === '-h' || a === '--help') {
      process.stdout.write('usage: driver.js --model PATH [--requests N] [--mix BxS,...] ' +
        '[--arena on|off] [--threads T] [--seed S] [--verbose]\n');
      process.exit(0);
    }
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const k = a.slice(2);
    if (!['--model', '--requests', '--mix', '--arena', '--threads', '--seed'].includes(a)) {
      fail(2, `unknown argument '${argv[i]}'`);
    }
    if (v === undefined) {
      if (i + 1 >= argv.length) fail(2, `${a} needs a value`);
      v = argv[++i];
    }
    if (k === 'model') o.model = v;
    else if (k === 'mix') o.mix = v;
    else if (k === 'arena') {
      if (v !== 'on' && v !== 'off') fail(2, `--arena takes on or off, not '${v}'`);
      o.arena = v;
    } else o[k] = int(k, v, k === 'seed' ? 0 : 1);
  }
  if (!o.model) fail(2, '--model PATH is required (bench/onnx/setup.sh makes bench/onnx/cache/models/bert-tiny.onnx)');
  if (!fs.existsSync(o.model)) fail(2, `model '${o.model}' not found`);
  o.shapes = o.mix.split(',').map((s) => {
    const m = /^([0-9]+)x([0-9]+)$/.exec(s);
    if (!m || +m[1] < 1 || +m[2] < 2 || +m[2] > MAX_SEQ) {
      fail(2, `--mix entry '${s}' is not BATCHxSEQ with batch >= 1 and 2 <= seq <= ${MAX_SEQ}`);
    }
    return [+m[1], +m[2]];
  });
  return o;
}

// splitmix64 (as bench/bench_util.h): inputs depend only on seed and request.
function rng(state) {
  let s = BigInt.asUintN(64, state);
  return (n) => {
    s = BigInt.asUintN(64, s + 0x9E3779B97F4A7C15n);
    let z = s;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94D049BB133111EBn);
    return Number((z ^ (z >> 31n)) % BigInt(n));
  };
}

// A BERT-like batch: [CLS] random word pieces [SEP], then padding (id 0, mask
// 0). Row 0 is always full length; about half of the others are cut short, so
// the mask matters and the work per request is not just batch x seq.
function makeInputs(B, S, seed, req) {
  const next = rng((BigInt(seed) << 32n) | BigInt(req));
  const ids = new BigInt64Array(B * S), mask = new BigInt64Array(B * S);
  for (let r = 0; r < B; r++) {
    const len = r === 0 || next(2) === 0 ? S : Math.max(2, (S >> 2) + next(S - (S >> 2)));
    for (let t = 0; t < len; t++) {
      ids[r * S + t] = BigInt(t === 0 ? 101 : t === len - 1 ? 102 : 1000 + next(VOCAB - 1000));
      mask[r * S + t] = 1n;
    }
  }
  return { ids, mask };
}

// 64-bit FNV-1a kept as two uint32 halves (BigInt per byte is far too slow
// for 50 MB outputs). The prime is 2^40 + 0x1b3, so h*p = h*0x1b3 + (h << 40).
const FNV_INIT = [0xcbf29ce4, 0x84222325];
function fnv1a(bytes, h = FNV_INIT) {
  let hi = h[0], lo = h[1];
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]) >>> 0;
    const p = lo * 0x1b3; // < 2^41: exact in a double
    const plo = p >>> 0;
    hi = (hi * 0x1b3 + (p - plo) / 4294967296 + ((lo << 8) >>> 0)) >>> 0;
    lo = plo;
  }
  return [hi, lo];
}
const hex = (h) => h[0].toString(16).padStart(8, '0') + h[1].toString(16).padStart(8, '0');
// The check folds each request's sum in as the 8 bytes of its hex, high first.
const sumBytes = (h) => Uint8Array.from(Buffer.from(hex(h), 'hex'));

function smapsRollup() {
  const r = { Anonymous: -1, AnonHugePages: -1, Rss: -1 }; // -1: not available
  try {
    for (const line of fs.readFileSync('/proc/self/smaps_rollup', 'utf8').split('\n')) {
      const m = /^(\w+):\s+([0-9]+) kB/.exec(line);
      if (m && m[1] in r) r[m[1]] = +m[2];
    }
  } catch (e) { /* not Linux, or a kernel before 4.14 */ }
  return r;
}

// Resident set in KiB from /proc/self/statm: cheap enough to read per request
// (the soak samples RSS after every inference).
function statmRssKb() {
  try {
    return Number(fs.readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4;
  } catch (e) {
    return -1;
  }
}

function loadOrt() {
  const dir = process.env.TS_ONNX_MODULES || path.join(__dirname, 'cache', 'npm', 'node_modules');
  // Checked first so that a copy somewhere up the tree is never picked up instead.
  if (!fs.existsSync(path.join(dir, 'onnxruntime-node', 'package.json'))) {
    fail(1, `onnxruntime-node not found in ${dir}; run bench/onnx/setup.sh or set TS_ONNX_MODULES`);
  }
  return [createRequire(path.join(path.resolve(dir), 'noop.js'))('onnxruntime-node'), dir];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const [ort, ortDir] = loadOrt();
  const log = o.verbose ? (s) => process.stderr.write(`driver: ${s}\n`) : () => {};
  const opts = {
    executionProviders: ['cpu'],
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: o.arena === 'on',
    graphOptimizationLevel: 'all',
    // Flattened by the binding into config keys session.intra_op.allow_spinning
    // etc.: idle pool threads must sleep, not spin, or cpu_s measures spinning.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
  log(`onnxruntime-node ${ort.env.versions.node} from ${ortDir}`);
  log(`options ${JSON.stringify(opts)}`);
  log(`mix ${o.shapes.map((s) => s.join('x')).join(',')}, ${o.requests} requests, seed ${o.seed}`);

  let t0 = performance.now();
  const session = await ort.InferenceSession.create(o.model, opts);
  const loadS = (performance.now() - t0) / 1000;
  log(`inputs ${session.inputNames}, outputs ${session.outputNames}`);

  // Only session.run is timed (wall and CPU): input generation and hashing are
  // the same JS work under every allocator and would dilute the differences.
  let runMs = 0, cpuUs = 0, check = FNV_INIT;
  for (let i = 0; i < o.requests; i++) {
    const [B, S] = o.shapes[i % o.shapes.length];
    const { ids, mask } = makeInputs(B, S, o.seed, i);
    const feeds = {
      input_ids: new ort.Tensor('int64', ids, [B, S]),
      attention_mask: new ort.Tensor('int64', mask, [B, S]),
    };
    const c0 = process.cpuUsage();
    t0 = performance.now();
    const out = (await session.run(feeds)).last_hidden_state;
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    runMs += ms;
    cpuUs += c.user + c.system;
    if (out.dims[0] !== B || out.dims[1] !== S) throw new Error(`output shape [${out.dims}] for input [${B},${S}]`);
    const d = out.data;
    const sum = fnv1a(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    check = fnv1a(sumBytes(sum), check);
    process.stdout.write(`req ${i} batch=${B} seq=${S} ms=${ms.toFixed(2)} sum=${hex(sum)} rss_kb=${statmRssKb()}\n`);
  }

  // Collect the dead input/output buffers first, so the sample shows what the
  // allocator keeps, not what V8 has yet to free.
  v8.setFlagsFromString('--expose-gc');
  vm.runInNewContext('gc')();
  const mem = smapsRollup();
  const runS = runMs / 1000;
  process.stdout.write(`RESULT load_s=${loadS.toFixed(3)} run_s=${runS.toFixed(3)} inferences=${o.requests}` +
    ` inf_per_s=${(o.requests / runS).toFixed(3)} cpu_s=${(cpuUs / 1e6).toFixed(3)} check=${hex(check)}` +
    ` anon_kb=${mem.Anonymous} anon_huge_kb=${mem.AnonHugePages} rss_kb=${mem.Rss}\n`);
  await session.release(); // after the sample: the session must be alive in it
}

main().catch((e) => fail(1, String(e && e.message || e).split('\n')[0]));
