#!/usr/bin/python3
"""Write tests/golden/tiny.safetensors, a checkpoint made outside weft.

Debian ships no `safetensors` Python package, so the file is written here by
hand, byte for byte as the reference implementation (safetensors 0.3/0.4,
serialize()) writes it: u64 header length, compact JSON with "__metadata__"
first and tensors ordered by dtype alignment then name, padded with spaces
to a multiple of 8, then each tensor's bytes contiguously, little-endian.
The tensor values come from torch. Prints the expected values as C hex floats
for tests/test_io.c.

Usage: /usr/bin/python3 tests/golden/make_safetensors.py [out]
"""
import json
import os
import struct
import sys

import torch

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                         "tiny.safetensors")

tensors = {
    # awkward values: a third, negative zero, the smallest subnormal, the largest float
    "encoder.weight": torch.tensor([[1 / 3, -2.5, 0.1],
                                    [-0.0, 1.401298464324817e-45, 3.4028234663852886e38]],
                                   dtype=torch.float32),
    "decoder.bias": torch.arange(4, dtype=torch.float32) * -0.25 + 1,
    "rnn.weight_hh_l0": torch.linspace(-1, 1, 8, dtype=torch.float32).reshape(2, 2, 2),
}
metadata = {
    "format": "pt",
    "weft.config": json.dumps({"task": "lm", "cell": "lstm", "hidden": 2}),
    "weft.vocab": json.dumps(["<unk>", "<eos>", "caf\u00e9", "a \"quoted\" \\ word"],
                             ensure_ascii=False),
}

# the reference writer sorts by (alignment descending, name); all are F32 here
names = sorted(tensors)
header = {"__metadata__": metadata}
data = b""
for name in names:
    t = tensors[name].contiguous()
    raw = t.numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape),
                    "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
text += b" " * (-len(text) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    f.write(data)

print(f"/* written by tests/golden/make_safetensors.py: {os.path.getsize(out)} bytes */")
for name in names:
    values = tensors[name].flatten().tolist()
    print(f"/* {name} {list(tensors[name].shape)} */")
    print("{ " + ", ".join(float(v).hex() + "f" for v in values) + " },")
