#!/usr/bin/python3
"""cnn.c and PyTorch side by side, in one run, with the same thread count.

For every workload, cnn.c runs as `build/cnn bench MODEL ... --json` (a subprocess)
and PyTorch in this process: warm-up iterations, then timed iterations, median.
Training = forward + cross-entropy + backward + SGD step on random data of the right
shape; inference = eval mode, no_grad, forward to the logits. The PyTorch models are
torchvision 0.14's for torchvision names and the fixture definitions in
tools/fixtures/ (written from the seeds' PyTorch code) for lenet, resnet18_d2l and
mobilenet_v1, so both sides run the same architecture.

Run with Debian's interpreter (python3-torch, python3-torchvision):

    /usr/bin/python3 bench/side_by_side.py [--threads T] [--iters N] [--warmup N]
        [--quick] [--rounds R] [--only NAME[,NAME]] [--cnn PATH] [--backend NAME]

The ratio column is cnn.c speed / PyTorch speed (images/s over images/s, or PyTorch ms
over cnn.c ms): above 1 means cnn.c is faster.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import torch  # noqa: E402
import torchvision  # noqa: E402
from torch import nn  # noqa: E402

INFER_MODELS = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
                "shufflenet_v2_x1_0", "googlenet"]


def torch_model(name, classes, in_ch):
    """The PyTorch twin of cnn.c's zoo model `name`."""
    tv = torchvision.models
    if name == "lenet":
        from fixtures.zoo_seeds import lenet
        return lenet()
    if name == "resnet18_d2l":
        from fixtures.zoo_tv import resnet18_d2l
        return resnet18_d2l()
    if name == "alexnet_d2l":
        from fixtures.zoo_tv import alexnet_d2l
        return alexnet_d2l()
    if name == "mobilenet_v1":
        from fixtures.zoo_seeds_mobile import MobileNetV1
        return MobileNetV1(in_ch=in_ch, num_classes=classes)
    if name == "googlenet":
        # as cnn.c's googlenet: no auxiliary heads, no input transform
        return tv.googlenet(num_classes=classes, aux_logits=False, transform_input=False,
                            init_weights=False)
    return getattr(tv, name)(num_classes=classes)


class Workload:
    def __init__(self, name, model, chw, batch, train, classes, label, lr=0.01, momentum=0.9):
        self.name, self.model, self.chw, self.batch, self.train = name, model, chw, batch, train
        self.classes, self.label, self.lr, self.momentum = classes, label, lr, momentum

    @property
    def latency(self):
        return not self.train and self.batch == 1


def workloads():
    w = [
        Workload("lenet_train", "lenet", (1, 28, 28), 256, True, 10,
                 "lenet train (Fashion-MNIST shape), SGD", lr=0.9, momentum=0.0),
        Workload("resnet18_d2l_train", "resnet18_d2l", (1, 96, 96), 64, True, 10,
                 "resnet18_d2l train, SGD momentum"),
        Workload("mobilenet_v1_train", "mobilenet_v1", (1, 96, 96), 64, True, 10,
                 "mobilenet_v1 (d2l layout) train, SGD momentum"),
        Workload("resnet18_train", "resnet18", (3, 32, 32), 128, True, 10,
                 "torchvision resnet18 train (CIFAR shape), SGD momentum"),
        Workload("mobilenet_v2_train", "mobilenet_v2", (3, 32, 32), 128, True, 10,
                 "torchvision mobilenet_v2 train (CIFAR shape), SGD momentum"),
        # d2l's AlexNet: its three linear layers hold most of the parameters and much of
        # a training step's time (the notes' train_ch6 at 224x224)
        Workload("alexnet_d2l_train", "alexnet_d2l", (1, 224, 224), 64, True, 10,
                 "alexnet_d2l train (Fashion-MNIST at 224), SGD momentum"),
    ]
    for b in (1, 16):
        for m in INFER_MODELS:
            w.append(Workload(f"{m}_b{b}", m, (3, 224, 224), b, False, 1000,
                              f"{m} inference" + (" (ms per image)" if b == 1 else "")))
    return w


def run_cnn(a, w, iters, warmup):
    chw = "x".join(map(str, w.chw))
    cmd = [a.cnn, "bench", w.model, "--input", chw, "--batch", str(w.batch), "--classes",
           str(w.classes), "--iters", str(iters), "--warmup", str(warmup), "--threads",
           str(a.threads), "--json"]
    if w.train:
        cmd += ["--train", "--lr", str(w.lr), "--momentum", str(w.momentum)]
    if a.backend:
        cmd += ["--backend", a.backend]
    if a.peak:
        cmd += ["--peak", str(a.peak)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(" ".join(cmd) + ": " + (p.stderr.strip() or p.stdout.strip()))
    return json.loads(p.stdout)


def run_torch(w, iters, warmup):
    torch.manual_seed(0)
    net = torch_model(w.model, w.classes, w.chw[0])
    x = torch.randn(w.batch, *w.chw)
    y = torch.randint(0, w.classes, (w.batch,))
    times = []
    if w.train:
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=w.lr, momentum=w.momentum)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            step()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    else:
        net.eval()
        with torch.no_grad():
            for i in range(warmup + iters):
                t0 = time.perf_counter()
                net(x)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"ms_per_batch": med * 1e3, "images_per_s": w.batch / med}


def machine():
    info = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            info[k.strip()] = v.strip()
    except OSError:
        pass
    model = info.get("Model name", platform.processor() or "unknown CPU")
    cores = info.get("CPU(s)", str(os.cpu_count()))
    per = info.get("Core(s) per socket", "?")
    sockets = info.get("Socket(s)", "?")
    flags = info.get("Flags", "")
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {cores} CPUs ({sockets} socket x {per} cores), {isa}"


def fmt_speed(w, r):
    if r is None:
        return "error"
    if w.latency:
        return f"{r['ms_per_batch']:.2f} ms"
    return f"{r['images_per_s']:.1f} img/s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="threads on both sides (default: nproc)")
    ap.add_argument("--iters", type=int, default=10, help="timed iterations (default 10)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up iterations (default 2)")
    ap.add_argument("--quick", action="store_true", help="3 timed iterations, 1 warm-up")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure each side R times and keep its best median (busy machines)")
    ap.add_argument("--only", default=None,
                    help="comma-separated workload names (e.g. lenet_train, resnet18_b16) or "
                         "model names (all workloads of that model)")
    ap.add_argument("--cnn", default=os.path.join(ROOT, "build", "cnn"), help="cnn binary")
    ap.add_argument("--backend", default=None, help="cnn.c kernels (default: its fastest)")
    ap.add_argument("--peak", type=float, default=None,
                    help="pass --peak to cnn bench (skips its FMA peak measurement)")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    a = ap.parse_args()
    iters, warmup = a.iters, 2 if a.warmup is None else a.warmup
    if a.quick:
        iters, warmup = min(iters, 3), 1 if a.warmup is None else a.warmup
    if iters < 1 or warmup < 0 or a.threads < 1 or a.rounds < 1:
        ap.error("--iters, --rounds and --threads must be >= 1, --warmup >= 0")
    todo = workloads()
    if a.list:
        for w in todo:
            print(f"{w.name:24s} {w.label}")
        return 0
    if a.only:
        names = set(a.only.split(","))
        todo = [w for w in todo if w.name in names or w.model in names]
        if not todo:
            ap.error(f"--only {a.only}: no such workload (see --list)")
    if not os.access(a.cnn, os.X_OK):
        ap.error(f"{a.cnn} is not an executable (build first, or pass --cnn)")
    torch.set_num_threads(a.threads)
    env = dict(os.environ, CNN_BACKEND=a.backend) if a.backend else None
    version = subprocess.run([a.cnn, "version"], capture_output=True, text=True,
                             env=env).stdout.strip()

    print(f"machine: {machine()}")
    print(f"date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"cnn.c: {version}; PyTorch {torch.__version__}, torchvision {torchvision.__version__}")
    print(f"threads: {a.threads} on both sides; {warmup} warm-up + {iters} timed iterations, "
          f"median" + (f", best of {a.rounds} rounds per side" if a.rounds > 1 else ""))
    print(f"command: /usr/bin/python3 bench/side_by_side.py {' '.join(sys.argv[1:])}".rstrip())
    # other processes on a small machine change both sides' numbers: show how busy it was
    print("load average (1 min) at start: %.2f" % os.getloadavg()[0])
    print()
    print("| workload | input | batch | cnn.c | PyTorch | cnn.c / PyTorch |")
    print("|---|---|---|---|---|---|")
    sys.stdout.flush()
    errors = []
    def best(x, y):
        return y if x is None or (y and y["images_per_s"] > x["images_per_s"]) else x

    for w in todo:
        c = t = None
        c_ok = t_ok = True
        for _ in range(a.rounds):  # alternate the sides; keep each side's best median
            if c_ok:
                try:
                    c = best(c, run_cnn(a, w, iters, warmup))
                except (RuntimeError, ValueError) as e:
                    errors.append(f"{w.name}: cnn.c: {e}")
                    c, c_ok = None, False
            if t_ok:
                try:
                    t = best(t, run_torch(w, iters, warmup))
                except Exception as e:  # a model torchvision lacks, out of memory, ...
                    errors.append(f"{w.name}: PyTorch: {e}")
                    t, t_ok = None, False
        ratio = f"{c['images_per_s'] / t['images_per_s']:.2f}x" if c and t else "-"
        chw = "x".join(map(str, w.chw))
        print(f"| {w.label} | {chw} | {w.batch} | {fmt_speed(w, c)} | {fmt_speed(w, t)} | {ratio} |",
              flush=True)
    print("\nload average (1 min) at end: %.2f" % os.getloadavg()[0])
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
