#!/usr/bin/python3
"""Regenerates the committed PyTorch parity fixtures under tests/fixtures/.

Run with Debian's interpreter (python3-torch, python3-torchvision):
    /usr/bin/python3 tools/make_fixtures.py [module ...]
Every module in tools/fixtures/ defines make(outdir) and writes its files there.
CI never runs this: the fixtures are committed so the tests need no PyTorch."""
import importlib
import os
import pkgutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)


def main(argv):
    import torch

    torch.set_num_threads(1)
    outdir = os.path.join(ROOT, "tests", "fixtures")
    os.makedirs(outdir, exist_ok=True)
    names = argv or sorted(m.name for m in pkgutil.iter_modules([os.path.join(HERE, "fixtures")]))
    for name in names:
        mod = importlib.import_module("fixtures." + name)
        print(f"== {name}")
        mod.make(outdir)


if __name__ == "__main__":
    main(sys.argv[1:])
