#!/usr/bin/python3
"""PyTorch side of bench/train_side_by_side.sh: the seeds' d2l recipes on real
Fashion-MNIST (Debian's dataset-fashion-mnist), one line per epoch in the same format
as `cnn train`.  Run with Debian's interpreter: /usr/bin/python3 (python3-torch).

    /usr/bin/python3 bench/torch_train.py lenet --epochs 10 --lr 0.9 --threads 2
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        h, w = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, h, w)
    return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)


def lenet():
    # d2l chapter 6.6 LeNet (sigmoid, average pooling)
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def lenet_relu():
    # the notes' numberModel: ReLU + max pooling on 32x32 inputs
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["lenet", "lenet_relu"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.9)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr = read_idx("train-images-idx3-ubyte.gz")
    ytr = read_idx("train-labels-idx1-ubyte.gz")
    xte = read_idx("t10k-images-idx3-ubyte.gz")
    yte = read_idx("t10k-labels-idx1-ubyte.gz")
    size = 32 if a.model == "lenet_relu" else 28
    def prep(x):
        t = torch.from_numpy(x.astype(np.float32) / 255.0)
        if size != 28:
            t = nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
        return t
    xtr, xte = prep(xtr), prep(xte)
    ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)
    net = lenet() if a.model == "lenet" else lenet_relu()
    def init(m):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    net.apply(init)
    if a.optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = nn.CrossEntropyLoss()
    print(f"pytorch {torch.__version__}, {a.threads} threads, {a.model}, batch {a.batch}, {a.optimizer} lr {a.lr}")
    print("%5s %10s %9s %8s %10s %9s" % ("epoch", "loss", "train_acc", "test_acc", "img/s", "seconds"))
    n = xtr.shape[0]
    for epoch in range(1, a.epochs + 1):
        net.train()
        t0 = time.time()
        perm = torch.randperm(n)
        lsum, correct = 0.0, 0
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            x, y = xtr[idx], ytr[idx]
            opt.zero_grad()
            out = net(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            lsum += loss.item() * len(idx)
            correct += (out.argmax(1) == y).sum().item()
        train_s = time.time() - t0
        net.eval()
        with torch.no_grad():
            tc = sum((net(xte[i:i + 1024]).argmax(1) == yte[i:i + 1024]).sum().item()
                     for i in range(0, xte.shape[0], 1024))
        print("%5d %10.4f %9.4f %8.4f %10.1f %9.1f" % (epoch, lsum / n, correct / n, tc / xte.shape[0],
                                                      n / train_s, time.time() - t0), flush=True)


if __name__ == "__main__":
    sys.exit(main())
