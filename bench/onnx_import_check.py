#!/usr/bin/python3
"""Full-size torchvision models through torch.onnx.export -> cnn.c: parity and speed.

For each model (torchvision 0.14, weights by tools/fixturelib.fill_formula, eval mode):
  1. export MODEL.eval.onnx (training=EVAL: BN folded, opset 13) and MODEL.train.onnx
     (training=PRESERVE: names kept, opset 13) into --dir (default /tmp/cnn_onnx_tv);
  2. run `cnn forward MODEL.*.onnx` on PyTorch's input and compare with PyTorch's output
     (max |diff| / max |output|; the parity bar is 1e-4);
  3. `cnn bench ZOO_NAME` and `cnn bench MODEL.train.onnx` / `MODEL.eval.onnx`,
     interleaved for --rounds rounds in one run (the machine is shared: the spread over
     rounds is the noise), and print the ratio of medians.

    /usr/bin/python3 bench/onnx_import_check.py [--models resnet18,mobilenet_v2]
        [--rounds 3] [--batch 1] [--iters 20] [--threads T] [--cnn build/cnn]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

import fixturelib  # noqa: E402


def load_output(path):
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    h = header["output"]
    a, b = h["data_offsets"]
    return np.frombuffer(data[a:b], dtype="<f4").reshape(h["shape"])


def bench(cnn, model, args):
    cmd = [cnn, "bench", model, "--batch", str(args.batch), "--iters", str(args.iters), "--json"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["images_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--dir", default="/tmp/cnn_onnx_tv")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cnn", default=os.path.join(ROOT, "build", "cnn"))
    ap.add_argument("--no-bench", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    torch.set_num_threads(1)
    for name in args.models.split(","):
        model = getattr(torchvision.models, name)()
        fixturelib.fill_formula(model)
        model.eval()
        x = torch.randn((2, 3, 224, 224), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            y = model(x).numpy()
        inp = os.path.join(args.dir, f"{name}.input.safetensors")
        fixturelib.save_safetensors(inp, {"input": x.numpy()})
        files = {}
        for tag, mode in (("eval", torch.onnx.TrainingMode.EVAL), ("train", torch.onnx.TrainingMode.PRESERVE)):
            path = os.path.join(args.dir, f"{name}.{tag}.onnx")
            torch.onnx.export(model, x, path, opset_version=13, training=mode, input_names=["input"],
                              output_names=["output"], dynamic_axes={"input": {0: "batch"}})
            files[tag] = path
            out = os.path.join(args.dir, f"{name}.{tag}.out.safetensors")
            subprocess.run([args.cnn, "forward", path, "--input", inp, "--output", out], check=True)
            got = load_output(out)
            err = float(np.abs(got - y).max() / np.abs(y).max())
            print(f"{name} {tag}: max |cnn.c - PyTorch| / max |PyTorch| = {err:.2e} "
                  f"({'ok' if err <= 1e-4 else 'ABOVE 1e-4'})", flush=True)
        if args.no_bench:
            continue
        runs = {"zoo": [], "eval": [], "train": []}
        for r in range(args.rounds):
            runs["zoo"].append(bench(args.cnn, name, args))
            runs["train"].append(bench(args.cnn, files["train"], args))
            runs["eval"].append(bench(args.cnn, files["eval"], args))
        z = statistics.median(runs["zoo"])
        for k in ("zoo", "train", "eval"):
            v = runs[k]
            print(f"{name} {k:5s}: images/s median {statistics.median(v):8.1f}  rounds "
                  + " ".join(f"{a:.1f}" for a in v)
                  + ("" if k == "zoo" else f"  ratio to zoo {statistics.median(v) / z:.3f}"), flush=True)


if __name__ == "__main__":
    main()
