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
median and worst. A round runs every condition and every system in turn (the systems'
order alternating between rounds), so the ratio busy / alone of one round compares the
same minutes of a shared machine: its median and worst round are printed. Beside busy
loops the script also prints the CPU share cnn.c got: its CPU time over its own and the
loops' (fair: threads / (threads + BUSY)).

    /usr/bin/python3 bench/oversub.py [--threads 2] [--repeats 3] [--busy 6]
        [--only lenet_train,mobilenet_v2_b8] [--cnn build/cnn] [--before OLD/cnn] [--pool-stats]

--pool-stats runs cnn.c "after" with CNN_POOL_STATS=1 beside the busy loops and prints,
under each busy row, the medians of its workers' CPU time over the caller's and of the
workers' time idle while a loop's last chunks ran elsewhere over their time in chunks
(docs/architecture.md, "Threads on a busy machine").

The machine's load average is printed with each row: on a shared machine "alone" is
only as alone as the others let it be.
"""
import argparse
import json
import os
import re
import resource
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


def cpu_s(pid):
    """user + system CPU seconds of a running process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pool_stats(err):
    """(workers' CPU / caller's CPU, workers' idle-with-the-loop-held / in-chunks) from
    CNN_POOL_STATS=1's lines on stderr; None where a line is missing."""
    th = re.search(r"pool threads: caller ([0-9.]+) ms on a core, [0-9.]+ ms waiting for one; "
                   r"workers ([0-9.]+) ms on a core", err)
    wk = re.search(r"pool workers: ([0-9.]+) ms in chunks, ([0-9.]+) ms idle while", err)
    cpu = float(th.group(2)) / float(th.group(1)) if th and float(th.group(1)) > 0 else None
    held = float(wk.group(2)) / float(wk.group(1)) if wk and float(wk.group(1)) > 0 else None
    return cpu, held


def measure(cmd, env, condition, busy, errs=None):
    """(images/s, share) of cmd under condition: alone, busy (BUSY yes loops) or twin.
    share (busy only): the command's CPU time over its and the busy loops' CPU time in
    the same interval, the share of the CPU it got against them (fair: threads / (threads
    + BUSY)); None otherwise. errs: a list that gets the runs' stderr."""
    others = []
    try:
        if condition == "busy":
            for _ in range(busy):
                others.append(subprocess.Popen(["sh", "-c", "exec yes > /dev/null"]))
            time.sleep(0.5)
            yes0 = sum(cpu_s(p.pid) for p in others)
            own0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
        if condition == "twin":
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        outs = [p.communicate() for p in procs]
        share = None
        if condition == "busy":
            yes = sum(cpu_s(p.pid) for p in others) - yes0
            own1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            own = own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime
            share = own / (own + yes) if own + yes > 0 else float("nan")
        for p, (o, e) in zip(procs, outs):
            if p.returncode != 0:
                raise RuntimeError(" ".join(cmd) + ": " + e.strip())
            if errs is not None:
                errs.append(e)
        # twin: both runs count, each should get half
        return statistics.mean(parse(o) for o, _ in outs), share
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
    ap.add_argument("--pool-stats", action="store_true", help="CNN_POOL_STATS=1 for cnn.c after beside busy loops")
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
          f"busy = {a.busy} x `yes > /dev/null`; each round runs every condition and system in "
          f"turn, so a round's busy/alone ratio compares the same minutes")
    print("| workload | condition | " + " | ".join(s[0] for s in systems) +
          " | cnn.c after / its alone (median / worst round) | cnn.c after's CPU share | load avg |")
    print("|---|---|" + "---|" * len(systems) + "---|---|---|")
    conds = ("alone", "busy", "twin")
    for w in names:
        vals = {(c, sname): [] for c in conds for sname, _, _ in systems}
        shares, loads, pstats = [], {c: [] for c in conds}, []
        for r in range(a.repeats):
            for cond in conds:
                for sname, mk, env in (systems if r % 2 == 0 else systems[::-1]):
                    stats = a.pool_stats and cond == "busy" and sname == "cnn.c after"
                    errs = []
                    v, share = measure(mk(w), dict(env, CNN_POOL_STATS="1") if stats else env, cond, a.busy,
                                       errs)
                    if stats:
                        pstats += [pool_stats(e) for e in errs]
                    vals[(cond, sname)].append(v)
                    if share is not None and sname == "cnn.c after":
                        shares.append(share)
                loads[cond].append(os.getloadavg()[0])
        alone = vals[("alone", "cnn.c after")]
        for cond in conds:
            cells = []
            for sname, _, _ in systems:
                v = vals[(cond, sname)]
                med = statistics.median(v)
                fmt = (lambda x: f"{x:.0f}") if med >= 10 else (lambda x: f"{x:.2f}")
                cells.append(f"{fmt(med)} / {fmt(min(v))}")
            ratios = [x / y for x, y in zip(vals[(cond, "cnn.c after")], alone)]
            share = (f"{100 * statistics.median(shares):.0f}% (fair {100 * a.threads / (a.threads + a.busy):.0f}%)"
                     if cond == "busy" and shares else "")
            print(f"| {w} | {cond} | " + " | ".join(cells) +
                  f" | {statistics.median(ratios):.2f} / {min(ratios):.2f} | {share} | "
                  f"{statistics.median(loads[cond]):.1f} |", flush=True)
            cpu = [c for c, _ in pstats if c is not None]
            held = [h for _, h in pstats if h is not None]
            if cond == "busy" and (cpu or held):
                print(f"  pool ({w}, busy, cnn.c after, median of {len(pstats)}): workers' CPU / caller's "
                      f"{statistics.median(cpu) if cpu else float('nan'):.2f}, workers idle with the loop held / in "
                      f"chunks {statistics.median(held) if held else float('nan'):.1f}", flush=True)


if __name__ == "__main__":
    main()
