"""PyTorch's side of d2l AlexNet's linear layers (6400-4096-4096-10, batch 64): forward and
backward per step, 2 threads, median of 3 after a warm-up. cnn.c's side is the linear rows
of `cnn bench alexnet_d2l --train --layers --batch 64 --input 1x224x224 --classes 10`.
Usage: /usr/bin/python3 bench/torch_linear_stack.py"""
import torch, time
torch.set_num_threads(2)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(6400,4096), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(4096,4096), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(4096,10))
x = torch.randn(64,6400, requires_grad=True)
ts=[]
for i in range(4):
    t0=time.perf_counter(); y=net(x); t1=time.perf_counter(); y.sum().backward(); t2=time.perf_counter()
    if i: ts.append((t1-t0,t2-t1))
ts.sort(key=lambda a:a[0]+a[1]); f,b=ts[len(ts)//2]
print(f"torch linear stack (6400-4096-4096-10, batch 64, 2 threads): fwd {f*1e3:.1f} ms, bwd {b*1e3:.1f} ms, total {1e3*(f+b):.1f} ms")
print("torch", torch.__version__, [w for w in torch.__config__.show().replace(",", " ").split() if w.startswith("BLAS_INFO")])
