#!/usr/bin/python3
"""torch_from_checkpoint: the way out to PyTorch. Rebuilds the model of a qkv checkpoint in plain torch.nn
from the checkpoint alone (its metadata says the class and the config, its tensors are the weights), and
optionally checks that the rebuilt model gives qkv's logits (docs/09-training.md, "Leaving qkv").

  /usr/bin/python3 examples/torch_from_checkpoint.py runs/sort/sort.safetensors
        rebuild and load, print the model's size
  ./build/examples/export_logits --checkpoint runs/sort/sort.safetensors --out /tmp/logits.safetensors
  /usr/bin/python3 examples/torch_from_checkpoint.py runs/sort/sort.safetensors --logits /tmp/logits.safetensors
        run export_logits' inputs through both; exit 1 unless they agree (tolerance below)
  ... --save model.pt                    torch.save({"kind", "config", "state_dict"}) for plain PyTorch
  ... --reader hand|safetensors          the file reader (default: the safetensors package when installed)

The metadata keys (nn/io/checkpoint_metadata.h): model (EncoderDecoder or GPT), vocab_size, num_hiddens,
ffn_num_hiddens, num_heads, dropout, bias (of the attention projections; the FFN's linears always have one),
norm_first, activation (relu or gelu: exact, erf-based), num_blks, max_len. LayerNorm eps is 1e-5 in qkv.
What the class fixes:
  EncoderDecoder  token embedding x sqrt(D), fixed sinusoidal positions; post-norm blocks (or pre-norm,
                  each stack then ending in a LayerNorm); the decoder ends in a Linear D -> V.
  GPT             token embedding as is, learned positions, pre-norm causal blocks, LayerNorm, Linear D -> V.
qkv's names map one to one onto torch.nn.TransformerEncoderLayer / DecoderLayer's: W_q, W_k, W_v stacked
into in_proj_weight, W_o -> out_proj, ffn.dense1/2 -> linear1/2, addnorm<i>.ln -> norm<i>.

Agreement: |torch - qkv| <= 1e-5 * max|qkv logits| + 1e-5 at every logit (float32 rounding, summed in
other orders, stays near 1e-6 of the logits' scale; a wrong weight or wiring is off by 1e-2 or more).
Exit status: 0 agree (or no --logits), 1 the logits disagree, 2 the files cannot be read or rebuilt.
"""
import argparse
import json
import math
import struct
import sys

import torch
from torch import nn

TOLERANCE = 1e-5  # relative to the largest logit, and absolute


class Refused(Exception):
    """A file this script cannot read or rebuild: the message names the file and what is wrong."""


def read_hand(path):
    """The safetensors format by hand: 8-byte little-endian header length N, N bytes of JSON, then the
    tensors' bytes. Returns ({name: float32 tensor}, metadata). qkv writes F32 only."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise Refused(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise Refused(f"{path}: header of {n} bytes runs past the end of the file")
    header = json.loads(blob[8 : 8 + n])
    data = blob[8 + n :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise Refused(f"{path}: tensor {name!r} is {info['dtype']}, only F32 is read")
        begin, end = info["data_offsets"]
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32) if end > begin else torch.zeros(0)
        tensors[name] = flat.reshape(info["shape"])
    return tensors, metadata


def read_safetensors(path):
    """The reference reader: safetensors.torch.load_file for the tensors, safe_open for the metadata."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
    return load_file(path), metadata


def have_safetensors():
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        return False
    return True


def config_of(path, metadata, tensors):
    """The class and config from the metadata; a checkpoint saved before "model" existed is told by its names."""
    kind = metadata.get("model") or ("GPT" if "tok_emb.weight" in tensors else "EncoderDecoder")
    if kind not in ("EncoderDecoder", "GPT"):
        raise Refused(f'{path}: metadata "model" must be EncoderDecoder or GPT, got {kind!r}')
    ints = ["vocab_size", "num_hiddens", "ffn_num_hiddens", "num_heads", "num_blks", "max_len", "bias", "norm_first"]
    missing = [k for k in ints + ["dropout", "activation"] if k not in metadata]
    if missing:
        raise Refused(f"{path}: metadata lacks {', '.join(missing)} (saved without model_metadata?)")
    c = {k: int(metadata[k]) for k in ints}
    c["dropout"], c["activation"] = float(metadata["dropout"]), metadata["activation"]
    if c["activation"] not in ("relu", "gelu"):
        raise Refused(f'{path}: metadata "activation" must be relu or gelu, got {c["activation"]!r}')
    c["bias"], c["norm_first"] = bool(c["bias"]), bool(c["norm_first"]) or kind == "GPT"
    # The modern block options (issue 15) are not rebuilt here: refuse them rather than build another model.
    plain = {"norm": "layer_norm", "ffn": "mlp", "rope": "0", "ffn_bias": "1", "norm_bias": "1", "tie_embeddings": "0"}
    modern = [f"{k}={metadata[k]}" for k, v in plain.items() if metadata.get(k, v) != v]
    if modern:
        raise Refused(f"{path}: this script rebuilds the classic blocks only, the checkpoint has {', '.join(modern)}")
    return kind, c


def sinusoidal_table(max_len, d):
    """qkv's PositionalEncoding: P[i, 2j] = sin(i / 10000^(2j/d)), P[i, 2j+1] = cos(...), in double, then
    float32: [max_len, d]."""
    i = torch.arange(max_len, dtype=torch.float64)[:, None]
    two_j = (torch.arange(d) - torch.arange(d) % 2).to(torch.float64)
    angle = i / torch.pow(10000.0, two_j / d)
    return torch.where(torch.arange(d) % 2 == 0, torch.sin(angle), torch.cos(angle)).float()


def block(c, decoder):
    """One qkv block as PyTorch's layer; bias=False reaches the attention projections only, as in qkv."""
    Layer = nn.TransformerDecoderLayer if decoder else nn.TransformerEncoderLayer
    layer = Layer(c["num_hiddens"], c["num_heads"], c["ffn_num_hiddens"], c["dropout"], c["activation"],
                  batch_first=True, norm_first=c["norm_first"])
    attentions = ["self_attn", "multihead_attn"] if decoder else ["self_attn"]
    for name in attentions:
        setattr(layer, name, nn.MultiheadAttention(c["num_hiddens"], c["num_heads"], c["dropout"],
                                                   bias=c["bias"], batch_first=True))
    return layer


def final_norm(c):
    return nn.LayerNorm(c["num_hiddens"]) if c["norm_first"] else None


class EncoderDecoder(nn.Module):
    """qkv's EncoderDecoder: src [B,S], src_valid_lens [B], tgt_in [B,T] -> logits [B,T,V]."""

    def __init__(self, c):
        super().__init__()
        D, V = c["num_hiddens"], c["vocab_size"]
        self.scale = math.sqrt(D)
        self.src_embedding, self.tgt_embedding = nn.Embedding(V, D), nn.Embedding(V, D)
        self.register_buffer("P", sinusoidal_table(c["max_len"], D), persistent=False)
        self.encoder = nn.TransformerEncoder(block(c, False), c["num_blks"], final_norm(c),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(block(c, True), c["num_blks"], final_norm(c))
        self.dense = nn.Linear(D, V)

    def forward(self, src, src_valid_lens, tgt_in):
        S, T = src.shape[1], tgt_in.shape[1]
        pad = torch.arange(S)[None, :] >= src_valid_lens[:, None]  # [B,S], True: a padded key
        causal = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)  # [T,T]: query t sees keys <= t
        # A mask that masks nothing keeps torch 1.13 off its encoder fast path, which fails on attention
        # without biases (it reads the absent in_proj_bias).
        nothing = torch.zeros(S, S)
        x = self.src_embedding(src) * self.scale + self.P[:S]
        memory = self.encoder(x, mask=nothing, src_key_padding_mask=pad)
        x = self.tgt_embedding(tgt_in) * self.scale + self.P[:T]
        return self.dense(self.decoder(x, memory, tgt_mask=causal, memory_key_padding_mask=pad))


class GPT(nn.Module):
    """qkv's GPT: ids [B,T] -> logits [B,T,V]."""

    def __init__(self, c):
        super().__init__()
        D, V = c["num_hiddens"], c["vocab_size"]
        self.tok_emb, self.pos_emb = nn.Embedding(V, D), nn.Embedding(c["max_len"], D)
        self.blocks = nn.TransformerEncoder(block(c, False), c["num_blks"], enable_nested_tensor=False)
        self.ln_f, self.head = nn.LayerNorm(D), nn.Linear(D, V)

    def forward(self, ids):
        T = ids.shape[1]
        causal = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
        x = self.tok_emb(ids) + self.pos_emb.weight[:T]
        return self.head(self.ln_f(self.blocks(x, mask=causal)))


def block_names(qkv, torch_prefix, attentions, norms):
    """qkv's names for one block -> PyTorch's: {torch name: (qkv names to concatenate)}."""
    out = {}
    for qkv_att, torch_att in attentions:
        for p in ("weight", "bias"):
            out[f"{torch_prefix}.{torch_att}.in_proj_{p}"] = [f"{qkv}.{qkv_att}.W_{w}.{p}" for w in "qkv"]
            out[f"{torch_prefix}.{torch_att}.out_proj.{p}"] = [f"{qkv}.{qkv_att}.W_o.{p}"]
    for i in range(1, norms + 1):
        for p in ("weight", "bias"):
            out[f"{torch_prefix}.norm{i}.{p}"] = [f"{qkv}.addnorm{i}.ln.{p}"]
            if i <= 2:
                out[f"{torch_prefix}.linear{i}.{p}"] = [f"{qkv}.ffn.dense{i}.{p}"]
    return out


def name_map(kind, c):
    """Every PyTorch parameter name -> the qkv tensor names it is made of."""
    m = {}
    if kind == "GPT":
        m.update({"tok_emb.weight": ["tok_emb.weight"], "pos_emb.weight": ["pos_emb.table.weight"]})
        for p in ("weight", "bias"):
            m.update({f"ln_f.{p}": [f"ln_f.{p}"], f"head.{p}": [f"head.{p}"]})
        for i in range(c["num_blks"]):
            m.update(block_names(f"blocks.{i}", f"blocks.layers.{i}", [("attention", "self_attn")], 2))
        return m
    m.update({"src_embedding.weight": ["encoder.embedding.weight"],
              "tgt_embedding.weight": ["decoder.embedding.weight"]})
    for p in ("weight", "bias"):
        m.update({f"encoder.norm.{p}": [f"encoder.ln_f.{p}"], f"decoder.norm.{p}": [f"decoder.ln_f.{p}"],
                  f"dense.{p}": [f"decoder.dense.{p}"]})
    for i in range(c["num_blks"]):
        m.update(block_names(f"encoder.blocks.{i}", f"encoder.layers.{i}", [("attention", "self_attn")], 2))
        m.update(block_names(f"decoder.blocks.{i}", f"decoder.layers.{i}",
                             [("attention1", "self_attn"), ("attention2", "multihead_attn")], 3))
    return m


def load(path, reader):
    """The checkpoint's model rebuilt in PyTorch, every weight loaded, in eval mode: (kind, config, model)."""
    tensors, metadata = read_safetensors(path) if reader == "safetensors" else read_hand(path)
    kind, c = config_of(path, metadata, tensors)
    model = (GPT if kind == "GPT" else EncoderDecoder)(c)
    wanted = model.state_dict()
    names = name_map(kind, c)
    state, used = {}, set()
    for torch_name in wanted:
        parts = names.get(torch_name)
        missing = [n for n in parts or [torch_name] if n not in tensors]
        if parts is None or missing:
            raise Refused(f"{path}: no tensor {missing or torch_name} for PyTorch's {torch_name}")
        state[torch_name] = torch.cat([tensors[n] for n in parts], 0)
        used.update(parts)
    # Anything else must be optimizer state or train_reverse's loss history, or the wiring is wrong.
    unused = [n for n in tensors if n not in used and not n.startswith("optimizer.") and n != "train.losses"]
    if unused:
        raise Refused(f"{path}: tensors PyTorch's {kind} has no place for: {', '.join(unused)}")
    try:
        model.load_state_dict(state, strict=True)  # shapes checked here
    except RuntimeError as e:
        raise Refused(f"{path}: {e}") from None
    return kind, c, model.eval()


def compare(path, kind, model, logits_path, reader):
    """Runs export_logits' inputs through the PyTorch model; prints the worst difference; True if they agree."""
    saved, metadata = read_safetensors(logits_path) if reader == "safetensors" else read_hand(logits_path)
    if metadata.get("model", kind) != kind:
        raise Refused(f"{logits_path}: logits of model {metadata['model']}, the checkpoint holds {kind}")
    inputs = ["ids"] if kind == "GPT" else ["src", "src_valid_lens", "tgt_in"]
    missing = [n for n in inputs + ["logits"] if n not in saved]
    if missing:
        raise Refused(f"{logits_path}: no {', '.join(missing)} for a {kind} (not written by export_logits?)")
    want = saved["logits"]
    with torch.no_grad():
        if kind == "GPT":
            got = model(saved["ids"].long())
        else:
            got = model(saved["src"].long(), saved["src_valid_lens"].long(), saved["tgt_in"].long())
    if got.shape != want.shape:
        raise Refused(f"{logits_path}: logits {list(want.shape)}, PyTorch's model gave {list(got.shape)}")
    scale = want.abs().max().item()
    diff = (got - want).abs()
    worst = diff.max().item()
    at = [int(i) for i in torch.nonzero(diff == worst)[0]]
    ok = bool((diff <= TOLERANCE * scale + TOLERANCE).all())
    print(f"{kind}: {want.numel()} logits of shape {list(want.shape)}, largest |logit| {scale:.4g}; worst "
          f"|torch - qkv| {worst:.3g} at {at} ({worst / max(scale, 1e-30):.3g} of the largest); tolerance "
          f"{TOLERANCE:g} x largest + {TOLERANCE:g}: {'agree' if ok else 'DISAGREE'}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a .safetensors checkpoint saved by qkv (train_reverse, train_sort)")
    parser.add_argument("--logits", help="export_logits' file: inputs and qkv's logits, to compare with")
    parser.add_argument("--reader", choices=["auto", "hand", "safetensors"], default="auto",
                        help="auto: the safetensors package when installed, else the hand-written reader")
    parser.add_argument("--save", help="write the PyTorch model to this file with torch.save")
    args = parser.parse_args()
    reader = args.reader
    if reader == "auto":
        reader = "safetensors" if have_safetensors() else "hand"
    elif reader == "safetensors" and not have_safetensors():
        print("torch_from_checkpoint: --reader safetensors, but the safetensors package is not installed "
              "(pip install safetensors)", file=sys.stderr)
        return 2
    try:
        kind, c, model = load(args.checkpoint, reader)
        n = sum(p.numel() for p in model.parameters())
        print(f"{args.checkpoint}: qkv {kind} rebuilt in PyTorch {torch.__version__} ({n} parameters, "
              f"read with {'safetensors.torch.load_file' if reader == 'safetensors' else 'the hand reader'})")
        if args.save:
            torch.save({"kind": kind, "config": c, "state_dict": model.state_dict()}, args.save)
            print(f"saved {args.save}")
        return 0 if not args.logits or compare(args.checkpoint, kind, model, args.logits, reader) else 1
    except (Refused, OSError, ValueError, KeyError) as e:
        print(f"torch_from_checkpoint: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
