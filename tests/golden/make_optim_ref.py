#!/usr/bin/python3
"""Reference numbers for tests/test_optim.c, computed with torch.optim.

A store of two parameters, w [2, 3] and b [2], starts from fixed values; for
three steps each gets a fixed gradient and the optimizer steps. Prints, for
every optimizer configuration, the 8 values (w then b) after each step, as C
initialisers to paste into the test.

Usage: /usr/bin/python3 tests/golden/make_optim_ref.py
"""
import torch

W0 = [[0.5, -0.25, 1.0], [-1.5, 0.0, 0.75]]
B0 = [0.1, -0.2]
# gradients of steps 1, 2, 3 (w then b); a zero entry and sign changes on purpose
GRADS = [
    ([[0.1, -0.2, 0.3], [0.0, 1.5, -0.05]], [0.5, -1.0]),
    ([[-0.3, 0.1, 0.2], [0.0, -0.5, 0.4]], [0.25, 0.125]),
    ([[0.05, 0.05, -0.6], [0.0, 2.0, 0.01]], [-0.75, 0.3]),
]

CONFIGS = [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.1)),
    ("sgd_wd", lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01)),
    ("momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    ("momentum_dampening", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5)),
    ("nesterov_wd", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True,
                                              weight_decay=0.01)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.01)),
    ("adam_wd", lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                                           weight_decay=0.1)),
    ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
]

print(f"/* written by tests/golden/make_optim_ref.py (torch {torch.__version__}) */")
for name, make in CONFIGS:
    w = torch.tensor(W0, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(B0, dtype=torch.float32, requires_grad=True)
    opt = make([w, b])
    rows = []
    for gw, gb in GRADS:
        w.grad = torch.tensor(gw, dtype=torch.float32)
        b.grad = torch.tensor(gb, dtype=torch.float32)
        opt.step()
        values = w.detach().flatten().tolist() + b.detach().tolist()
        rows.append("{ " + ", ".join(f"{v:.9g}f" for v in values) + " }")
    print(f"static const float ref_{name}[3][8] = {{\n    " + ",\n    ".join(rows) + ",\n};")
