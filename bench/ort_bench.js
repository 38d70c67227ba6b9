// Times ONNX Runtime (its Node.js package, CPU execution provider) on one ONNX model
// for bench/ort_side_by_side.py. Usage:
//   node ort_bench.js NODE_MODULES_DIR MODEL.onnx BATCH CxHxW THREADS ITERS WARMUP
// Random normal input of shape (BATCH, C, H, W) fed to the model's first input; every
// graph optimisation on (ORT's default "all" level: its NCHWc layout rewrite included);
// intra_op_num_threads = THREADS, inter_op 1. Prints one JSON object: median, mean and
// min ms per batch, images/s, the output's shape.
'use strict';
const path = require('path');

async function main() {
    if (process.argv.length < 9) {
        console.error('usage: node ort_bench.js NODE_MODULES_DIR MODEL.onnx BATCH CxHxW THREADS ITERS WARMUP');
        process.exit(2);
    }
    const [mods, model, batchS, chw, threadsS, itersS, warmupS] = process.argv.slice(2);
    const ort = require(path.resolve(mods, 'onnxruntime-node'));
    const batch = Number(batchS), threads = Number(threadsS);
    const iters = Number(itersS), warmup = Number(warmupS);
    const dims = [batch].concat(chw.split('x').map(Number));
    if (dims.some((d) => !(d >= 1)) || !(iters >= 1) || !(warmup >= 0) || !(threads >= 1)) {
        console.error(`bad arguments: batch ${batchS}, shape ${chw}, threads ${threadsS}, iters ${itersS}, warmup ${warmupS}`);
        process.exit(2);
    }
    const session = await ort.InferenceSession.create(model, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
    });
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let s = 12345; // Box-Muller on a small LCG: reproducible input
    const u = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) + 1) / 4294967297;
    for (let i = 0; i < n; i++) data[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    const feeds = {};
    feeds[session.inputNames[0]] = new ort.Tensor('float32', data, dims);
    const times = [];
    let outDims = [];
    for (let i = 0; i < warmup + iters; i++) {
        const t0 = process.hrtime.bigint();
        const r = await session.run(feeds);
        const dt = Number(process.hrtime.bigint() - t0) / 1e6;
        if (i >= warmup) times.push(dt);
        outDims = r[session.outputNames[0]].dims;
    }
    times.sort((a, b) => a - b);
    const med = iters % 2 ? times[(iters - 1) / 2] : 0.5 * (times[iters / 2 - 1] + times[iters / 2]);
    const mean = times.reduce((a, b) => a + b, 0) / iters;
    console.log(JSON.stringify({
        ms_per_batch: med, ms_per_batch_mean: mean, ms_per_batch_min: times[0],
        images_per_s: batch / (med / 1e3), output: outDims,
    }));
}
main().catch((e) => {
    console.error(String(e.message || e).split('\n')[0]);
    process.exit(1);
});
