#!/usr/bin/python3
"""Peak memory of inference, cnn.c against PyTorch, each side in its own fresh process.

For every model of the inference list at 3x224x224, batch 1 and 16:
  cnn.c    `cnn bench MODEL --input 3x224x224 --batch B --iters N --warmup W --threads T
           --json`: its peak RSS (`peak_rss_bytes`) and planned activation arena
           (`arena_bytes`). The baseline, RSS after cnn_graph_compile (weights, saved
           state, libraries), comes from the JSON field `rss_after_compile_bytes` when the
           binary prints it; otherwise from a second run of the same command under gdb,
           stopped where cnn_graph_compile returns (VmHWM of /proc/PID/status).
  PyTorch  a child /usr/bin/python3 that imports torch/torchvision, sets T threads,
           builds the model (bench/side_by_side.py's constructors) in eval mode, reads
           its peak RSS (the baseline), then creates the input and runs W + N forwards
           under torch.no_grad() and reads the peak RSS again.
"increase" = peak - baseline: the input, activations, workspaces and the kernels' own
caches, i.e. what running inference costs on top of holding the model.

This driver imports no torch and stays small on purpose: Linux keeps the high-water
mark of the image a process replaces at exec in its ru_maxrss, so a child started from a
big parent (say one that imported torch) reports at least the parent's size.

    /usr/bin/python3 bench/memory_side_by_side.py [--cnn PATH] [--threads T] [--iters N]
        [--warmup W] [--batches 1,16] [--only NAME[,NAME]] [--rounds R] [--no-gdb]

Ratios are cnn.c / PyTorch: at most 1 means cnn.c needs no more memory than PyTorch.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
# as bench/side_by_side.py's INFER_MODELS (not imported: that module imports torch)
INFER_MODELS = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
                "shufflenet_v2_x1_0", "googlenet"]
MIB = 1048576.0


def proc_status(pid="self"):
    """VmRSS and VmHWM (peak) of a process in bytes, from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


# ---------------------------------------------------------------- PyTorch child
def torch_child(model, batch, iters, warmup, threads):
    sys.path.insert(0, HERE)
    import torch
    from side_by_side import torch_model  # same constructors as the speed comparison
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch_model(model, 1000, 3).eval()
    base = proc_status()
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        for _ in range(warmup + iters):
            net(x)
    end = proc_status()
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"baseline_bytes": base["VmHWM"], "baseline_rss_bytes": base["VmRSS"],
                      "peak_rss_bytes": end["VmHWM"], "ru_maxrss_bytes": ru,
                      "params": sum(p.numel() for p in net.parameters())}))
    return 0


def run_torch(a, model, batch):
    cmd = ["/usr/bin/python3", os.path.abspath(__file__), "--torch-child", model, str(batch),
           str(a.iters), str(a.warmup), str(a.threads)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(" ".join(cmd) + ": " + (p.stderr.strip() or p.stdout.strip())[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- cnn.c
def cnn_cmd(a, model, batch):
    return [a.cnn, "bench", model, "--input", "3x224x224", "--batch", str(batch), "--iters",
            str(a.iters), "--warmup", str(a.warmup), "--threads", str(a.threads), "--json"]


def cnn_baseline_gdb(a, model, batch):
    """RSS peak so far where cnn_graph_compile returns (after weights and saved state,
    before the arena, the input and the first forward), read under gdb."""
    probe = ("python import gdb; print('@@BASE %d' % [int(l.split()[1]) * 1024 for l in "
             "open('/proc/%d/status' % gdb.selected_inferior().pid) if l.startswith('VmHWM')][0])")
    cmd = ["gdb", "-q", "-nx", "-batch", "-ex", "set pagination off",
           "-ex", "set startup-with-shell off", "-ex", "break cnn_graph_compile", "-ex", "run",
           "-ex", "finish", "-ex", probe, "-ex", "kill", "--args"] + cnn_cmd(a, model, batch)
    p = subprocess.run(cmd, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("@@BASE "):
            return int(line.split()[1])
    raise RuntimeError("gdb baseline: " + (p.stderr.strip() or p.stdout.strip())[-2000:])


def run_cnn(a, model, batch):
    cmd = cnn_cmd(a, model, batch)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(" ".join(cmd) + ": " + (p.stderr.strip() or p.stdout.strip()))
    r = json.loads(p.stdout)
    if "rss_after_compile_bytes" in r:
        r["baseline_bytes"], r["baseline_from"] = r["rss_after_compile_bytes"], "json"
    elif a.gdb:
        r["baseline_bytes"], r["baseline_from"] = cnn_baseline_gdb(a, model, batch), "gdb"
    return r


# ---------------------------------------------------------------- driver
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
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {info.get('CPU(s)', os.cpu_count())} CPUs, {mem:.0f} GiB RAM"


def median_run(fn, rounds):
    """Each key's median over `rounds` fresh processes (allocators vary a little)."""
    rs = [fn() for _ in range(rounds)]
    out = dict(rs[0])
    for k, v in rs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = statistics.median(r[k] for r in rs)
    return out


def mib(b):
    return f"{b / MIB:.1f}" if b is not None else "-"


def ratio(x, y):
    return f"{x / y:.2f}" if x is not None and y else "-"


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "--torch-child":
        m, b, it, wu, th = sys.argv[2], *map(int, sys.argv[3:])
        return torch_child(m, b, it, wu, th)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cnn", default=os.path.join(ROOT, "build", "cnn"),
                    help="cnn binary (default build/cnn; copy it elsewhere first if others rebuild)")
    ap.add_argument("--threads", type=int, default=2, help="threads on both sides (default 2)")
    ap.add_argument("--iters", type=int, default=3, help="timed forwards (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up forwards (default 1)")
    ap.add_argument("--batches", default="1,16", help="comma-separated batch sizes (default 1,16)")
    ap.add_argument("--only", default=None, help="comma-separated model names")
    ap.add_argument("--rounds", type=int, default=1,
                    help="fresh processes per side and workload; medians (default 1)")
    ap.add_argument("--no-gdb", dest="gdb", action="store_false",
                    help="no gdb run for cnn.c's baseline (increase then shows the planned arena only)")
    a = ap.parse_args()
    models = a.only.split(",") if a.only else INFER_MODELS
    batches = [int(b) for b in a.batches.split(",")]
    if a.iters < 1 or a.warmup < 0 or a.threads < 1 or a.rounds < 1 or min(batches) < 1:
        ap.error("--iters, --threads, --rounds and batches must be >= 1, --warmup >= 0")
    if not os.access(a.cnn, os.X_OK):
        ap.error(f"{a.cnn} is not an executable (build first, or pass --cnn)")
    if a.gdb and not shutil.which("gdb"):
        print("note: gdb not found; cnn.c's baseline only if the binary prints it", file=sys.stderr)
        a.gdb = False
    version = subprocess.run([a.cnn, "version"], capture_output=True, text=True).stdout.strip()
    tv = subprocess.run(["/usr/bin/python3", "-c", "import torch, torchvision; "
                         "print(torch.__version__, torchvision.__version__)"],
                        capture_output=True, text=True).stdout.split()

    print(f"machine: {machine()}")
    print(f"date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"cnn.c: {version}; PyTorch {tv[0] if tv else '?'}, torchvision {tv[1] if len(tv) > 1 else '?'}")
    print(f"threads: {a.threads} on both sides; {a.warmup} warm-up + {a.iters} forwards; "
          f"{a.rounds} fresh process(es) per side and workload" + (", medians" if a.rounds > 1 else ""))
    print(f"command: /usr/bin/python3 bench/memory_side_by_side.py {' '.join(sys.argv[1:])}".rstrip())
    print("load average (1 min) at start: %.2f" % os.getloadavg()[0])
    print()
    print("MiB; base = peak RSS after building (cnn.c: compiling) the model; "
          "incr = peak - base; arena = cnn.c's planned activation arena")
    print()
    print("| model | batch | cnn.c peak | PyTorch peak | peak ratio | cnn.c base | PyTorch base "
          "| cnn.c incr | cnn.c arena | PyTorch incr | incr ratio | arena / PyTorch incr |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    sys.stdout.flush()
    errors, sources = [], set()
    for b in batches:
        for m in models:
            c = t = None
            try:
                c = median_run(lambda: run_cnn(a, m, b), a.rounds)
            except (RuntimeError, ValueError) as e:
                errors.append(f"{m} b{b}: cnn.c: {e}")
            try:
                t = median_run(lambda: run_torch(a, m, b), a.rounds)
            except (RuntimeError, ValueError) as e:
                errors.append(f"{m} b{b}: PyTorch: {e}")
            cp = c["peak_rss_bytes"] if c else None
            cb = c.get("baseline_bytes") if c else None
            ci = cp - cb if cb is not None else None
            ca = c["arena_bytes"] if c else None
            tp = t["peak_rss_bytes"] if t else None
            tb = t["baseline_bytes"] if t else None
            ti = tp - tb if t else None
            if c and "baseline_from" in c:
                sources.add(c["baseline_from"])
            print(f"| {m} | {b} | {mib(cp)} | {mib(tp)} | {ratio(cp, tp)} | {mib(cb)} | {mib(tb)} "
                  f"| {mib(ci)} | {mib(ca)} | {mib(ti)} | {ratio(ci, ti)} | {ratio(ca, ti)} |",
                  flush=True)
    print()
    src = {"json": "`rss_after_compile_bytes` of cnn bench --json",
           "gdb": "a second run under gdb, VmHWM where cnn_graph_compile returns"}
    print("cnn.c base from: " + (", ".join(src[s] for s in sorted(sources)) or "not measured"))
    print("driver's own peak RSS: %.1f MiB (children report at least this; see the docstring)"
          % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    print("load average (1 min) at end: %.2f" % os.getloadavg()[0])
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
