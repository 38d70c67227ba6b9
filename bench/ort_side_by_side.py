#!/usr/bin/python3
"""cnn.c, ONNX Runtime and PyTorch side by side on inference, in one run, same threads.

For every model (the torchvision counterparts of cnn.c's zoo models) and batch:
  1. torch.onnx.export of the torchvision model (eval mode, opset 14, dynamic batch)
     into a cache directory (default build/ort_models; reused when present);
  2. ONNX Runtime on that file: bench/ort_bench.js under node, the CPU runtime of the
     npm package onnxruntime-node (tools/install-ort.sh installs it into build/ort),
     intra_op_num_threads = --threads, every graph optimisation on;
  3. PyTorch on the same model in this process (eval, no_grad);
  4. `cnn bench MODEL` (the zoo model) and `cnn bench FILE.onnx` (the very same .onnx
     file through cnn.c's ONNX import), --threads.
Every side runs warm-up + timed iterations and reports the median; with --rounds R the
sides alternate R times and each keeps its best median (busy machines). Ratios are
ONNX Runtime ms / cnn.c ms (above 1: cnn.c is faster). GFLOP/s counts cnn.c's MACs of
the model (2 FLOPs each) over each side's time; "% peak" divides by the FP32 FMA peak
cnn bench measured in the same run.

    /usr/bin/python3 bench/ort_side_by_side.py [--models m1,m2|all] [--batches 1,16]
        [--threads T] [--iters N] [--warmup N] [--rounds R] [--no-torch] [--no-onnx-cnn]
        [--cache DIR] [--ort DIR] [--cnn PATH] [--markdown]
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import torch  # noqa: E402
import torchvision  # noqa: E402

from side_by_side import machine, torch_model  # noqa: E402

# the targets of the issue, then the other zoo models torchvision 0.14 also has
DEFAULT = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "shufflenet_v2_x1_0",
           "googlenet", "resnet18"]
OTHERS = ["resnet34", "resnet50", "resnet101", "resnet152", "alexnet", "vgg11", "vgg11_bn",
          "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "densenet121",
          "densenet161", "densenet169", "densenet201", "shufflenet_v2_x0_5",
          "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "squeezenet1_0", "squeezenet1_1"]
CHW = (3, 224, 224)


def export(name, path):
    """MODEL.onnx from torchvision's model, eval mode, batch dimension symbolic."""
    if os.path.exists(path):
        return
    torch.manual_seed(0)
    net = torch_model(name, 1000, CHW[0]).eval()
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(net, torch.randn(1, *CHW), tmp, opset_version=14,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=True)
    os.replace(tmp, path)  # a half-written file never stays in the cache


def run_json(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        msg = (p.stderr.strip() or p.stdout.strip()).splitlines()
        raise RuntimeError(" ".join(cmd) + ": " + (msg[-1] if msg else f"exit {p.returncode}"))
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_cnn(a, model, batch):
    cmd = [a.cnn, "bench", model, "--input", "x".join(map(str, CHW)), "--batch", str(batch),
           "--classes", "1000", "--iters", str(a.iters), "--warmup", str(a.warmup), "--threads",
           str(a.threads), "--json"]
    if a.peak:
        cmd += ["--peak", str(a.peak)]
    return run_json(cmd)


def run_ort(a, path, batch):
    return run_json(["node", os.path.join(ROOT, "bench", "ort_bench.js"), a.ort_modules, path,
                     str(batch), "x".join(map(str, CHW)), str(a.threads), str(a.iters),
                     str(a.warmup)])


def run_torch(a, name, batch):
    torch.manual_seed(0)
    net = torch_model(name, 1000, CHW[0]).eval()
    x = torch.randn(batch, *CHW)
    times = []
    with torch.no_grad():
        for i in range(a.warmup + a.iters):
            t0 = time.perf_counter()
            net(x)
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"ms_per_batch": med * 1e3, "images_per_s": batch / med}


def best(x, y):
    return y if x is None or (y and y["ms_per_batch"] < x["ms_per_batch"]) else x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT),
                    help="comma-separated torchvision names, or 'all' (default: the issue's six)")
    ap.add_argument("--batches", default="1,16", help="comma-separated batch sizes (default 1,16)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="threads on every side (default: nproc)")
    ap.add_argument("--iters", type=int, default=20, help="timed iterations (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up iterations (default 3)")
    ap.add_argument("--rounds", type=int, default=1, help="alternate the sides R times, best median")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    ap.add_argument("--no-onnx-cnn", action="store_true", help="skip cnn.c on the .onnx files")
    ap.add_argument("--cache", default=os.path.join(ROOT, "build", "ort_models"),
                    help="where the exported .onnx files are kept (default build/ort_models)")
    ap.add_argument("--ort", default=os.path.join(ROOT, "build", "ort"),
                    help="directory holding node_modules/onnxruntime-node (tools/install-ort.sh)")
    ap.add_argument("--cnn", default=os.path.join(ROOT, "build", "cnn"), help="cnn binary")
    ap.add_argument("--peak", type=float, default=None, help="pass --peak to cnn bench")
    ap.add_argument("--json", default=None, help="also write every measurement to this file")
    a = ap.parse_args()
    models = DEFAULT + OTHERS if a.models == "all" else [m for m in a.models.split(",") if m]
    unknown = [m for m in models if m not in DEFAULT + OTHERS]
    if unknown:
        ap.error(f"--models: {','.join(unknown)}: not a torchvision counterpart of a zoo model "
                 f"(known: {','.join(DEFAULT + OTHERS)})")
    try:
        batches = [int(b) for b in a.batches.split(",")]
    except ValueError:
        ap.error(f"--batches {a.batches}: comma-separated integers expected")
    if a.iters < 1 or a.warmup < 0 or a.threads < 1 or a.rounds < 1 or min(batches) < 1:
        ap.error("--iters, --rounds, --threads and batches must be >= 1, --warmup >= 0")
    if not os.access(a.cnn, os.X_OK):
        ap.error(f"{a.cnn} is not an executable (build first, or pass --cnn)")
    a.ort_modules = os.path.join(a.ort, "node_modules")
    if not os.path.isdir(os.path.join(a.ort_modules, "onnxruntime-node")):
        ap.error(f"no onnxruntime-node under {a.ort_modules}: run tools/install-ort.sh {a.ort}")
    os.makedirs(a.cache, exist_ok=True)
    torch.set_num_threads(a.threads)
    ort_version = json.load(open(os.path.join(a.ort_modules, "onnxruntime-node",
                                              "package.json")))["version"]
    version = subprocess.run([a.cnn, "version"], capture_output=True, text=True).stdout.strip()

    print(f"machine: {machine()}")
    print(f"date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"cnn.c: {version}; ONNX Runtime {ort_version} (onnxruntime-node, CPU); "
          f"PyTorch {torch.__version__}, torchvision {torchvision.__version__}")
    print(f"threads: {a.threads} on every side; {a.warmup} warm-up + {a.iters} timed iterations, "
          f"median" + (f", best of {a.rounds} rounds per side" if a.rounds > 1 else ""))
    print(f"command: /usr/bin/python3 bench/ort_side_by_side.py {' '.join(sys.argv[1:])}".rstrip())
    print("load average (1 min) at start: %.2f" % os.getloadavg()[0])
    print()
    print("| model | batch | cnn.c zoo | cnn.c .onnx | ONNX Runtime | PyTorch | ORT / cnn.c "
          "| cnn.c GFLOP/s (% peak) | ORT GFLOP/s (% peak) |")
    print("|---|---|---|---|---|---|---|---|---|")
    sys.stdout.flush()
    errors, rows = [], []
    for m in models:
        path = os.path.join(a.cache, m + ".onnx")
        try:
            export(m, path)
        except Exception as e:  # noqa: BLE001 (an exporter failure is reported, not fatal)
            errors.append(f"{m}: export: {e}")
            path = None
        for b in batches:
            res = {"zoo": None, "onnx": None, "ort": None, "torch": None}
            ok = {k: True for k in res}
            ok["onnx"] = path is not None and not a.no_onnx_cnn
            ok["ort"] = path is not None
            ok["torch"] = not a.no_torch
            runs = {"zoo": lambda: run_cnn(a, m, b), "onnx": lambda: run_cnn(a, path, b),
                    "ort": lambda: run_ort(a, path, b), "torch": lambda: run_torch(a, m, b)}
            for _ in range(a.rounds):
                for k, f in runs.items():
                    if not ok[k]:
                        continue
                    try:
                        res[k] = best(res[k], f())
                    except Exception as e:  # noqa: BLE001
                        errors.append(f"{m} b{b}: {k}: {e}")
                        res[k], ok[k] = None, False
            z = res["zoo"]
            macs = z["macs_per_example"] if z else None
            peak = z["peak_gflops"] if z else None

            def cell(r):
                if not r:
                    return "-"
                return f"{r['ms_per_batch']:.2f} ms" if b == 1 else f"{r['images_per_s']:.0f} img/s"

            def gf(r):
                if not r or not macs:
                    return "-"
                g = 2.0 * macs * b / (r["ms_per_batch"] / 1e3) / 1e9
                return f"{g:.0f} ({100 * g / peak:.0f}%)" if peak else f"{g:.0f}"
            fast = min((r for r in (res["zoo"], res["onnx"]) if r), default=None,
                       key=lambda r: r["ms_per_batch"])
            ratio = (f"{res['ort']['ms_per_batch'] / fast['ms_per_batch']:.2f}x"
                     if fast and res["ort"] else "-")
            print(f"| {m} | {b} | {cell(res['zoo'])} | {cell(res['onnx'])} | {cell(res['ort'])} "
                  f"| {cell(res['torch'])} | {ratio} | {gf(fast)} | {gf(res['ort'])} |", flush=True)
            rows.append({"model": m, "batch": b, "macs_per_example": macs, "peak_gflops": peak,
                         **{k: v for k, v in res.items()}})
    print("\nload average (1 min) at end: %.2f" % os.getloadavg()[0])
    print("ORT / cnn.c: ONNX Runtime's median ms over cnn.c's (the faster of zoo and .onnx); "
          "above 1: cnn.c is faster")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "ort_version": ort_version, "rows": rows}, f, indent=1)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
