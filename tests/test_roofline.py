"""Roofline formulas R1-R9: hand-computed small cases, monotonicity in batch and chips, memory limits."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import ModelError
from models.analytical import RooflineCost, StageWork
from models.catalog import ACCELERATORS, MODELS, Accelerator, TransformerModel, accelerator, transformer
from tests.conftest import examples
from models.roofline import (Efficiency, Pass, Precision, Sharding, fits_latency_many, memory_capacity, pass_latency,
                             shardings)

# A 1-layer encoder on a chip doing 1e6 operations/s and moving 1e6 bytes/s: each operator costs max(F, M) us.
TINY = TransformerModel(name="tiny", layers=1, hidden=8, heads=2, kv_heads=2, ffn=16, vocab=10, gated_ffn=False,
                        decoder=False, source="test")
CHIP = Accelerator(name="unit", vendor="test", peak_tflops={"int8": 1e-6}, hbm_bytes=10_000, hbm_bytes_per_s=1e6,
                   interconnect_bytes_per_s=1e6, chips_per_host=4, source="test")
EFF = Efficiency(link_latency_s=0.0)
PREC = Precision(weight_bytes=1, activation_bytes=2, kv_bytes=1)
PS = Pass(query_tokens=4, context_tokens=4, kv_tokens=4, lm_head=False)


def _lat(n, seqs, ps=PS, waves=True, eff=EFF):
    return float(pass_latency(TINY, CHIP, PREC, eff, n, np.array([float(seqs)]), ps, waves=waves)[0][0])


def test_one_chip_prefill_by_hand():
    # T = 4 tokens, h = 8, d = 4, H = K = 2, F = 16; per operator max(ops, bytes):
    qkv = max(2 * 4 * 8 * 6 * 4, 4 * 8 * 2 + 8 * 6 * 4 + 4 * 2 * 4 * 2 + 2 * 4 * 2 * 4)  # 1536 vs 384
    attn = max(4 * 1 * 2 * 4 * 4 * 4, 2 * 4 * 2 * 4 * 2 + 2 * 4 * 2 * 4)  # 512 vs 192
    out = max(2 * 4 * 2 * 4 * 8, 4 * 8 * 2 + 8 * 8 + 4 * 8 * 2)  # 512 vs 192
    ffn_in = max(2 * 4 * 8 * 16, 4 * 8 * 2 + 8 * 16 + 4 * 16 * 2)  # 1024 vs 320
    act = 4 * 2 * 16 * 2  # 256 bytes
    ffn_out = max(2 * 4 * 16 * 8, 4 * 16 * 2 + 16 * 8 + 4 * 8 * 2)  # 1024 vs 320
    norms = 10 * 4 * 8 * 2  # 640 bytes
    assert _lat(1, 1) == pytest.approx((qkv + attn + out + ffn_in + act + ffn_out + norms) * 1e-6)  # 5.504 ms


def test_tensor_parallel_by_hand_with_all_reduce():
    # t = 2: H_t = K_t = 1, F_t = 8; two all-reduces of 2 (t-1)/t T h a = 64 bytes each over 1e6 B/s.
    per_chip = (max(768, 224) + max(256, 96) + max(256, 128) + max(512, 192) + 128 + max(512, 192) + 640) * 1e-6
    assert _lat(2, 1) == pytest.approx(per_chip + 2 * 64e-6)  # beats the idle-replica configuration (5.504 ms)
    slow = Efficiency(link_latency_s=1e-3)  # link latency 2 (t-1) lambda per all-reduce makes TP lose
    assert _lat(2, 1, eff=slow) == pytest.approx(_lat(1, 1))


def test_memory_capacity_by_hand_and_waves():
    # weights 592 B (512 layer + 80 embedding params); per sequence KV 4x2x2x4 = 64 B, activations 2x4x24x2 = 384 B
    assert TINY.params == 592
    assert memory_capacity(TINY, CHIP, PREC, Efficiency(hbm_usable=0.9), Sharding(1, 1), PS) == (9000 - 592) // 448
    # 19 sequences exceed the 18 that fit: two waves of 10
    assert _lat(1, 19, eff=Efficiency(link_latency_s=0, hbm_usable=0.9)) == pytest.approx(
        2 * _lat(1, 10, eff=Efficiency(link_latency_s=0, hbm_usable=0.9)))
    assert np.isinf(_lat(1, 19, waves=False, eff=Efficiency(hbm_usable=0.9)))


def test_shardings_respect_heads_layers_and_chips():
    got = {(s.tp, s.pp) for s in shardings(TINY, 4)}
    assert got == {(1, 1), (2, 1)}  # heads = 2; one layer allows no pipeline
    m = transformer("llama3-70b")
    assert all(s.tp * s.pp <= 48 and m.heads % s.tp == 0 for s in shardings(m, 48))
    assert Sharding(16, 2).replicas(48) == 1 and Sharding(16, 1).replicas(48) == 3


def test_prefill_flops_dominate_like_2_params_tokens():
    # Paper: inference FLOPs ~ 2 x params x tokens; compute-bound 8B prefill of 512 tokens on one XPU-C.
    cost = RooflineCost(transformer("llama3-8b"), accelerator("XPU-C"), StageWork("prefill", 512))
    ideal = 2 * transformer("llama3-8b").params * 512 / 918e12
    assert ideal < cost.latency_s(1, 1) < 1.3 * ideal
    assert cost.breakdown(1, 1).bound == "compute"


def test_decode_is_memory_bound_at_batch_one():
    cost = RooflineCost(transformer("llama3-70b"), accelerator("XPU-C"), StageWork("decode", 512, decode_tokens=256))
    step = cost.latency_s(1, 1) / 256
    m = transformer("llama3-70b")
    weights_s = (m.params - m.vocab * m.hidden) / 2765e9  # every weight but the input embedding table, once
    assert weights_s < step < 1.1 * weights_s
    assert cost.breakdown(1, 1).bound == "memory bandwidth"


def test_memory_limits_and_reasons():
    big = RooflineCost(transformer("llama3-405b"), accelerator("XPU-A"), StageWork("decode", 512, decode_tokens=256),
                       max_units=128)
    assert big.min_units() == 32  # 406 GB of int8 weights over 14.4 GB usable chips; TP/PP degrees are powers of 2
    assert big.unit_counts() == (32, 64, 128)
    with pytest.raises(ModelError, match=r"does not fit on up to 16 chips: llama3-405b weights 405.8 GB.*To fix"):
        big.min_units(16)
    top = big.max_batch(32)
    big.latency_s(32, top)
    with pytest.raises(ModelError, match=f"batch {top + 1} does not fit on 32 chips"):
        big.latency_s(32, top + 1)


STAGES = [StageWork("prefill", 512), StageWork("decode", 512, decode_tokens=64), StageWork("rerank", 100, 16),
          StageWork("encode", 128, 50), StageWork("rewrite_prefill", 32)]


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(["llama3-1b", "llama3-8b", "encoder-120m"]), hw=st.sampled_from(["XPU-A", "XPU-C", "H100"]),
       work=st.sampled_from(STAGES), n=st.integers(1, 24), b=st.integers(1, 300))
def test_monotone_in_batch_and_chips(model, hw, work, n, b):
    cost = RooflineCost(transformer(model), accelerator(hw), work, max_units=64)
    if work.decode_tokens is not None:
        cap = cost.max_batch(n) if cost.capacity(n) >= 1 else 0
        b = min(b, cap - 1)
        if b < 1:
            return
    if cost.capacity(n) < work.seqs_per_request:
        return
    here = cost.latency_s(n, b)
    assert cost.latency_s(n, b + 1) >= here * (1 - 1e-12)  # more requests never finish sooner
    assert cost.latency_s(n + 1, b) <= here * (1 + 1e-12)  # more chips never slow a batch down


def test_pipeline_parallel_by_hand_when_only_a_split_fits():
    # Two layers, one head (no TP): 1104 B of weights do not fit 0.9 x 1200 B; two stages of one layer hold 592 B
    # each and one sequence. R4: m = 1 micro-batch, (m + p - 1) = 2 slots of (one layer + one 64 B send).
    two = TransformerModel(name="two", layers=2, hidden=8, heads=1, kv_heads=1, ffn=16, vocab=10, gated_ffn=False,
                           decoder=False, source="test")
    chip = CHIP.model_copy(update={"hbm_bytes": 1200})
    eff = Efficiency(link_latency_s=0.0, hbm_usable=0.9)
    assert two.params == 1104
    assert memory_capacity(two, chip, PREC, eff, Sharding(1, 1), PS) == 0
    assert memory_capacity(two, chip, PREC, eff, Sharding(1, 2), PS) == 1
    layer = (1536 + 512 + 512 + 1024 + 256 + 1024 + 640) * 1e-6
    got = float(pass_latency(two, chip, PREC, eff, 2, np.array([1.0]), PS, waves=True)[0][0])
    assert got == pytest.approx(2 * (layer + 4 * 8 * 2 / 1e6))
    assert np.isinf(pass_latency(two, chip, PREC, eff, 1, np.array([1.0]), PS, waves=True)[0][0])


@settings(max_examples=examples(60), deadline=None)
@given(st.sampled_from(sorted(MODELS)), st.sampled_from(sorted(ACCELERATORS)), st.integers(1, 160),
       st.lists(st.integers(1, 5000), min_size=1, max_size=12), st.integers(1, 4096), st.integers(0, 4096),
       st.booleans(), st.booleans(),
       st.sampled_from([Efficiency(), Efficiency(compute=0.6, memory=0.8, decoder_layer_overhead_s=3e-5,
                                                encoder_layer_overhead_s=1e-5, link=0.7)]))
def test_every_sharding_at_once_equals_the_loop_to_the_bit(name, hw, n, batches, q, ctx, waves, decode, eff):
    """``pass_latency`` without parts (the solvers' and the evaluator's path: all shardings as array rows) gives
    the report path's loop minimum exactly, float for float."""
    model, acc = MODELS[name], ACCELERATORS[hw]
    ps = Pass(1, q + ctx / 2, q + ctx, True) if decode else Pass(q, (q + 1) / 2, q, model.decoder)
    seqs = np.array(batches, dtype=np.float64)
    fast, _ = pass_latency(model, acc, Precision(), eff, n, seqs, ps, waves=waves, parts_too=False)
    loop, _ = pass_latency(model, acc, Precision(), eff, n, seqs, ps, waves=waves)
    assert np.array_equal(fast, loop)


@settings(max_examples=examples(30), deadline=None)
@given(st.sampled_from(sorted(MODELS)), st.sampled_from(sorted(ACCELERATORS)),
       st.lists(st.integers(1, 200), min_size=1, max_size=8), st.integers(33, 300), st.integers(1, 2048),
       st.booleans())
def test_memo_across_chip_counts_equals_fresh_latencies_to_the_bit(name, hw, chips, size, q, waves):
    """A memo shared by every chip count (the tables' path: many batches, one stage) gives each count the
    latencies it gets alone, float for float, including where nothing fits (inf)."""
    model, acc = MODELS[name], ACCELERATORS[hw]
    ps = Pass(q, (q + 1) / 2, q, model.decoder)
    seqs = np.arange(1, size + 1, dtype=np.float64) * 3
    memo: dict = {}
    for n in chips + chips:
        got, _ = pass_latency(model, acc, Precision(), Efficiency(), n, seqs, ps, waves=waves, parts_too=False,
                              memo=memo)
        alone, _ = pass_latency(model, acc, Precision(), Efficiency(), n, seqs, ps, waves=waves, parts_too=False)
        assert np.array_equal(got, alone)
    assert memo  # the memo was used (more than ROWS_AT_ONCE batches)


@settings(max_examples=examples(30), deadline=None)
@given(st.sampled_from(sorted(MODELS)), st.sampled_from(sorted(ACCELERATORS)),
       st.lists(st.integers(1, 200), min_size=1, max_size=12), st.integers(1, 32), st.integers(1, 2048),
       st.booleans())
def test_many_chip_counts_at_once_equal_each_alone_to_the_bit(name, hw, chips, size, q, waves):
    """``fits_latency_many`` (a stage's options in one pass, the tables' path for up to ROWS_AT_ONCE batches) gives
    each chip count the latencies ``pass_latency`` gives it alone, float for float, inf where nothing fits."""
    model, acc = MODELS[name], ACCELERATORS[hw]
    ps = Pass(q, (q + 1) / 2, q, model.decoder)
    seqs = np.arange(1, size + 1, dtype=np.float64) * 5
    many = fits_latency_many(model, acc, Precision(), Efficiency(), np.array(chips), seqs, ps, waves)
    for n, row in zip(chips, many):
        alone, _ = pass_latency(model, acc, Precision(), Efficiency(), n, seqs, ps, waves=waves, parts_too=False)
        assert np.array_equal(row, alone)

