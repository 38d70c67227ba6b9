# "Bring your own network" (README): a network defined in PyTorch, exported to ONNX
# for cnn.c. Run with /usr/bin/python3 (python3-torch); writes net.onnx here.
import torch

torch.manual_seed(0)  # the same initial weights every run
from torch import nn

class Residual(nn.Module):  # the d2l block: two 3x3 convs, an optional 1x1 shortcut
    def __init__(self, cin, cout, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv3 = nn.Conv2d(cin, cout, 1, stride=strides) if use_1x1conv else None
        self.bn1, self.bn2 = nn.BatchNorm2d(cout), nn.BatchNorm2d(cout)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (self.conv3(x) if self.conv3 else x))

net = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
    Residual(16, 32, use_1x1conv=True, strides=2), Residual(32, 32),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 10))
torch.onnx.export(net, torch.randn(1, 1, 28, 28), "net.onnx", opset_version=13,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                  training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
