"""Hypothesis strategies shared by the property tests."""

from hypothesis import strategies as st

small = st.integers(1, 60)


@st.composite
def exact_clouds(draw, max_size=60):
    """(ttft, ratio num, ratio den, decode, chips) integer lists with deliberate ties (values from small pools)."""
    n = draw(st.integers(0, max_size))
    pool = st.sampled_from(draw(st.lists(small, min_size=1, max_size=6)))
    return tuple([draw(pool) for _ in range(n)] for _ in range(5))


@st.composite
def random_instances(draw, budgets: bool = False, micro: bool = False, iterative: bool = False,
                     one_group: bool = False):
    """A small random pipeline with random (monotone) profiles: (instance dict, profile rows).

    Profiles: 1- and 2-chip rows at batches 1, 2, 4 (decode up to 8); latency grows with batch and shrinks with
    chips. Times are whole microseconds, or (``round`` false) carry sub-microsecond parts, so that picosecond
    quantization and near-ties are exercised. With ``budgets``, total_chips.max may be 10^3 .. 10^9 (the per-stage
    caps then bind). Some draws list chip options per stage. With ``micro``, the stages micro-batch a burst (fixed
    or searched, MB1) and some draws give collocated-only chip options (S1, C14). With ``one_group`` (and
    ``iterative``) the pre-decode accelerator stages form one group in every placement (IR5): retrieval, a reranker
    or not (then collocated with prefill), prefill."""
    stages = []
    if not one_group and draw(st.booleans()):
        stages.append({"kind": "encode", "model": "enc", "chunk_tokens": 16,
                       "chunks_per_request": draw(st.sampled_from([2, 3, 8]))})
    if not one_group and draw(st.booleans()):
        stages.append({"kind": "rewrite_prefill", "model": "rw", "prompt_tokens": 8})
        stages.append({"kind": "rewrite_decode", "model": "rw", "prompt_tokens": 8, "decode_tokens": 2})
    if iterative or draw(st.booleans()):
        stages.append({"kind": "retrieval", "database": "db"})
    if draw(st.booleans()):
        stages.append({"kind": "rerank", "model": "rr", "passage_tokens": 16, "top_k": draw(st.sampled_from([1, 2]))})
    stages.append({"kind": "prefill", "model": "llm", "prompt_tokens": 8})
    stages.append({"kind": "decode", "model": "llm", "prompt_tokens": 8, "decode_tokens": 4})
    rounded = draw(st.booleans())

    def ms(t_us):
        return t_us / 1000 + (0 if rounded else draw(st.integers(0, 999)) / 1e9)

    def curve(max_b, dec_steps, seq, model, stage):
        rows = []
        base = draw(st.integers(50, 400))
        for chips in (1, 2):
            t = base // chips + draw(st.integers(0, 20))
            b = 1
            while b <= max_b:
                rows.append((model, stage, dec_steps, seq, "X", chips, b, ms(t)))
                t += draw(st.integers(1, 300))
                b *= 2
        return rows

    inf = (curve(4, 1, 8, "llm", "prefill") + curve(8, 4, 8, "llm", "decode") + curve(4, 1, 8, "rw", "prefill")
           + curve(4, 2, 8, "rw", "decode") + curve(4, 1, 16, "rr", "prefill") + curve(4, 1, 16, "enc", "prefill"))
    ret = []
    t = draw(st.integers(20, 300))
    for b in (1, 2, 4):
        ret.append(("db", "cpu", 1, b, ms(t)))
        t += draw(st.integers(0, 200))
    lo = draw(st.integers(1, 6))
    top = lo + draw(st.integers(0, 6))
    if budgets and draw(st.booleans()):
        top = draw(st.sampled_from([10**3, 10**6, 10**9]))
    search = {"total_chips": {"min": lo, "max": top},
              "max_chips_per_stage": draw(st.sampled_from([2, 3, 4])),
              "max_batch_size": draw(st.sampled_from([2, 4, 8])),
              "chips_per_server": draw(st.sampled_from([1, 2])),
              "chips": draw(st.sampled_from(["pow2", "any"])),
              "batches": draw(st.sampled_from(["pow2", "any"])),
              "placement": draw(st.sampled_from(["all", "all", "disaggregated", "collocated"]))}
    if draw(st.booleans()):  # instance chip lists: collocated stages may then share no count (S2)
        pool = [1, 2, 4] if search["chips"] == "pow2" else [1, 2, 3, 4]
        search["chip_options"] = {s["kind"]: draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3,
                                                            unique=True))
                                  for s in stages if s["kind"] != "retrieval" and draw(st.booleans())}
    if micro:
        search |= {"batches": "pow2", "micro_batching": True,
                   "burst_requests": draw(st.sampled_from([None, None, 2, 4])),
                   "max_batch_size": draw(st.sampled_from([2, 4]))}
        if draw(st.booleans()):
            search["collocated_chip_options"] = {s["kind"]: [draw(st.sampled_from([2, 4]))] for s in stages
                                                 if s["kind"] not in ("retrieval", "decode") and draw(st.booleans())}
    if iterative:  # IR1: 2-4 retrievals per sequence over the 4 decode tokens
        search |= {"batches": draw(st.sampled_from(["pow2", "any"])), "max_batch_size": draw(st.sampled_from([2, 4]))}
    if one_group:
        search["placement"] = "collocated" if any(s["kind"] == "rerank" for s in stages) else "all"
        search.get("chip_options", {}).pop("rerank", None)  # collocated stages share their counts
    inst = {"name": "random", "pipeline": {"stages": stages} | ({"retrievals_per_sequence": draw(
                st.integers(2, 4))} if iterative else {}),
            "cost": {"kind": "profiles", "profiles_dir": ".", "hardware": "X",
                     "files": {"retrieval": ["retrieval_perf.csv"]}},
            "search": search}
    return inst, inf, ret


ACCELERATOR_POOL = ["H100", "H200", "B200", "XPU-A", "XPU-C"]


@st.composite
def priced_instances(draw):
    """A small analytical pipeline over a random subset of catalog accelerators, with random prices (small
    integers, so weights tie), random per-type budgets, and retrieval servers as hosts or a decision: (instance
    dict, price file dict). The models are small (llama3-1b, encoder-120m) so every type holds them."""
    stages = []
    if draw(st.booleans()):
        stages.append({"kind": "encode", "model": "encoder-120m", "chunk_tokens": 64,
                       "chunks_per_request": draw(st.sampled_from([4, 64]))})
    has_retrieval = draw(st.booleans())
    if has_retrieval:
        stages.append({"kind": "retrieval", "database": "db"})
    if draw(st.booleans()):
        stages.append({"kind": "rerank", "model": "encoder-120m", "passage_tokens": 64, "top_k": 4})
    stages.append({"kind": "prefill", "model": "llama3-1b", "prompt_tokens": draw(st.sampled_from([128, 1024]))})
    stages.append({"kind": "decode", "model": "llama3-1b", "prompt_tokens": 128,
                   "decode_tokens": draw(st.sampled_from([16, 128]))})
    types = draw(st.lists(st.sampled_from(ACCELERATOR_POOL), min_size=1, max_size=3, unique=True))
    servers = draw(st.lists(st.sampled_from(["epyc-milan-96c"]), min_size=1, max_size=1))
    lo = draw(st.integers(2, 4))
    search = {"total_chips": {"min": lo, "max": lo + draw(st.integers(1, 6))},
              "max_chips_per_stage": draw(st.sampled_from([2, 3, 4])),
              "max_batch_size": draw(st.sampled_from([2, 4, 8])),
              "max_decode_batch_size": draw(st.sampled_from([4, 16])),
              "chips": draw(st.sampled_from(["pow2", "any"])),
              "batches": draw(st.sampled_from(["pow2", "any"])),
              "placement": draw(st.sampled_from(["all", "disaggregated", "collocated"])),
              "chips_per_server": draw(st.sampled_from([1, 2]))}
    if has_retrieval and draw(st.booleans()):
        search |= {"retrieval_servers": "decision", "max_retrieval_servers": draw(st.integers(2, 4))}
    if len(types) > 1 and draw(st.booleans()):
        search["max_chips_per_type"] = {types[0]: draw(st.integers(1, 3))}
    cost = {"kind": "analytical", "accelerator": types if len(types) > 1 else types[0], "cpu_server": servers,
            "calibration": "none", "prices": "prices.yaml",
            "databases": {"db": {"kind": "ivf_pq", "vectors": draw(st.sampled_from([1e9, 1e10])),
                                 "bytes_per_vector": 64}}}
    if len(types) > 1 and draw(st.booleans()):
        cost["stage_accelerators"] = {"decode": [types[-1]]}
    price = st.integers(1, 5)
    prices = {"accelerators": {t: {"price_usd_per_hour": draw(price), "purchase_usd": draw(price) * 1000,
                                   "power_w": draw(price) * 100} for t in types},
              "cpu_servers": {s: {"price_usd_per_hour": draw(price), "purchase_usd": draw(price) * 1000,
                                  "power_w": draw(price) * 100} for s in servers}}
    inst = {"name": "priced", "pipeline": {"stages": stages}, "cost": cost, "search": search}
    return inst, prices


@st.composite
def overlapped(draw):
    """``random_instances`` with retrieval pipelined with prefill (AP1) where prefill follows retrieval directly."""
    data = draw(random_instances())
    kinds = [s["kind"] for s in data[0]["pipeline"]["stages"]]
    if "retrieval" in kinds and kinds[kinds.index("retrieval") + 1] == "prefill":
        data[0]["pipeline"]["overlap"] = {"chunks": draw(st.integers(2, 5)),
                                          "wrong_probability": draw(st.sampled_from([0.0, 0.3, 1.0])),
                                          "reprefill_fraction": draw(st.sampled_from([0.25, 1.0]))}
    return data
