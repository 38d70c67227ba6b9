#!/usr/bin/env python3
"""Ring all-reduce scaling model of docs/scaling.md: per-step compute time from the
model's multiply-adds and a node's sustained training throughput, all-reduce time
2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency, efficiency without and with full
overlap of communication and backward. Plain Python, no dependencies.
    python3 bench/scaling_model.py"""

MODELS = {  # name: (trainable parameters, multiply-adds per 224x224 image forward)
    "resnet18": (11_689_512, 1.814e9),
    "mobilenet_v2": (3_504_872, 0.301e9),
}
# sustained training FLOP/s of one node per model (forward + backward = 3x forward)
NODES = {
    "2-core node (this machine)": {"resnet18": 150e9, "mobilenet_v2": 60e9},
    "32-core node": {"resnet18": 2.0e12, "mobilenet_v2": 0.8e12},
}
PER_NODE_BATCH = 32
LINKS = {"10 Gbit/s": (10e9 / 8, 50e-6), "100 Gbit/s": (100e9 / 8, 10e-6)}  # bytes/s, latency s
NODE_COUNTS = (8, 32, 128)


def allreduce_s(nbytes, n, bw, lat):
    return 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * lat


def main():
    for node, speed in NODES.items():
        print(f"\n{node}, batch {PER_NODE_BATCH} per node (global batch = {PER_NODE_BATCH} x N)")
        print("| model | grad MB | compute ms/step | link | N | all-reduce ms | efficiency (no overlap) | (full overlap) |")
        print("|---|---|---|---|---|---|---|---|")
        for model, (params, macs) in MODELS.items():
            nbytes = 4 * params
            compute = PER_NODE_BATCH * 3 * 2 * macs / speed[model]
            for link, (bw, lat) in LINKS.items():
                for n in NODE_COUNTS:
                    t = allreduce_s(nbytes, n, bw, lat)
                    print(f"| {model} | {nbytes / 1e6:.1f} | {compute * 1e3:.0f} | {link} | {n} | {t * 1e3:.1f} "
                          f"| {compute / (compute + t):.0%} | {min(1.0, compute / max(compute, t)):.0%} |")


if __name__ == "__main__":
    main()
