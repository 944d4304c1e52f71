"""Operator-level roofline of transformer inference, with tensor/pipeline/data parallelism and memory limits.

Formulas R1-R8 (``docs/model.md``, section "Analytical models"), per chip, for one forward pass of x sequences
of s query tokens each, attending to c context tokens (T = x s tokens), on a shard of tensor-parallel degree t:

- R1 operator time t_op = max(F_op / (P eta_c), M_op / (W eta_m)): F_op operations, M_op bytes moved, P the
  peak of the compute precision, W the HBM bandwidth, eta_c and eta_m explicit efficiency factors.
- R2 per layer (heads H_t = H/t, KV heads K_t = ceil(K/t), FFN F_t = F/t, g = 2 for a gated FFN, d head dim,
  w/a/k bytes per weight/activation/cached value):
  QKV GEMM   F = 2 T h (H_t + 2K_t) d,   M = T h a + h (H_t + 2K_t) d w + T H_t d a + 2 T K_t d k
  attention  F = 4 x H_t s c d,           M = 2 x s H_t d a + 2 x c K_t d k      (fused, no score matrix)
  out proj   F = 2 T H_t d h,             M = T H_t d a + H_t d h w + T h a
  FFN in     F = 2 T h g F_t,             M = T h a + h g F_t w + T g F_t a
  FFN act    M = T (g + 1) F_t a;  FFN out F = 2 T F_t h, M = T F_t a + F_t h w + T h a
  norms and residuals M = 10 T h a.  A decoder adds the LM head on the last token of each sequence:
  F = 2 x h V/t, M = h V/t w + x h a + x V/t a.
- R3 tensor parallelism: two ring all-reduces of T h a bytes per layer, each 2(t-1)/t T h a / (B_link eta_l)
  + 2(t-1) lambda (lambda = per-step link latency).
- R4 pipeline parallelism over p stages of ceil(L/p) layers, m = min(p, x) micro-batches of ceil(x/m)
  sequences: latency = (m + p - 1) (stage time + a point-to-point send of the micro-batch's activations);
  the LM head is charged to every stage slot (conservative).
- R5 data parallelism: n chips hold r = floor(n / (t p)) replicas (the remainder idles); the busiest gets
  ceil(x / r) sequences.
- R6 memory per chip: weights P_w w / (t p) + KV x kv_tokens 2 ceil(L/p) K_t d k + activations
  2 x s (h + g F_t) a <= eta_hbm HBM. The sequences one replica can hold: cap = floor((eta_hbm HBM - W_chip)
  / (per-sequence KV + activations)); a shard with cap < 1 cannot hold the model.
- R7 a prefill whose replica share exceeds cap runs in v = ceil(share / cap) sequential waves of
  ceil(share / v) sequences; a decode batch must fit (no waves).
- R8 the latency of (n chips, batch) is the minimum over shardings (t divides H, p a power of two <= L,
  t p <= n) of R4-R7: the planner configures the best sharding per (n, batch).
- R10 fixed per-layer overhead: every layer a chip runs in one pass adds tau_dec (decoder layer) or tau_enc
  (encoder layer) seconds, whatever the batch: kernel launches, pipeline fill and small unfused kernels that no
  roofline sees. Datasheet efficiencies have tau = 0; a calibration (``models.calibration``, C1-C4) fits
  eta_c, eta_m, tau_dec and tau_enc to measured rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.catalog import Accelerator, TransformerModel

__all__ = ["Efficiency", "Pass", "Precision", "Sharding", "fits_latency_many", "memory_capacity", "pass_latency",
           "shardings"]


@dataclass(frozen=True)
class Precision:
    """Bytes per weight, activation and cached KV value, and the compute precision of the GEMMs."""

    weight_bytes: float = 1.0
    activation_bytes: float = 2.0
    kv_bytes: float = 1.0
    compute: str = "int8"


@dataclass(frozen=True)
class Efficiency:
    """Explicit efficiency factors of the roofline (1.0 = the datasheet peak)."""

    compute: float = 1.0
    memory: float = 1.0
    link: float = 1.0
    link_latency_s: float = 2e-6
    hbm_usable: float = 0.9
    decoder_layer_overhead_s: float = 0.0
    encoder_layer_overhead_s: float = 0.0

    def layer_overhead_s(self, model: TransformerModel) -> float:
        """R10: the fixed time one layer of ``model`` adds to a pass."""
        return self.decoder_layer_overhead_s if model.decoder else self.encoder_layer_overhead_s


@dataclass(frozen=True)
class Pass:
    """One forward pass of a stage: ``query_tokens`` per sequence, attending to ``context_tokens`` (average),
    caching ``kv_tokens`` per sequence at its peak; ``lm_head`` for decoders."""

    query_tokens: int
    context_tokens: float
    kv_tokens: int
    lm_head: bool
    resident_bytes: float = 0.0  # R12: bytes every replica keeps in HBM besides the weights (a KV cache), sharded


@dataclass(frozen=True)
class Sharding:
    tp: int
    pp: int

    def replicas(self, n: int) -> int:
        return n // (self.tp * self.pp)


def shardings(model: TransformerModel, n: int) -> list[Sharding]:
    """R8: tensor degrees dividing the head count, pipeline degrees powers of two <= layers, t p <= n."""
    out = []
    for t in range(1, min(n, model.heads) + 1):
        if model.heads % t:
            continue
        p = 1
        while t * p <= n and p <= model.layers:
            out.append(Sharding(t, p))
            p *= 2
    return out


@dataclass(frozen=True)
class _Parts:
    compute_s: np.ndarray  # time of compute-bound operators
    memory_s: np.ndarray  # time of memory-bound operators
    comm_s: np.ndarray
    overhead_s: np.ndarray | float = 0.0  # R10 fixed per-layer time

    @property
    def total(self) -> np.ndarray:
        return self.compute_s + self.memory_s + self.comm_s + self.overhead_s

    def __add__(self, o: "_Parts") -> "_Parts":
        return _Parts(self.compute_s + o.compute_s, self.memory_s + o.memory_s, self.comm_s + o.comm_s,
                      self.overhead_s + o.overhead_s)

    def scale(self, k: np.ndarray | float) -> "_Parts":
        return _Parts(self.compute_s * k, self.memory_s * k, self.comm_s * k, self.overhead_s * k)


def _ops(pairs: list[tuple[np.ndarray, np.ndarray]], hw: Accelerator, prec: Precision, eff: Efficiency) -> _Parts:
    """R1 over a list of (operations, bytes) pairs; each operator counts where its roofline binds."""
    peak = hw.peak_tflops[prec.compute] * 1e12 * eff.compute
    bw = hw.hbm_bytes_per_s * eff.memory
    comp = mem = 0.0
    for f, m in pairs:
        tc, tm = np.asarray(f, dtype=np.float64) / peak, np.asarray(m, dtype=np.float64) / bw
        bound = tc >= tm
        comp = comp + np.where(bound, tc, 0.0)
        mem = mem + np.where(bound, 0.0, tm)
    zero = np.zeros_like(np.asarray(comp + mem, dtype=np.float64))
    return _Parts(comp + zero, mem + zero, zero)


def _layer(model: TransformerModel, hw: Accelerator, prec: Precision, eff: Efficiency, t: int, x: np.ndarray,
           ps: Pass) -> _Parts:
    """R2+R3: one layer on one chip of a tensor-parallel shard, for x sequences."""
    h, d, s, c = model.hidden, model.head_dim, ps.query_tokens, ps.context_tokens
    ht, kt, ft = model.heads // t, _cdiv(model.kv_heads, t), _cdiv(model.ffn, t)
    g = 2 if model.gated_ffn else 1
    w, a, k = prec.weight_bytes, prec.activation_bytes, prec.kv_bytes
    T = x * s
    parts = _ops([
        (2 * T * h * (ht + 2 * kt) * d, T * h * a + h * (ht + 2 * kt) * d * w + T * ht * d * a + 2 * T * kt * d * k),
        (4 * x * ht * s * c * d, 2 * x * s * ht * d * a + 2 * x * c * kt * d * k),
        (2 * T * ht * d * h, T * ht * d * a + ht * d * h * w + T * h * a),
        (2 * T * h * g * ft, T * h * a + h * g * ft * w + T * g * ft * a),
        (0 * T, T * (g + 1) * ft * a),
        (2 * T * ft * h, T * ft * a + ft * h * w + T * h * a),
        (0 * T, 10 * T * h * a),
    ], hw, prec, eff)
    if np.any(t > 1):  # (t: a degree, or a column of them: 0 added where t = 1 leaves every sum as it was)
        link = hw.interconnect_bytes_per_s * eff.link
        ar = 2 * (t - 1) / t * T * h * a / link + 2 * (t - 1) * eff.link_latency_s
        parts = parts + _Parts(0 * T, 0 * T, 2 * ar)
    return parts + _Parts(0 * T, 0 * T, 0 * T, 0 * T + eff.layer_overhead_s(model))


def _lm_head(model: TransformerModel, hw: Accelerator, prec: Precision, eff: Efficiency, t: int,
             x: np.ndarray) -> _Parts:
    h, vt = model.hidden, _cdiv(model.vocab, t)
    w, a = prec.weight_bytes, prec.activation_bytes
    return _ops([(2 * x * h * vt, h * vt * w + x * h * a + x * vt * a)], hw, prec, eff)


def memory_capacity(model: TransformerModel, hw: Accelerator, prec: Precision, eff: Efficiency, sh: Sharding,
                    ps: Pass) -> int:
    """R6: sequences one replica of sharding ``sh`` can hold (< 1: the model does not fit)."""
    t, p = sh.tp, sh.pp
    layers = math.ceil(model.layers / p)
    weights = (model.layer_params * layers + model.embedding_params) * prec.weight_bytes / t
    kv_seq = ps.kv_tokens * 2 * layers * math.ceil(model.kv_heads / t) * model.head_dim * prec.kv_bytes
    g = 2 if model.gated_ffn else 1
    act_seq = 2 * ps.query_tokens * (model.hidden + g * math.ceil(model.ffn / t)) * prec.activation_bytes
    free = eff.hbm_usable * hw.hbm_bytes - weights - ps.resident_bytes / (t * p)
    return int(free // (kv_seq + act_seq)) if free > 0 else 0


def _replica_latency(model: TransformerModel, hw: Accelerator, prec: Precision, eff: Efficiency, sh: Sharding,
                     x: np.ndarray, ps: Pass) -> _Parts:
    """R4 for one replica processing x >= 1 sequences in one wave."""
    t, p = sh.tp, sh.pp  # degrees, or columns of them (``_fits_latency``)
    m = np.minimum(p, x)
    mb = np.ceil(x / m)
    stage = _layer(model, hw, prec, eff, t, mb, ps).scale(_cdiv(model.layers, p))
    if ps.lm_head:
        stage = stage + _lm_head(model, hw, prec, eff, t, mb)
    if np.any(p > 1):
        link = hw.interconnect_bytes_per_s * eff.link
        p2p = mb * ps.query_tokens * model.hidden * prec.activation_bytes / link + eff.link_latency_s
        stage = stage + _Parts(0 * mb, 0 * mb, np.where(p > 1, p2p, 0.0))
    return stage.scale(m + p - 1)


#: the most batches ``pass_latency`` takes with every sharding at once (past it the arrays outgrow the caches and
#: the loop over shardings is faster)
ROWS_AT_ONCE = 32


def _cdiv(a: int, b):
    """ceil(a / b) in integers (b an int or an int array)."""
    return -(-a // b)


def _fits_latency(model: TransformerModel, hw: Accelerator, prec: Precision, eff: Efficiency, n: int,
                  seqs: np.ndarray, ps: Pass, waves: bool) -> np.ndarray:
    """``pass_latency``'s minimum with every sharding at once (rows of the arrays): each element takes the loop's
    operations in the loop's order, so the latencies are the same to the bit (tested)."""
    fit = [(sh, cap) for sh in shardings(model, n) if (cap := memory_capacity(model, hw, prec, eff, sh, ps)) >= 1]
    if not fit:
        return np.full(seqs.shape, np.inf)
    col = lambda v: np.array(v, dtype=np.int64)[:, None]  # noqa: E731
    sh = Sharding(col([f.tp for f, _ in fit]), col([f.pp for f, _ in fit]))
    cap = col([c for _, c in fit])
    share = np.ceil(seqs.reshape(1, -1) / col([f.replicas(n) for f, _ in fit]))
    v = np.ceil(share / cap) if waves else np.where(share <= cap, 1.0, np.inf)
    per = np.ceil(share / np.where(np.isfinite(v), v, 1.0))
    lat = _replica_latency(model, hw, prec, eff, sh, per, ps).total * v
    return lat.min(axis=0).reshape(seqs.shape)


def fits_latency_many(model: TransformerModel, hw: Accelerator, prec: Precision, eff: Efficiency, units: np.ndarray,
                      seqs: np.ndarray, ps: Pass, waves: bool) -> np.ndarray:
    """``_fits_latency`` for several chip counts at once, (len(units), len(seqs)): every (count, sharding) pair a
    row of the same arrays, each element taking the same operations (the same floats); inf where nothing fits."""
    units = np.asarray(units, dtype=np.int64).reshape(-1)
    out = np.full((len(units), seqs.size), np.inf)
    fit = [(sh, cap) for sh in shardings(model, int(units.max(initial=0)))
           if (cap := memory_capacity(model, hw, prec, eff, sh, ps)) >= 1]
    pairs = [(i, sh, cap) for i, n in enumerate(units.tolist()) for sh, cap in fit if sh.tp * sh.pp <= n]
    if not pairs:
        return out
    col = lambda v: np.array(v, dtype=np.int64)[:, None]  # noqa: E731
    row = col([i for i, _, _ in pairs])[:, 0]
    sh = Sharding(col([f.tp for _, f, _ in pairs]), col([f.pp for _, f, _ in pairs]))
    cap = col([c for _, _, c in pairs])
    share = np.ceil(seqs.reshape(1, -1) / col([f.replicas(int(units[i])) for i, f, _ in pairs]))
    v = np.ceil(share / cap) if waves else np.where(share <= cap, 1.0, np.inf)
    per = np.ceil(share / np.where(np.isfinite(v), v, 1.0))
    lat = _replica_latency(model, hw, prec, eff, sh, per, ps).total * v
    np.minimum.at(out, row, lat)
    return out


#: the most sharded latency rows one ``memo`` keeps (of ``seqs.size`` floats each; cleared when full)
MEMO_ROWS = 4096


def pass_latency(model: TransformerModel, hw: Accelerator, prec: Precision, eff: Efficiency, n: int,
                 seqs: np.ndarray, ps: Pass, *, waves: bool, parts_too: bool = True,
                 memo: dict | None = None) -> tuple[np.ndarray, list[tuple[Sharding, _Parts]]]:
    """R5-R8: latency (s) of ``seqs`` sequences on ``n`` chips, minimised over shardings; inf where nothing fits.

    Also returns, per sharding that fits, its latency parts (for reports of what bounds a stage; an empty list
    without ``parts_too``: the solvers' tables need only the latency). ``memo`` (a dict the caller keeps for one
    model, accelerator, precision, efficiency and pass; without ``parts_too``): a sharding's latencies depend on n
    only through its replica count n // (t p), so chip counts sharing it reuse them (the same floats)."""
    seqs = np.asarray(seqs, dtype=np.float64)
    if not parts_too and seqs.size <= ROWS_AT_ONCE:  # few batches: every sharding at once saves the loop's overhead
        return _fits_latency(model, hw, prec, eff, n, seqs, ps, waves), []
    best = np.full(seqs.shape, np.inf)
    parts = []
    tag = (waves, seqs.shape, seqs.tobytes()) if memo is not None and not parts_too else None
    if tag is not None and len(memo) > MEMO_ROWS:
        memo.clear()
    for sh in shardings(model, n):
        key = None if tag is None else (sh.tp, sh.pp, sh.replicas(n), tag)
        if key is not None and key in memo:
            best = np.minimum(best, memo[key])
            continue
        cap = memory_capacity(model, hw, prec, eff, sh, ps)
        if cap < 1:
            if key is not None:
                memo[key] = np.full(seqs.shape, np.inf)
            continue
        share = np.ceil(seqs / sh.replicas(n))
        v = np.ceil(share / cap) if waves else np.where(share <= cap, 1.0, np.inf)
        per = np.ceil(share / np.where(np.isfinite(v), v, 1.0))
        one = _replica_latency(model, hw, prec, eff, sh, per, ps)
        lat = one.total * v
        if parts_too:
            parts.append((sh, one.scale(np.where(np.isfinite(v), v, np.nan))))
        if key is not None:
            memo[key] = lat
        best = np.minimum(best, lat)
    return best, parts
