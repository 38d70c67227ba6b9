#!/usr/bin/python3
"""Writes the ONNX import parity fixtures under tests/fixtures/onnx/.

Run with Debian's interpreter (python3-torch 1.13, python3-torchvision, python3-onnx):
    /usr/bin/python3 tools/make_onnx_fixtures.py
CI never runs this: the fixtures are committed (small nets, a few blocks of the big
zoo families) so tests/io/test_onnx_import.c needs no PyTorch.

Every model is filled by fixturelib.fill_formula (BN statistics not trivial), run in
eval mode, and exported with torch.onnx.export twice or three times:
  NAME.eval11.onnx      training=EVAL (BN folded into convs, names lost), opset 11
  NAME.train13.onnx     training=PRESERVE on the eval model (names kept), opset 13
  NAME.train17.onnx     the same at opset 17 (a few models)
and NAME.safetensors keeps "input" and "output" (the eval forward), metadata
"params" (the state_dict names, comma-separated, for the naming test)."""
import os
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import fixturelib  # noqa: E402
from fixtures import zoo_tv, zoo_seeds, zoo_seeds_mobile  # noqa: E402

OUT = os.path.join(ROOT, "tests", "fixtures", "onnx")


# ---------------------------------------------------------------- small models
class Flat(nn.Module):
    """x.view(x.size(0), -1): the Shape/Gather/Unsqueeze/Concat/Reshape subgraph."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        x = F.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


def resnet_blocks():
    from torchvision.models.resnet import BasicBlock, Bottleneck
    ds = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
    ds2 = nn.Sequential(nn.Conv2d(16, 32, 1, 1, bias=False), nn.BatchNorm2d(32))
    return nn.Sequential(
        nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1), BasicBlock(8, 8), BasicBlock(8, 16, 2, ds),
        Bottleneck(16, 8, downsample=ds2),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(32, 10))


def mobilenet_v2_blocks():
    from torchvision.models.mobilenetv2 import InvertedResidual
    from torchvision.ops.misc import Conv2dNormActivation
    return nn.Sequential(
        Conv2dNormActivation(3, 8, stride=2, activation_layer=nn.ReLU6),
        InvertedResidual(8, 8, 1, 1), InvertedResidual(8, 12, 2, 6), InvertedResidual(12, 12, 1, 6),
        Conv2dNormActivation(12, 32, kernel_size=1, activation_layer=nn.ReLU6),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 10))


def mobilenet_v3_blocks():
    from torchvision.models.mobilenetv3 import InvertedResidual, InvertedResidualConfig
    from torchvision.ops.misc import Conv2dNormActivation
    bn = lambda c: nn.BatchNorm2d(c, eps=0.001, momentum=0.01)  # noqa: E731
    return nn.Sequential(
        Conv2dNormActivation(3, 16, stride=2, norm_layer=bn, activation_layer=nn.Hardswish),
        InvertedResidual(InvertedResidualConfig(16, 3, 16, 16, True, "RE", 2, 1, 1.0), bn),
        InvertedResidual(InvertedResidualConfig(16, 5, 40, 24, True, "HS", 1, 1, 1.0), bn),
        InvertedResidual(InvertedResidualConfig(24, 3, 48, 24, False, "HS", 1, 1, 1.0), bn),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 32), nn.Hardswish(),
        nn.Dropout(0.2), nn.Linear(32, 10))


def shufflenet_v2_blocks():
    from torchvision.models.shufflenetv2 import InvertedResidual
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1), InvertedResidual(8, 16, 2), InvertedResidual(16, 16, 1),
        nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def shufflenet_v1_blocks():
    U = zoo_seeds_mobile.ShuffleV1Unit
    return nn.Sequential(nn.Conv2d(3, 12, 3, 2, 1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
                         U(12, 24, 2, 3, first_group=False), U(24, 24, 1, 3),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


class SEBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 3, padding=1)
        self.se = zoo_tv.SELayer(32, 8)

    def forward(self, x):
        return self.se(F.relu(self.conv(x)))


class CBAMBlock(nn.Module):
    """CBAM: channel gate (avg and max pooled through a shared MLP) then spatial gate."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.ca = zoo_tv.ChannelAttention(16, 4)
        self.sa = zoo_tv.SpatialAttention(7)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = x * self.ca(x)
        return x * self.sa(x)


class Attention(nn.Module):
    """MatMul between batched values and with constants (3-D linear layers), softmax on
    the last axis, unary maths, log-softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.q = nn.Linear(8, 4)
        self.v = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.conv(x))
        t = x.flatten(2).transpose(1, 2)
        q, v = self.q(t), self.v(t)
        a = torch.softmax(q @ q.transpose(1, 2) / 2.0, dim=-1)
        o = a @ v
        o = o.abs().sqrt() + torch.exp(-o.abs())
        return F.log_softmax(o.mean(dim=1), dim=1)


def densenet_blocks():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), zoo_tv.DenseBlock(2, 8, 4),
                         zoo_tv.transition_block(16, 8), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(8, 10))


def googlenet_blocks():
    from torchvision.models.googlenet import BasicConv2d, Inception
    return nn.Sequential(BasicConv2d(3, 8, kernel_size=3, stride=2, padding=1),
                         nn.MaxPool2d(3, 2, ceil_mode=True), Inception(8, 4, 4, 8, 2, 4, 4),
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Dropout(0.2),
                         nn.Linear(20, 10))


def vgg_blocks():
    return nn.Sequential(zoo_tv.vgg_block(2, 3, 8), zoo_tv.vgg_block(1, 8, 16), nn.Flatten(),
                         nn.Linear(16 * 2 * 2, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))


def alexnet_blocks():
    return nn.Sequential(nn.Conv2d(3, 8, 5, 2, 2), nn.ReLU(),
                         nn.LocalResponseNorm(3, alpha=1e-2, beta=0.75, k=2.0), nn.MaxPool2d(3, 2), nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(),
                         nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.Flatten(),
                         nn.Linear(12 * 3 * 3, 10), nn.Softmax(dim=1))


def nin_blocks():
    return nn.Sequential(nn.Conv2d(1, 8, 5, 2), nn.ReLU(), nn.Conv2d(8, 8, 1), nn.ReLU(),
                         nn.MaxPool2d(3, 2), nn.Dropout(0.5), nn.Conv2d(8, 10, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())


def mobilenet_v1_blocks():
    D = zoo_seeds_mobile.DepthwiseSeparableConv
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         D(8, 16, 1), D(16, 24, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(24, 10))


class HybridBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv3d = nn.Conv3d(1, 4, (5, 3, 3))
        self.bn = nn.BatchNorm3d(4)
        self.conv2d = nn.Conv2d(4 * 6, 8, 3)
        self.fc = nn.Linear(8 * 3 * 3, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.conv3d(x)))
        x = x.reshape(x.shape[0], -1, x.shape[3], x.shape[4])
        x = F.relu(self.conv2d(x))
        return self.fc(x.flatten(1))


class Conv1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv1d(3, 6, 3, padding=1, stride=2)
        self.bn = nn.BatchNorm1d(6)

    def forward(self, x):
        return F.leaky_relu(self.bn(self.c(x)), 0.0) if False else torch.tanh(self.bn(self.c(x)))


class General(nn.Module):
    """What the zoo's layers do not cover: reflect pad, leaky relu, elu, arithmetic with
    constants and a broadcast parameter, strided slices, sums, max over an axis,
    transpose, clamp, broadcasting between batched values."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 4).reshape(4, 1, 1))

    def forward(self, x):
        x = F.pad(x, (1, 2, 0, 1), mode="reflect")
        y = F.leaky_relu(self.conv(x), 0.1) * self.scale
        y = F.elu(y) * 0.5 - y / 3.0
        y = y[:, :, 1:, ::2]
        s = y.sum(dim=(2, 3))
        t = y.amax(dim=2).transpose(1, 2)
        return torch.clamp(t.flatten(1), -0.5, 0.7) + s.sum(1, keepdim=True) * 0.01


class Extra(nn.Module):
    """PReLU, Softplus, Softsign, LayerNorm (opset 17: LayerNormalization; before:
    written out in reductions and arithmetic)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.prelu = nn.PReLU(4, init=0.2)
        self.ln = nn.LayerNorm([6, 6])

    def forward(self, x):
        y = self.prelu(self.conv(x))
        y = F.softplus(y) - F.softsign(y)
        return self.ln(y)


def small_models():
    """name -> (constructor, input shape without batch, batch, dynamic batch, opsets)"""
    d2l = zoo_tv
    return {
        "conv": (lambda: nn.Conv2d(3, 6, 3, padding=1), (3, 8, 8), 1, False, (11, 13, 17)),
        "residual": (lambda: d2l.Residual(3, 6, use_1x1conv=True, strides=2), (3, 8, 8), 2, True,
                     (11, 13)),
        "denseblock": (lambda: d2l.DenseBlock(2, 3, 10), (3, 8, 8), 2, False, (11, 13)),
        "inception": (lambda: d2l.Inception(4, 2, (3, 4), (2, 3), 2), (4, 8, 8), 2, True, (11, 13)),
        "flat": (Flat, (3, 6, 6), 2, True, (11, 13)),
        "lenet": (zoo_seeds.lenet, (1, 28, 28), 2, False, (11, 13)),
        "resnet": (resnet_blocks, (3, 32, 32), 2, True, (11, 13, 17)),
        "mobilenet_v2": (mobilenet_v2_blocks, (3, 32, 32), 2, True, (11, 13)),
        "mobilenet_v3": (mobilenet_v3_blocks, (3, 32, 32), 2, True, (11, 13, 17)),
        "shufflenet_v2": (shufflenet_v2_blocks, (3, 32, 32), 2, False, (11, 13)),
        "shufflenet_v1": (shufflenet_v1_blocks, (3, 16, 16), 2, True, (11, 13)),
        "se": (SEBlock, (3, 8, 8), 2, True, (11, 13)),
        "cbam": (CBAMBlock, (3, 8, 8), 2, False, (11, 13)),
        "densenet": (densenet_blocks, (3, 8, 8), 2, True, (11, 13)),
        "googlenet": (googlenet_blocks, (3, 16, 16), 2, True, (11, 13)),
        "vgg": (vgg_blocks, (3, 8, 8), 2, False, (11, 13)),
        "alexnet": (alexnet_blocks, (3, 16, 16), 2, True, (11, 13)),
        "nin": (nin_blocks, (1, 16, 16), 2, False, (11, 13)),
        "mobilenet_v1": (mobilenet_v1_blocks, (3, 16, 16), 2, True, (11, 13)),
        "hybridsn": (HybridBlocks, (1, 10, 7, 7), 2, False, (11, 13)),
        "attention": (Attention, (3, 4, 4), 2, True, (11, 13, 17)),
        "extra": (Extra, (3, 6, 6), 2, True, (13, 17)),
        "general": (General, (3, 8, 9), 2, True, (11, 13, 17)),
        "conv1d": (Conv1d, (3, 9), 2, True, (11, 13)),
    }


TRAINING_MODE = {"vgg", "mobilenet_v2"}


def export(model, x, path, opset, training, dynamic):
    kw = {}
    if dynamic:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    torch.onnx.export(model, x, path, opset_version=opset, training=training,
                      input_names=["input"], output_names=["output"], do_constant_folding=True, **kw)


def bad_models():
    """Malformed models for the error tests (tests/fixtures/onnx/bad/): each must be a
    clear error naming what is wrong."""
    import onnx
    from onnx import helper, TensorProto

    bad = os.path.join(OUT, "bad")
    os.makedirs(bad, exist_ok=True)
    W = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 1, 1], [1.0, 2.0])

    def model(nodes, inits, inp=("x", [1, 1, 2, 2]), out=("y", [1, 2, 2, 2]), opset=13):
        g = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info(inp[0], TensorProto.FLOAT, inp[1])],
                              [helper.make_tensor_value_info(out[0], TensorProto.FLOAT, out[1])], inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

    def save(name, m):
        with open(os.path.join(bad, name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())

    conv = lambda i="x", o="y", n="conv": helper.make_node("Conv", [i, "w"], [o], name=n)  # noqa: E731
    save("good", model([conv()], [W]))
    save("missing_init", model([conv()], []))
    save("duplicate_init", model([conv()], [W, W]))
    save("cycle", model([helper.make_node("Relu", ["b"], ["a"], name="r1"),
                         helper.make_node("Add", ["x", "a"], ["b"], name="add"),
                         conv("b", "y")], [W]))
    save("symbolic", model([conv()], [W], inp=("x", [1, 1, "height", 2])))
    save("huge", model([conv()], [W], inp=("x", [1, 1, 1 << 40, 2])))
    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 1, 1], [1.0, 2.0])
    t.data_type = 99
    save("unknown_dtype", model([conv()], [t]))
    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 1, 1], [1.0, 2.0])
    t.dims[0] = 1 << 40
    save("huge_init", model([conv()], [t]))
    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 1, 1], [1.0, 2.0])
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../escape.bin"), ("offset", "0"), ("length", "8")):
        e = t.external_data.add()
        e.key, e.value = k, v
    save("external_escape", model([conv()], [t]))
    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 1, 1], [1.0, 2.0])
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", "8")):
        e = t.external_data.add()
        e.key, e.value = k, v
    save("external_ok", model([conv()], [t]))
    with open(os.path.join(bad, "w.bin"), "wb") as f:
        f.write(np.array([1.0, 2.0], dtype="<f4").tobytes())
    save("unsupported_op", model([helper.make_node("Einsum", ["x", "x"], ["y"], name="ein", equation="ij,jk->ik")], []))
    # a 150-byte file whose constant folding would create 2^30 / 2e9 values
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [1 << 30])
    one = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])
    save("const_bomb", model([helper.make_node("ConstantOfShape", ["shape"], ["c"], name="c", value=one),
                              helper.make_node("Add", ["x", "c"], ["y"], name="add")], [shape]))
    rng = [helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in (("st", 0.0), ("lim", 2e9), ("dl", 1.0))]
    save("range_bomb", model([helper.make_node("Range", ["st", "lim", "dl"], ["c"], name="c"),
                              helper.make_node("Add", ["x", "c"], ["y"], name="add")], rng))
    good = open(os.path.join(bad, "good.onnx"), "rb").read()
    with open(os.path.join(bad, "truncated.onnx"), "wb") as f:
        f.write(good[: len(good) // 2])
    with open(os.path.join(bad, "corrupt.onnx"), "wb") as f:
        f.write(bytes((b * 7 + 13) & 255 for b in good))


def lrn_model():
    """An ONNX LRN node (torch 1.13 writes nn.LocalResponseNorm out as Pow/Pad/
    AveragePool/Div instead): tests/fixtures/onnx/lrn.onnx + lrn.safetensors."""
    from onnx import helper, TensorProto

    g = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("LRN", ["c"], ["output"], name="lrn", size=3, alpha=0.01, beta=0.75, bias=2.0)],
        "lrn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 6, 6])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 5, 6, 6])],
        [helper.make_tensor("w", TensorProto.FLOAT, [5, 3, 3, 3],
                            fixturelib.formula_value("w", (5, 3, 3, 3)).ravel().tolist())])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with open(os.path.join(OUT, "lrn.train13.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    x = torch.randn((2, 3, 6, 6), generator=torch.Generator().manual_seed(1))
    w = torch.from_numpy(fixturelib.formula_value("w", (5, 3, 3, 3)))
    y = F.local_response_norm(F.conv2d(x, w, padding=1), 3, alpha=0.01, beta=0.75, k=2.0)
    fixturelib.save_safetensors(os.path.join(OUT, "lrn.safetensors"),
                                {"input": x.numpy(), "output": y.numpy()}, {"params": "w"})


def same_pad_model():
    """What Keras / tf2onnx write: auto_pad SAME_UPPER / SAME_LOWER with even kernels
    and strides (asymmetric pads), explicit asymmetric pads on a max pool and an
    average pool (count_include_pad=1). Expected values from torch with F.pad."""
    from onnx import helper, TensorProto

    w1 = fixturelib.formula_value("w1", (4, 3, 2, 2))
    w2 = fixturelib.formula_value("w2", (4, 4, 3, 3))
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["a"], name="conv_same_upper", auto_pad="SAME_UPPER",
                         strides=[2, 2]),
        helper.make_node("Relu", ["a"], ["b"], name="relu"),
        helper.make_node("MaxPool", ["b"], ["c"], name="pool_asym", kernel_shape=[2, 2], pads=[0, 0, 1, 1],
                         strides=[1, 1]),
        helper.make_node("Conv", ["c", "w2"], ["d"], name="conv_same_lower", auto_pad="SAME_LOWER",
                         strides=[2, 2]),
        helper.make_node("AveragePool", ["d"], ["output"], name="avg_asym", kernel_shape=[2, 2],
                         pads=[1, 0, 0, 1], count_include_pad=1),
    ]
    g = helper.make_graph(nodes, "same", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 7, 7])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)],
                          [helper.make_tensor("w1", TensorProto.FLOAT, [4, 3, 2, 2], w1.ravel().tolist()),
                           helper.make_tensor("w2", TensorProto.FLOAT, [4, 4, 3, 3], w2.ravel().tolist())])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with open(os.path.join(OUT, "same_pad.train13.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    x = torch.randn((2, 3, 7, 7), generator=torch.Generator().manual_seed(1))
    # 7 -> 4 with k2 s2: total pad 1, SAME_UPPER puts it at the end
    a = F.conv2d(F.pad(x, (0, 1, 0, 1)), torch.from_numpy(w1), stride=2)
    c = F.max_pool2d(F.pad(F.relu(a), (0, 1, 0, 1), value=float("-inf")), 2, 1)
    # 4 -> 2 with k3 s2: total pad 1, SAME_LOWER puts it at the start
    d = F.conv2d(F.pad(c, (1, 0, 1, 0)), torch.from_numpy(w2), stride=2)
    y = F.avg_pool2d(F.pad(d, (0, 1, 1, 0)), 2, 1)
    fixturelib.save_safetensors(os.path.join(OUT, "same_pad.safetensors"),
                                {"input": x.numpy(), "output": y.numpy()}, {"params": "w1,w2"})


def main():
    import onnx

    same_pad_model()

    bad_models()
    lrn_model()

    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    total = 0
    for name, (ctor, shape, batch, dynamic, opsets) in small_models().items():
        torch.manual_seed(0)
        model = ctor()
        fixturelib.fill_formula(model)
        model.eval()
        g = torch.Generator().manual_seed(1)
        x = torch.randn((batch,) + tuple(shape), generator=g)
        with torch.no_grad():
            y = model(x)
        files = []
        for opset in opsets:
            for training, tag in ((torch.onnx.TrainingMode.EVAL, "eval"),
                                  (torch.onnx.TrainingMode.PRESERVE, "train")):
                if tag == "eval" and opset != opsets[0]:
                    continue
                path = os.path.join(OUT, f"{name}.{tag}{opset}.onnx")
                export(model, x, path, opset, training, dynamic)
                onnx.checker.check_model(onnx.load(path))
                files.append(path)
        if name in TRAINING_MODE:
            # exported in training mode (BN with training_mode, Dropout nodes): the
            # imported graph in eval mode must still give the eval output. The trace
            # runs a training forward, which would move the running statistics: a
            # copy with momentum 0 keeps them.
            import copy
            m2 = copy.deepcopy(model)
            for mod in m2.modules():
                if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                    mod.momentum = 0.0
            path = os.path.join(OUT, f"{name}.training13.onnx")
            export(m2, x, path, 13, torch.onnx.TrainingMode.TRAINING, dynamic)
            onnx.checker.check_model(onnx.load(path))
            files.append(path)
        params = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
        fixturelib.save_safetensors(os.path.join(OUT, f"{name}.safetensors"),
                                    {"input": x.numpy(), "output": y.numpy()},
                                    {"params": ",".join(params), "batch": batch,
                                     "dynamic": int(dynamic)})
        size = sum(os.path.getsize(f) for f in files)
        total += size
        print(f"{name:16s} {len(files)} files {size / 1024:8.1f} KiB")
    print(f"total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
