#!/usr/bin/env python3
"""Writes the PyTorch golden files the Rust tests check both backends against.

For each cell (nn.RNN tanh, nn.RNN relu, nn.LSTM, nn.GRU) at L = 2, B = 3,
T = 5, hidden 6, vocabulary 7, with a linear head and mean cross-entropy:

  tests/data/golden_<cell>.safetensors
      every parameter under its state_dict name (weight_ih_l0 ... head.bias),
      input.tokens / input.targets [T, B] (int32, time-major),
      input.h0 (and input.c0) [L, B, H],
      output.h [T, B, H] (top layer), output.hn (and output.cn) [L, B, H],
      output.loss [1], grad.<name> for every parameter.
  tests/data/state_dict_<cell>.safetensors
      only the parameters, exactly as `save_file(model.state_dict())` writes
      them for a module holding the rnn's tensors at top level plus `head`.

  tests/data/golden_bi_{lstm,gru}.safetensors (and state_dict_bi_*): the
      same for bidirectional=True over packed sequences of per-stream lengths
      (see make_bidirectional).

Token inputs are one-hot: W_ih · onehot(v) is what rnn-wgpu computes as a
gather. Run from the repository root: python3 scripts/make_golden.py
(CI reads the committed files and needs no Python.)
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

L, B, T, H, V = 2, 3, 5, 6, 7


def make(cell: str, seed: int):
    torch.manual_seed(seed)
    if cell == "lstm":
        rnn = nn.LSTM(V, H, L)
    elif cell == "gru":
        rnn = nn.GRU(V, H, L)
    else:
        rnn = nn.RNN(V, H, L, nonlinearity=cell.split("_")[1])
    head = nn.Linear(H, V)
    tokens = torch.randint(0, V, (T, B), dtype=torch.int32)
    targets = torch.randint(0, V, (T, B), dtype=torch.int32)
    h0 = torch.randn(L, B, H) * 0.5
    c0 = torch.randn(L, B, H) * 0.5

    x = F.one_hot(tokens.long(), V).float()
    if cell == "lstm":
        out, (hn, cn) = rnn(x, (h0, c0))
    else:
        out, hn = rnn(x, h0)
    logits = head(out)
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).long())
    loss.backward()

    params = {name: p.detach().clone() for name, p in rnn.named_parameters()}
    params.update({f"head.{name}": p.detach().clone() for name, p in head.named_parameters()})
    grads = {f"grad.{name}": p.grad.clone() for name, p in rnn.named_parameters()}
    grads.update({f"grad.head.{name}": p.grad.clone() for name, p in head.named_parameters()})

    golden = dict(params)
    golden.update(grads)
    golden["input.tokens"] = tokens
    golden["input.targets"] = targets
    golden["input.h0"] = h0
    golden["output.h"] = out.detach()
    golden["output.hn"] = hn.detach()
    golden["output.loss"] = loss.detach().reshape(1)
    if cell == "lstm":
        golden["input.c0"] = c0
        golden["output.cn"] = cn.detach()
    meta = {"cell": cell, "layers": str(L), "hidden": str(H), "vocab": str(V), "batch": str(B),
            "steps": str(T), "torch": torch.__version__}
    save_file({k: v.contiguous() for k, v in golden.items()}, f"tests/data/golden_{cell}.safetensors", metadata=meta)
    save_file({k: v.contiguous() for k, v in params.items()}, f"tests/data/state_dict_{cell}.safetensors")
    print(f"{cell}: loss {loss.item():.6f}")


def make_bidirectional(cell: str, seed: int):
    """nn.LSTM / nn.GRU with bidirectional=True over packed sequences of
    lengths [5, 2, 4] (the padding of a [T, B] block), loss = mean
    cross-entropy over the valid positions only.

    tests/data/golden_bi_<cell>.safetensors: as above plus input.lengths [B];
    output.h is zero at padded positions (pad_packed_sequence), output.hn /
    output.cn are [2L, B, H] (layer-major, forward then reverse)."""
    torch.manual_seed(seed)
    rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(V, H, L, bidirectional=True)
    head = nn.Linear(2 * H, V)
    lengths = torch.tensor([5, 2, 4], dtype=torch.int32)
    tokens = torch.randint(0, V, (T, B), dtype=torch.int32)
    targets = torch.randint(0, V, (T, B), dtype=torch.int32)
    h0 = torch.randn(2 * L, B, H) * 0.5
    c0 = torch.randn(2 * L, B, H) * 0.5

    x = F.one_hot(tokens.long(), V).float()
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.long(), enforce_sorted=False)
    if cell == "lstm":
        out, (hn, cn) = rnn(packed, (h0, c0))
    else:
        out, hn = rnn(packed, h0)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    logits = head(out)
    valid = torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)
    loss = F.cross_entropy(logits[valid], targets.long()[valid])
    loss.backward()

    params = {name: p.detach().clone() for name, p in rnn.named_parameters()}
    params.update({f"head.{name}": p.detach().clone() for name, p in head.named_parameters()})
    golden = dict(params)
    golden.update({f"grad.{name}": p.grad.clone() for name, p in rnn.named_parameters()})
    golden.update({f"grad.head.{name}": p.grad.clone() for name, p in head.named_parameters()})
    golden["input.tokens"] = tokens
    golden["input.targets"] = targets
    golden["input.lengths"] = lengths
    golden["input.h0"] = h0
    golden["output.h"] = out.detach()
    golden["output.hn"] = hn.detach()
    golden["output.loss"] = loss.detach().reshape(1)
    if cell == "lstm":
        golden["input.c0"] = c0
        golden["output.cn"] = cn.detach()
    meta = {"cell": cell, "layers": str(L), "hidden": str(H), "vocab": str(V), "batch": str(B),
            "steps": str(T), "bidirectional": "true", "torch": torch.__version__}
    save_file({k: v.contiguous() for k, v in golden.items()}, f"tests/data/golden_bi_{cell}.safetensors", metadata=meta)
    save_file({k: v.contiguous() for k, v in params.items()}, f"tests/data/state_dict_bi_{cell}.safetensors")
    print(f"bidirectional {cell}: loss {loss.item():.6f}")


for i, cell in enumerate(["rnn_tanh", "rnn_relu", "lstm", "gru"]):
    make(cell, 1000 + i)
for i, cell in enumerate(["lstm", "gru"]):
    make_bidirectional(cell, 2000 + i)
