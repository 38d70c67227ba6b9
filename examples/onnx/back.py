# "Bring your own network" (README): the network cnn.c trained, back in PyTorch. The
# ONNX initializers carry the state_dict names, so load_state_dict takes them as they
# are; prints the accuracy on the first 1000 Fashion-MNIST test images.
import gzip, numpy as np, onnx, torch
from onnx import numpy_helper
import os
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "net.py")).read()
exec(src.split("torch.onnx.export")[0])  # the same nn.Sequential, untrained
m = onnx.load("trained.onnx")
onnx.checker.check_model(m, full_check=True)
state = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy())
         for t in m.graph.initializer if "::" not in t.name}
missing, unexpected = net.load_state_dict(state, strict=False)
assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
d = "/usr/share/datasets/fashion-mnist/"
x = np.frombuffer(gzip.open(d + "t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
y = np.frombuffer(gzip.open(d + "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
x = torch.from_numpy(x[:1000 * 784].reshape(1000, 1, 28, 28).astype(np.float32) / 255)
with torch.no_grad():
    acc = (net.eval()(x).argmax(1).numpy() == y[:1000]).mean()
print(f"PyTorch, weights trained in cnn.c: accuracy {acc:.4f} on the first 1000 test images")
