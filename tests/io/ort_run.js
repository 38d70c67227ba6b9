// Runs ONNX models in ONNX Runtime (its Node.js package, CPU execution provider) for
// tests/io/test_onnx_export.c. Usage: node ort_run.js JOBS NODE_MODULES_DIR
// JOBS: one job per line, "MODEL.onnx INPUT.f32 D0xD1x... OUTPUT.f32": the input is raw
// little-endian float32 of that shape, fed to the model's first input; the first
// output is written the same way and its shape printed as "ok MODEL D0xD1x...".
// A failing job prints "error MODEL: message"; the exit status is 1 if any failed.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
    if (process.argv.length < 4) {
        console.error('usage: node ort_run.js JOBS NODE_MODULES_DIR');
        process.exit(2);
    }
    const ort = require(path.resolve(process.argv[3], 'onnxruntime-node'));
    const jobs = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.trim());
    let failed = 0;
    for (const line of jobs) {
        const [model, input, shape, output] = line.trim().split(/\s+/);
        try {
            const dims = shape.split('x').map(Number);
            const buf = fs.readFileSync(input);
            const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
            const n = dims.reduce((a, b) => a * b, 1);
            if (data.length !== n) throw new Error(`input has ${data.length} floats, shape ${shape} needs ${n}`);
            const session = await ort.InferenceSession.create(model, {
                executionProviders: ['cpu'],
                intraOpNumThreads: 1,
                interOpNumThreads: 1,
            });
            const feeds = {};
            feeds[session.inputNames[0]] = new ort.Tensor('float32', data, dims);
            const result = await session.run(feeds);
            const y = result[session.outputNames[0]];
            fs.writeFileSync(output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.length * 4));
            console.log(`ok ${model} ${y.dims.join('x')}`);
        } catch (e) {
            failed++;
            console.log(`error ${model}: ${String(e.message || e).split('\n')[0]}`);
        }
    }
    process.exit(failed ? 1 : 0);
}
main();
