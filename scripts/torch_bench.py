"""PyTorch's CPU training throughput on the bench configurations of
benches/throughput.rs, for comparison on the same machine at the same time.

    python scripts/torch_bench.py [--threads 2] [--runs 5]

A full step as the bench times it: forward over a [T, B] block of one-hot
characters (vocab 65) through nn.RNN / nn.LSTM / nn.GRU and a linear head,
mean cross-entropy, backward, clip_grad_norm_(5), Adam(2e-3); the hidden
state is carried between blocks and detached (truncated BPTT). chars/s =
B·T / step time; prints the median and range of `--runs` timings.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn

CONFIGS = [
    ("(a)", "rnn", 1, 128, 32, 64),
    ("(b)", "lstm", 1, 128, 32, 64),
    ("(c)", "lstm", 2, 128, 50, 50),
    ("(d)", "gru", 2, 256, 32, 64),
    ("(e)", "lstm", 2, 512, 64, 64),
]
VOCAB = 65


class CharModel(nn.Module):
    def __init__(self, cell, layers, hidden):
        super().__init__()
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = kind(VOCAB, hidden, layers)
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, x, state):
        out, state = self.rnn(x, state)
        return self.head(out), state


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def time_config(cell, layers, hidden, batch, bptt, steps, runs):
    torch.manual_seed(0)
    model = CharModel(cell, layers, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    blocks = []
    for _ in range(8):
        ids = torch.randint(0, VOCAB, (bptt + 1, batch))
        blocks.append((nn.functional.one_hot(ids[:-1], VOCAB).float(), ids[1:]))
    state = None

    def step(i):
        nonlocal state
        x, y = blocks[i % len(blocks)]
        logits, state = model(x, state)
        state = detach(state)
        loss = loss_fn(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    for i in range(3):
        step(i)
    rates = []
    for r in range(runs):
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        rates.append(steps * batch * bptt / (time.perf_counter() - start))
    return rates


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| config | chars/s (median) | range | runs x steps |")
    print("|---|---:|---:|---|")
    for tag, cell, layers, hidden, batch, bptt in CONFIGS:
        steps = max(2, int(20 * (128 * 128) / (hidden * hidden * layers)))
        rates = time_config(cell, layers, hidden, batch, bptt, steps, args.runs)
        label = f"{tag} {cell} L={layers} H={hidden} B={batch} T={bptt}"
        print(f"| {label} | {statistics.median(rates):.0f} | {min(rates):.0f}-{max(rates):.0f} | {args.runs} x {steps} |")


if __name__ == "__main__":
    main()
