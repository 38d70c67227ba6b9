#!/usr/bin/python3
"""Threads under oversubscription: images/s of cnn.c and PyTorch alone, beside busy
loops, and beside a second run of the same command (docs/architecture.md, "Threads on
a busy machine").

Workloads: LeNet training (batch 256, Fashion-MNIST shape) and MobileNet V2 inference
(batch 8, 224x224). Conditions: alone; beside BUSY `yes > /dev/null` processes (six by
default: on two cores a fair share is a quarter); beside a second copy of the same
command started with it (fair share: a half). Systems: cnn.c "before" (--before BIN: an
older build with its own defaults; without it, this build with libgomp's default
spinning, GOMP_SPINCOUNT=300000), cnn.c "after" (this build, no OMP variable set),
PyTorch (torch's own threads, same thread count). Every cell is REPEATS separate runs:
median and worst; the systems alternate within a cell, so they see the same load.

    /usr/bin/python3 bench/oversub.py [--threads 2] [--repeats 3] [--busy 6]
        [--only lenet_train,mobilenet_v2_b8] [--cnn build/cnn] [--before OLD/cnn]

The machine's load average is printed with each row: on a shared machine "alone" is
only as alone as the others let it be.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKLOADS = {
    # name: (model, CxHxW, batch, train, classes, iters, warmup)
    "lenet_train": ("lenet", "1x28x28", 256, True, 10, 6, 2),
    "mobilenet_v2_b8": ("mobilenet_v2", "3x224x224", 8, False, 1000, 4, 1),
}


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(extra or {})
    return env


def cnn_cmd(a, w, binary=None):
    model, chw, batch, train, classes, iters, warmup = WORKLOADS[w]
    cmd = [binary or a.cnn, "bench", model, "--input", chw, "--batch", str(batch), "--classes", str(classes),
           "--iters", str(iters), "--warmup", str(warmup), "--threads", str(a.threads), "--json"]
    if train:
        cmd += ["--train", "--lr", "0.1", "--momentum", "0"]
    return cmd


def torch_cmd(a, w):
    return [sys.executable, os.path.abspath(__file__), "--torch-one", w, "--threads", str(a.threads)]


def parse(out):
    return json.loads(out.strip().splitlines()[-1])["images_per_s"]


def measure(cmd, env, condition, busy):
    """images/s of cmd under condition: alone, busy (BUSY yes loops) or twin."""
    others = []
    try:
        if condition == "busy":
            for _ in range(busy):
                others.append(subprocess.Popen(["sh", "-c", "exec yes > /dev/null"]))
            time.sleep(0.5)
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
        if condition == "twin":
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        outs = [p.communicate() for p in procs]
        for p, (o, e) in zip(procs, outs):
            if p.returncode != 0:
                raise RuntimeError(" ".join(cmd) + ": " + e.strip())
        # twin: both runs count, each should get half
        return statistics.mean(parse(o) for o, _ in outs)
    finally:
        for p in others:
            p.kill()
            p.wait()


def torch_one(w, threads):
    import torch
    from torch import nn
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from side_by_side import torch_model
    torch.set_num_threads(threads)
    model, chw, batch, train, classes, iters, warmup = WORKLOADS[w]
    shape = tuple(int(v) for v in chw.split("x"))
    torch.manual_seed(0)
    net = torch_model(model, classes, shape[0])
    x = torch.randn(batch, *shape)
    y = torch.randint(0, classes, (batch,))
    if train:
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()
    else:
        net.eval()

        def step():
            with torch.no_grad():
                net(x)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"images_per_s": batch / statistics.median(times)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--busy", type=int, default=6)
    ap.add_argument("--only", default="")
    ap.add_argument("--cnn", default=os.path.join(ROOT, "build", "cnn"))
    ap.add_argument("--before", default="", help="an older cnn binary for the 'before' column")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--torch-one", default="")
    a = ap.parse_args()
    if a.torch_one:
        torch_one(a.torch_one, a.threads)
        return
    names = [n for n in WORKLOADS if not a.only or n in a.only.split(",")]
    if a.before:
        before = ("cnn.c before", lambda w: cnn_cmd(a, w, a.before), clean_env())
    else:
        before = ("cnn.c before", lambda w: cnn_cmd(a, w), clean_env({"GOMP_SPINCOUNT": "300000"}))
    systems = [before, ("cnn.c after", lambda w: cnn_cmd(a, w), clean_env())]
    if not a.no_torch:
        systems.append(("PyTorch", lambda w: torch_cmd(a, w), clean_env()))
    print(f"threads {a.threads}, {os.cpu_count()} cores, {a.repeats} runs per cell (median / worst), "
          f"busy = {a.busy} x `yes > /dev/null`")
    print("| workload | condition | " + " | ".join(s[0] for s in systems) +
          " | cnn.c after / its alone | load avg |")
    print("|---|---|" + "---|" * len(systems) + "---|---|")
    for w in names:
        alone = {}
        for cond in ("alone", "busy", "twin"):
            cells, med = [], {}
            vals = {sname: [] for sname, _, _ in systems}
            for r in range(a.repeats):
                for sname, mk, env in (systems if r % 2 == 0 else systems[::-1]):
                    vals[sname].append(measure(mk(w), env, cond, a.busy))
            for sname, mk, env in systems:
                med[sname] = statistics.median(vals[sname])
                fmt = (lambda v: f"{v:.0f}") if med[sname] >= 10 else (lambda v: f"{v:.2f}")
                cells.append(f"{fmt(med[sname])} / {fmt(min(vals[sname]))}")
            if cond == "alone":
                alone = med
            ratio = med["cnn.c after"] / alone["cnn.c after"] if alone.get("cnn.c after") else float("nan")
            load = os.getloadavg()[0]
            print(f"| {w} | {cond} | " + " | ".join(cells) + f" | {ratio:.2f} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
