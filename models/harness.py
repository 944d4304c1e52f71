"""Measure stage latencies on the local accelerator (``ragplan calibrate measure``; needs the ``[measure]`` extra).

The method of ``instances/measured/README.md``, so that a user's rows are comparable with the shipped ones:

- a lean transformer in plain PyTorch ops with random weights: decoders RMSNorm, one fused QKV GEMM, rotary
  embedding on q and k, ``scaled_dot_product_attention`` (causal for prefill, GQA via ``enable_gqa``), output
  projection, gated SiLU FFN (gate and up fused), residual adds, and the LM head on each sequence's last token;
  encoders post-LayerNorm, bidirectional attention and a GELU FFN;
- prefill: ``batch`` sequences of ``new_tokens`` tokens (context = those tokens); decode: one step of ``batch``
  sequences of one token attending to a KV cache of ``context_tokens`` tokens per sequence and layer;
- on CUDA each shape is captured once in a CUDA graph, replayed ``warmup`` times, then timed ``repeats`` times
  with CUDA events; on a CPU it is called ``warmup`` times, then timed ``repeats`` times with a wall clock;
  ``seconds`` is the median;
- a model measured on k < L layers (``layers``) is scaled: seconds = (t_k - t_head) L / k + t_head, with the LM
  head t_head timed on its own (the row records ``layers_measured`` k and ``layers_total`` L).

torch is imported when a measurement starts, never at import time, so the planner never needs it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from models.catalog import ACCELERATORS, TransformerModel, transformer
from models.measured import CalibrationError, MeasuredRow

__all__ = ["MeasureSpec", "detect_accelerator", "measure"]


@dataclass(frozen=True)
class MeasureSpec:
    """What to measure: one model, phases, batches, and the timing protocol."""

    model: str
    phases: tuple[str, ...] = ("prefill", "decode")
    batches: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    new_tokens: int | None = None  # prefill tokens per sequence (default: 512 decoders, 128 encoders)
    context_tokens: int = 640  # decode: cached tokens per sequence
    layers: int | None = None  # layers to run (default: all), the rest scaled
    precision: str = "bf16"
    device: str = "auto"
    warmup: int = 3
    repeats: int = 20
    seed: int = 0


def _torch():
    try:
        import torch
    except ImportError:
        raise CalibrationError("measuring needs PyTorch, which is not installed. To fix: pip install "
                               "'ragplan[measure]' (or a torch build for your GPU)") from None
    return torch


def detect_accelerator(device_name: str) -> str:
    """The catalog accelerator a device name names (``NVIDIA H100 80GB HBM3`` -> ``H100``)."""
    found = [a for a in ACCELERATORS if a.lower() in device_name.lower().split()]
    if len(found) != 1:
        raise CalibrationError(f"cannot tell which catalog accelerator the device {device_name!r} is (candidates "
                               f"{found or 'none'}). To fix: pass --accelerator with one of {sorted(ACCELERATORS)}")
    return found[0]


class _Net:
    """Random-weight layers of ``model`` and the passes that run them (plain PyTorch ops)."""

    def __init__(self, torch, model: TransformerModel, layers: int, dtype, device, seed: int):
        self.t, self.m, self.dtype, self.dev = torch, model, dtype, device
        gen = torch.Generator(device=device).manual_seed(seed)
        h, d, H, K, F = model.hidden, model.head_dim, model.heads, model.kv_heads, model.ffn
        g = 2 if model.gated_ffn else 1

        def w(*shape):
            return torch.randn(*shape, generator=gen, device=device, dtype=dtype) * 0.02

        self.layers = [{"qkv": w(h, (H + 2 * K) * d), "o": w(H * d, h), "up": w(h, g * F), "down": w(F, h),
                        "n1": 1 + w(h), "n2": 1 + w(h), "b1": w(h), "b2": w(h)} for _ in range(layers)]
        self.head = w(h, model.vocab) if model.decoder else None

    def _norm(self, x, wt, bias):
        t = self.t
        if self.m.decoder:  # RMSNorm in plain ops
            xf = x.float()
            return (xf * t.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * wt
        return t.nn.functional.layer_norm(x, (x.shape[-1],), wt, bias)

    def _rotary(self, x, pos):
        t, d = self.t, x.shape[-1]
        inv = 1.0 / (10000 ** (t.arange(0, d, 2, device=self.dev, dtype=t.float32) / d))
        ang = pos[:, None].float() * inv[None, :]
        cos, sin = t.cat([ang.cos(), ang.cos()], -1).to(x.dtype), t.cat([ang.sin(), ang.sin()], -1).to(x.dtype)
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return x * cos + t.cat([-x2, x1], -1) * sin

    def _attention(self, lay, x, cache):
        t, m = self.t, self.m
        b, s, _ = x.shape
        H, K, d = m.heads, m.kv_heads, m.head_dim
        q, k, v = (x @ lay["qkv"]).split([H * d, K * d, K * d], dim=-1)
        q, k, v = (y.view(b, s, n, d).transpose(1, 2) for y, n in ((q, H), (k, K), (v, K)))
        if m.decoder:
            pos = t.arange(s, device=self.dev) if cache is None else t.full((1,), cache[0].shape[2],
                                                                             device=self.dev)
            q, k = self._rotary(q, pos), self._rotary(k, pos)
        if cache is not None:  # decode: the cache holds the context, the new token's k/v written into its last slot
            kc, vc = cache
            kc[:, :, -1:], vc[:, :, -1:] = k, v
            k, v = kc, vc
        out = t.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=m.decoder and cache is None,
                                                           enable_gqa=H != K)
        return out.transpose(1, 2).reshape(b, s, H * d) @ lay["o"]

    def _ffn(self, lay, x):
        f = self.t.nn.functional
        if self.m.gated_ffn:
            gate, up = (x @ lay["up"]).chunk(2, dim=-1)
            return (f.silu(gate) * up) @ lay["down"]
        return f.gelu(x @ lay["up"]) @ lay["down"]

    def forward(self, x, caches=None, head: bool = True):
        for i, lay in enumerate(self.layers):
            c = None if caches is None else caches[i]
            if self.m.decoder:
                x = x + self._attention(lay, self._norm(x, lay["n1"], None), c)
                x = x + self._ffn(lay, self._norm(x, lay["n2"], None))
            else:
                x = self._norm(x + self._attention(lay, x, c), lay["n1"], lay["b1"])
                x = self._norm(x + self._ffn(lay, x), lay["n2"], lay["b2"])
        if head and self.head is not None:
            return x[:, -1] @ self.head
        return x

    def lm_head(self, x):
        return x[:, -1] @ self.head


def _timer(torch, device, warmup: int, repeats: int) -> Callable[[Callable[[], object]], float]:
    """Median seconds of a call: CUDA graph replays timed by events, or wall-clock calls on a CPU."""
    def on_cuda(fn) -> float:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        for _ in range(warmup):
            graph.replay()
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            graph.replay()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        return statistics.median(times)

    def on_cpu(fn) -> float:
        with torch.inference_mode():
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return on_cuda if device.type == "cuda" else on_cpu


def measure(spec: MeasureSpec, accelerator: str | None = None,
            progress: Callable[[str], None] = lambda _: None) -> list[MeasuredRow]:
    """Rows measured on the local device (``accelerator``: the catalog name; detected from a CUDA device)."""
    torch = _torch()
    model = transformer(spec.model)
    if spec.precision not in ("bf16", "fp16"):
        raise CalibrationError(f"the harness measures bf16 or fp16, got {spec.precision!r}. To fix: pass "
                               f"--precision bf16")
    if spec.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(spec.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CalibrationError("--device cuda but torch sees no CUDA device. To fix: use a CUDA build of torch "
                               "on a machine with a GPU, or --device cpu")
    if accelerator is None:
        if device.type != "cuda":
            raise CalibrationError(f"measuring on {device.type}: no catalog accelerator to compare with. To fix: "
                                   f"pass --accelerator NAME (the rows are labelled with it)")
        accelerator = detect_accelerator(torch.cuda.get_device_name(device))
    if accelerator not in ACCELERATORS:
        raise CalibrationError(f"unknown accelerator {accelerator!r}. To fix: use one of {sorted(ACCELERATORS)}")
    layers = spec.layers or model.layers
    if not 1 <= layers <= model.layers:
        raise CalibrationError(f"--layers {layers} is outside 1..{model.layers} ({model.name}). To fix: pick a "
                               f"count in that range")
    dtype = torch.bfloat16 if spec.precision == "bf16" else torch.float16
    net = _Net(torch, model, layers, dtype, device, spec.seed)
    timed = _timer(torch, device, spec.warmup, spec.repeats)
    scaled = layers < model.layers
    gen = torch.Generator(device=device).manual_seed(spec.seed + 1)
    rows = []
    for phase in spec.phases:
        if phase == "decode" and not model.decoder:
            continue
        s = 1 if phase == "decode" else spec.new_tokens or (512 if model.decoder else 128)
        ctx = spec.context_tokens if phase == "decode" else s
        for b in spec.batches:
            x = torch.randn(b, s, model.hidden, generator=gen, device=device, dtype=dtype) * 0.1
            caches = None
            if phase == "decode":
                shape = (b, model.kv_heads, ctx, model.head_dim)
                caches = [(torch.randn(*shape, generator=gen, device=device, dtype=dtype),
                           torch.randn(*shape, generator=gen, device=device, dtype=dtype)) for _ in range(layers)]
            with torch.inference_mode():
                t_all = timed(lambda: net.forward(x, caches))
                t_head = timed(lambda: net.lm_head(x)) if scaled and model.decoder else 0.0
            seconds = (t_all - t_head) * model.layers / layers + t_head if scaled else t_all
            rows.append(MeasuredRow(accelerator=accelerator, model=model.name, phase=phase, batch=b, new_tokens=s,
                                    context_tokens=ctx, precision=spec.precision, seconds=seconds,
                                    layers_measured=layers, layers_total=model.layers))
            progress(f"{model.name} {phase} batch {b}: {seconds * 1e3:.4g} ms")
    return rows
