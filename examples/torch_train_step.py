#!/usr/bin/python3
"""torch_train_step: bench_train's PyTorch twin. Milliseconds per training step of the same models, on the
same sizes, so that `bench_train --csv` and this script's `--csv` rows can be put side by side
(docs/11-performance.md).

  reverse  the encoder-decoder of the reverse task (nn.Transformer, post-norm): V=13 (0 pad, 1 bos, 2 eos,
           3..12 digits), sources of 4..12 digits padded to 12, target = source reversed then eos,
           D=64, H=4, FFN 128, 2+2 blocks, dropout 0.1, batch 64, Adam lr 1e-3, pad ignored by the loss.
           Padded, as PyTorch computes it: compare with bench_train's reverse_padded (and reverse).
  gpt      decoder-only, pre-norm, GELU, learned positions: V=65, T=64, D=128, H=4, FFN 512, 4 blocks,
           dropout 0.1, batch 32, Adam lr 1e-3, random tokens.
One step: a fresh batch, forward, cross-entropy, zero_grad, backward, Adam step.

  apt-get install -y python3-torch                      (Debian's PyTorch; run with /usr/bin/python3)
  /usr/bin/python3 examples/torch_train_step.py         a table, 1 thread
  /usr/bin/python3 examples/torch_train_step.py --threads 2 --csv    rows impl,config,threads,ms_per_step
"""
import argparse
import math
import time

import torch
from torch import nn

PAD, BOS, EOS, FIRST_DIGIT, REVERSE_VOCAB, SOURCE_LEN = 0, 1, 2, 3, 13, 12
WARMUP_STEPS = 5  # untimed, as bench_train's


def sinusoidal_table(max_len, d):
    """P[i, 2j] = sin(i w_j), P[i, 2j+1] = cos(i w_j), w_j = 10000^(-2j/d): [max_len, d]."""
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    w = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
    table = torch.empty(max_len, d, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * w)
    table[:, 1::2] = torch.cos(position * w)
    return table.float()


class ReverseModel(nn.Module):
    """Token embedding * sqrt(D) + sinusoidal positions on both sides, nn.Transformer, Linear(D, V)."""

    def __init__(self, D=64, H=4, F=128, blocks=2, dropout=0.1):
        super().__init__()
        self.scale = math.sqrt(D)
        self.src_embedding = nn.Embedding(REVERSE_VOCAB, D)
        self.tgt_embedding = nn.Embedding(REVERSE_VOCAB, D)
        self.register_buffer("positions", sinusoidal_table(64, D))
        self.dropout = nn.Dropout(dropout)
        self.transformer = nn.Transformer(d_model=D, nhead=H, num_encoder_layers=blocks,
                                          num_decoder_layers=blocks, dim_feedforward=F, dropout=dropout,
                                          batch_first=True)
        self.dense = nn.Linear(D, REVERSE_VOCAB)

    def embed(self, embedding, ids):  # [B,T] -> [B,T,D]
        return self.dropout(embedding(ids) * self.scale + self.positions[: ids.shape[1]])

    def forward(self, src, src_is_pad, tgt_in):  # -> logits [B,T,V]
        T = tgt_in.shape[1]
        future = torch.ones(T, T, dtype=torch.bool).triu(1)  # True: may not attend
        out = self.transformer(self.embed(self.src_embedding, src), self.embed(self.tgt_embedding, tgt_in),
                               tgt_mask=future, src_key_padding_mask=src_is_pad,
                               memory_key_padding_mask=src_is_pad)
        return self.dense(out)


def reverse_batch(B=64):
    """A padded batch of the reverse task: (inputs, targets [B,13])."""
    lens = torch.randint(4, SOURCE_LEN + 1, (B,))
    src = torch.full((B, SOURCE_LEN), PAD, dtype=torch.long)
    tgt = torch.full((B, SOURCE_LEN + 1), PAD, dtype=torch.long)
    for b, n in enumerate(lens.tolist()):
        digits = torch.randint(FIRST_DIGIT, REVERSE_VOCAB, (n,))
        src[b, :n] = digits
        tgt[b, :n] = digits.flip(0)
        tgt[b, n] = EOS
    tgt_in = torch.cat([torch.full((B, 1), BOS, dtype=torch.long), tgt[:, :-1]], dim=1)
    src_is_pad = torch.arange(SOURCE_LEN).unsqueeze(0) >= lens.unsqueeze(1)
    return (src, src_is_pad, tgt_in), tgt


class GPTModel(nn.Module):
    """Token + learned position embeddings, pre-norm causal blocks with GELU, final LayerNorm, Linear(D, V)."""

    def __init__(self, V=65, T=64, D=128, H=4, F=512, blocks=4, dropout=0.1):
        super().__init__()
        self.tokens = nn.Embedding(V, D)
        self.positions = nn.Embedding(T, D)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(D, H, F, dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, blocks)
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)

    def forward(self, ids):  # ids [B,T] -> logits [B,T,V]
        T = ids.shape[1]
        future = torch.ones(T, T, dtype=torch.bool).triu(1)
        x = self.dropout(self.tokens(ids) + self.positions(torch.arange(T)))
        return self.head(self.ln_f(self.blocks(x, mask=future)))


def gpt_batch(B=32, T=64, V=65):
    return (torch.randint(0, V, (B, T)),), torch.randint(0, V, (B, T))


def seconds_per_step(model, make_batch, vocab, ignore_index, steps):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(ignore_index=ignore_index)
    model.train()

    def step():
        inputs, targets = make_batch()
        loss = loss_fn(model(*inputs).reshape(-1, vocab), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(WARMUP_STEPS):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description="Milliseconds per training step, bench_train's PyTorch twin.")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps for reverse (gpt: half, at least 10)")
    parser.add_argument("--config", choices=["reverse", "gpt", "all"], default="all")
    parser.add_argument("--csv", action="store_true", help="print rows impl,config,threads,ms_per_step")
    args = parser.parse_args()
    if args.threads < 1 or args.steps < 1:
        parser.error(f"--threads and --steps must be at least 1, got {args.threads} and {args.steps}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = []
    if args.config in ("reverse", "all"):
        rows.append(("reverse", seconds_per_step(ReverseModel(), reverse_batch, REVERSE_VOCAB, PAD, args.steps)))
    if args.config in ("gpt", "all"):
        rows.append(("gpt", seconds_per_step(GPTModel(), gpt_batch, 65, -100, max(10, args.steps // 2))))

    if args.csv:
        for config, seconds in rows:
            print(f"torch,{config},{args.threads},{seconds * 1e3:.3f}")
        return
    print(f"{'config':<14} {'threads':>8} {'ms/step':>12}   (PyTorch {torch.__version__})")
    for config, seconds in rows:
        print(f"{config:<14} {args.threads:>8} {seconds * 1e3:>12.2f}")


if __name__ == "__main__":
    main()
