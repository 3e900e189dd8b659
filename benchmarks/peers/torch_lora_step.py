#!/usr/bin/env python3
"""PyTorch peer of nls's training step: the same model, batch and optimizer, timed in PyTorch.

Reads an nls / Hugging Face LLaMA model folder (config.json + model.safetensors, F16/BF16/F32 on
disk, computed in float32) and times a LoRA (or full) training step on one fixed batch:
causal-LM cross-entropy over the positions whose weight is 1, backward, global grad-norm clip at
1.0 and AdamW. `--mode fixed` trains rank-16 LoRA on q/k/v/up/down of every layer; `--mode nls`
draws per step, per layer and per module group (q/k/v share one rank; up; down) a rank from
`--ranks` and uses the first r rows of A and first r columns of B (weight sharing as in the NLS
papers), scaled by alpha / max rank throughout. `--full` trains every base weight instead.

The model is transformers' LlamaForCausalLM with PEFT's LoRA (`--impl hf`, the default when both
import), or a LLaMA written here with HF's semantics (`--impl torch`). Progress goes to stderr;
one JSON line with the measurements goes to stdout. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

try:
    import transformers
    import peft
except ImportError:  # the hand-written model needs neither
    transformers = None
    peft = None

# Modules that get adapters, and the groups that share one elastic rank in --mode nls.
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "up_proj", "down_proj")
RANK_GROUPS = {"qkv": ("q_proj", "k_proj", "v_proj"), "up": ("up_proj",), "down": ("down_proj",)}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Model folder


def read_config(model_dir: Path) -> dict:
    """config.json with the keys this peer relies on checked (LLaMA family only)."""
    cfg = json.loads((model_dir / "config.json").read_text())
    model_type = cfg.get("model_type")
    if model_type not in (None, "llama", "mistral"):
        raise SystemExit(f"{model_dir}/config.json: model_type {model_type!r} is not a LLaMA; this peer runs LLaMA-family models")
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        if not isinstance(cfg.get(key), int):
            raise SystemExit(f"{model_dir}/config.json: {key} is missing or not an integer")
    if cfg.get("hidden_act", "silu") != "silu":
        raise SystemExit(f"{model_dir}/config.json: hidden_act {cfg['hidden_act']!r}; only silu (SwiGLU) is supported")
    if cfg.get("rope_scaling") not in (None, {}) and (cfg["rope_scaling"] or {}).get("rope_type", "default") != "default":
        raise SystemExit(f"{model_dir}/config.json: rope_scaling is not supported")
    cfg.setdefault("num_key_value_heads", cfg["num_attention_heads"])
    if cfg.get("head_dim") is None:
        cfg["head_dim"] = cfg["hidden_size"] // cfg["num_attention_heads"]
    cfg.setdefault("rms_norm_eps", 1e-6)
    cfg.setdefault("rope_theta", 10000.0)
    cfg.setdefault("tie_word_embeddings", False)
    cfg.setdefault("max_position_embeddings", 2048)
    return cfg


def read_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    """HF-named tensors of model.safetensors (or its shards), as float32."""
    from safetensors.torch import load_file

    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out: dict[str, torch.Tensor] = {}
    for name in files:
        for key, tensor in load_file(str(model_dir / name)).items():
            out[key] = tensor.to(torch.float32)
    return out


# --------------------------------------------------------------------------------------------
# transformers + PEFT


def build_hf(cfg: dict, weights: dict[str, torch.Tensor], attn: str) -> nn.Module:
    """LlamaForCausalLM in float32 with the folder's weights."""
    keys = (
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "head_dim", "rms_norm_eps", "rope_theta", "vocab_size", "tie_word_embeddings", "max_position_embeddings",
        "bos_token_id", "eos_token_id", "pad_token_id",
    )
    config = transformers.LlamaConfig(
        **{k: cfg[k] for k in keys if cfg.get(k) is not None},
        hidden_act="silu", attention_bias=False, mlp_bias=False, attention_dropout=0.0, use_cache=False,
        attn_implementation=attn,
    )
    model = transformers.LlamaForCausalLM(config).to(torch.float32)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    allowed_missing = {"lm_head.weight"} if cfg["tie_word_embeddings"] else set()
    if set(missing) - allowed_missing or unexpected:
        raise SystemExit(f"checkpoint does not match config.json: missing {sorted(set(missing) - allowed_missing)}, unexpected {sorted(unexpected)}")
    if cfg["tie_word_embeddings"]:
        model.tie_weights()
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    return model


def attach_peft(model: nn.Module, rank: int, alpha: float, dropout: float, elastic: bool) -> tuple[nn.Module, dict]:
    """PEFT LoRA on TARGET_MODULES. With `elastic`, each LoRA layer's forward uses its first
    `nls_rank` rows of A / columns of B (the NLS weight-sharing supernet); returns the model and
    the LoRA layers by (layer index, module name)."""
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(TARGET_MODULES), bias="none", task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, config)
    layers: dict[tuple[int, str], nn.Module] = {}
    for name, module in model.named_modules():
        if isinstance(module, peft.tuners.lora.LoraLayer) and name.split(".")[-1] in TARGET_MODULES:
            parts = name.split(".")
            layer = int(parts[parts.index("layers") + 1])
            layers[(layer, parts[-1])] = module
            if elastic:
                module.nls_rank = rank
                module.forward = elastic_peft_forward(module)
    return model, layers


def elastic_peft_forward(module: nn.Module):
    """PEFT's vanilla LoRA forward with the adapter sliced to `module.nls_rank` (scaling stays
    PEFT's alpha / r of the full rank)."""
    lora_a = module.lora_A["default"]
    lora_b = module.lora_B["default"]
    dropout = module.lora_dropout["default"]
    scaling = module.scaling["default"]

    def forward(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        r = module.nls_rank
        result = module.base_layer(x, *args, **kwargs)
        down = F.linear(dropout(x), lora_a.weight[:r])
        return result + F.linear(down, lora_b.weight[:, :r]) * scaling

    return forward


# --------------------------------------------------------------------------------------------
# The same model written here (HF semantics), for machines without transformers / PEFT


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class LoraLinear(nn.Module):
    """A frozen linear plus an elastic LoRA adapter: y = W x + scaling * B[:, :r] A[:r] dropout(x).
    A starts as PEFT's (Kaiming uniform), B at zero, so the adapted model starts as the base."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.scaling = alpha / rank
        self.nls_rank = rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.nls_rank
        return self.base(x) + F.linear(F.linear(self.dropout(x), self.lora_A[:r]), self.lora_B[:, :r]) * self.scaling


class Attention(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        h, d = cfg["hidden_size"], cfg["head_dim"]
        self.heads, self.kv_heads, self.head_dim = cfg["num_attention_heads"], cfg["num_key_value_heads"], d
        self.q_proj = nn.Linear(h, self.heads * d, bias=False)
        self.k_proj = nn.Linear(h, self.kv_heads * d, bias=False)
        self.v_proj = nn.Linear(h, self.kv_heads * d, bias=False)
        self.o_proj = nn.Linear(self.heads * d, h, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        groups = self.heads // self.kv_heads
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(out.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Mlp(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        h, i = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = Mlp(cfg)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    """LLaMA with HF's parameter names (model.layers.N.self_attn.q_proj.weight, ...)."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.model.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.model.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        if cfg["tie_word_embeddings"]:
            self.lm_head.weight = self.model.embed_tokens.weight
        d = cfg["head_dim"]
        self.register_buffer("inv_freq", 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d)), persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        s = input_ids.shape[1]
        freqs = torch.outer(torch.arange(s, dtype=torch.float32), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = self.model.embed_tokens(input_ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.model.norm(x))


def build_torch(cfg: dict, weights: dict[str, torch.Tensor]) -> nn.Module:
    model = Llama(cfg)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    allowed_missing = {"lm_head.weight"} if cfg["tie_word_embeddings"] else set()
    if set(missing) - allowed_missing or unexpected:
        raise SystemExit(f"checkpoint does not match config.json: missing {sorted(set(missing) - allowed_missing)}, unexpected {sorted(unexpected)}")
    return model


def attach_torch_lora(model: Llama, rank: int, alpha: float, dropout: float) -> dict:
    layers: dict[tuple[int, str], nn.Module] = {}
    for i, layer in enumerate(model.model.layers):
        for parent in (layer.self_attn, layer.mlp):
            for name in TARGET_MODULES:
                if hasattr(parent, name):
                    wrapped = LoraLinear(getattr(parent, name), rank, alpha, dropout)
                    setattr(parent, name, wrapped)
                    layers[(i, name)] = wrapped
    return layers


# --------------------------------------------------------------------------------------------
# Data, loss, step


def read_batch(args, vocab: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input ids, targets (int64 [B, S]) and weights (float32 [B, S])."""
    if args.data:
        d = json.loads(Path(args.data).read_text())
        b, s = int(d["batch"]), int(d["seq"])
        for key in ("input_ids", "targets", "weights"):
            if len(d[key]) != b * s:
                raise SystemExit(f"{args.data}: {key} has {len(d[key])} values, batch x seq is {b * s}")
        ids = torch.tensor(d["input_ids"], dtype=torch.int64).view(b, s)
        targets = torch.tensor(d["targets"], dtype=torch.int64).view(b, s)
        weights = torch.tensor(d["weights"], dtype=torch.float32).view(b, s)
        for name, t in (("input_ids", ids), ("targets", targets)):
            if t.min() < 0 or t.max() >= vocab:
                raise SystemExit(f"{args.data}: {name} has ids outside [0, {vocab})")
        if (args.batch, args.seq) != (b, s):
            log(f"batch {b} x {s} from {args.data} (not --batch {args.batch} --seq {args.seq})")
        args.batch, args.seq = b, s
        return ids, targets, weights
    g = torch.Generator().manual_seed(args.seed)
    stream = torch.randint(0, vocab, (args.batch, args.seq + 1), generator=g, dtype=torch.int64)
    return stream[:, :-1].contiguous(), stream[:, 1:].contiguous(), torch.ones(args.batch, args.seq)


def weighted_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum(w * -log p(target)) / max(sum(w), 1), as nls's tokenCrossEntropy."""
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
    return (ce * weights.reshape(-1)).sum() / weights.sum().clamp(min=1)


def logits_of(model: nn.Module, ids: torch.Tensor, impl: str) -> torch.Tensor:
    return model(input_ids=ids).logits if impl == "hf" else model(ids)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="model folder: config.json + model.safetensors (HF LLaMA names)")
    p.add_argument("--batch", type=int, default=8, help="sequences per step (without --data)")
    p.add_argument("--seq", type=int, default=128, help="tokens per sequence (without --data)")
    p.add_argument("--steps", type=int, default=20, help="timed steps, after the warmup steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0, help="seed of the random batch, LoRA init, dropout and rank draws")
    p.add_argument("--mode", choices=("fixed", "nls"), default="fixed", help="fixed: rank --rank every step; nls: ranks drawn per step, layer and group")
    p.add_argument("--full", action="store_true", help="train every base weight instead of LoRA (pre-training)")
    p.add_argument("--data", help='batch written by nls: {"batch", "seq", "input_ids", "targets", "weights"} (flat, row-major)')
    p.add_argument("--rank", type=int, default=16, help="LoRA rank (the maximum rank in --mode nls)")
    p.add_argument("--ranks", default="16,12,8,4", help="ranks drawn from in --mode nls")
    p.add_argument("--alpha", type=float, default=32, help="LoRA alpha; scaling alpha / rank")
    p.add_argument("--dropout", type=float, default=0.05, help="LoRA dropout")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    p.add_argument("--impl", choices=("auto", "hf", "torch"), default="auto", help="hf: transformers + PEFT; torch: the LLaMA written here; auto: hf when both import")
    p.add_argument("--attn", choices=("sdpa", "eager"), default="sdpa", help="transformers attention implementation (--impl hf)")
    p.add_argument("--check-logits", metavar="OUT.f32", help="write the batch's float32 logits (base model, eval mode) as raw little-endian floats and exit")
    args = p.parse_args(argv)
    args.rank_choices = sorted({int(r) for r in args.ranks.split(",")}, reverse=True)
    if args.mode == "nls" and max(args.rank_choices) != args.rank:
        p.error(f"--ranks {args.ranks}: the largest rank must be --rank {args.rank} (the adapter's allocated rank)")
    if args.impl == "auto":
        args.impl = "hf" if transformers is not None and peft is not None else "torch"
    elif args.impl == "hf" and (transformers is None or peft is None):
        p.error("--impl hf needs transformers and peft; run setup.sh, or use --impl torch")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model_dir = Path(args.model)
    cfg = read_config(model_dir)
    weights = read_weights(model_dir)
    model = build_hf(cfg, weights, args.attn) if args.impl == "hf" else build_torch(cfg, weights)
    del weights
    ids, targets, loss_weights = read_batch(args, cfg["vocab_size"])
    log(
        f"{args.impl}: {cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, {cfg['num_attention_heads']}/{cfg['num_key_value_heads']} heads, "
        f"vocab {cfg['vocab_size']}; batch {args.batch} x {args.seq}; {args.threads} threads"
    )

    if args.check_logits:
        model.eval()
        with torch.no_grad():
            logits = logits_of(model, ids, args.impl).float().contiguous()
        logits.numpy().astype("<f4").tofile(args.check_logits)
        log(f"wrote {tuple(logits.shape)} float32 logits to {args.check_logits}")
        print(json.dumps({"peer": "pytorch", "check_logits": args.check_logits, "shape": list(logits.shape), "impl": args.impl}))
        return

    lora: dict[tuple[int, str], nn.Module] = {}
    if args.full:
        for param in model.parameters():
            param.requires_grad_(True)
    else:
        for param in model.parameters():
            param.requires_grad_(False)
        if args.impl == "hf":
            model, lora = attach_peft(model, args.rank, args.alpha, args.dropout, elastic=args.mode == "nls")
        else:
            lora = attach_torch_lora(model, args.rank, args.alpha, args.dropout)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    layers = cfg["num_hidden_layers"]
    draws = random.Random(args.seed)

    times: list[float] = []
    losses: list[float] = []
    total = args.warmup + args.steps
    for step in range(total):
        if args.mode == "nls" and lora:
            for layer in range(layers):
                for modules in RANK_GROUPS.values():
                    r = draws.choice(args.rank_choices)
                    for name in modules:
                        lora[(layer, name)].nls_rank = r
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = weighted_cross_entropy(logits_of(model, ids, args.impl), targets, loss_weights)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        value = loss.item()
        elapsed = (time.perf_counter() - start) * 1000
        losses.append(value)
        if step >= args.warmup:
            times.append(elapsed)
        log(f"step {step + 1}/{total}{' (warmup)' if step < args.warmup else ''}: loss {value:.4f}, {elapsed:.1f} ms")

    result = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "transformers": transformers.__version__ if args.impl == "hf" else None,
        "peft": peft.__version__ if args.impl == "hf" and not args.full else None,
        "impl": args.impl,
        "attn": args.attn if args.impl == "hf" else "sdpa",
        "threads": torch.get_num_threads(),
        "mode": "full" if args.full else args.mode,
        "batch": args.batch,
        "seq": args.seq,
        "steps": args.steps,
        "warmup": args.warmup,
        "ms_per_step_median": statistics.median(times) if times else None,
        "ms_per_step": [round(t, 3) for t in times],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "params_trainable": sum(p.numel() for p in trainable),
        "params_total": sum(p.numel() for p in model.parameters()),
    }
    if not args.full:
        result.update({"rank": args.rank, "ranks": args.rank_choices if args.mode == "nls" else [args.rank], "alpha": args.alpha, "dropout": args.dropout})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
