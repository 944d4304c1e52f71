"""Self-design (K1-K7): knobs applied to variants, quality tables, floors, and the design frontier by CP-SAT equal
to enumeration over every variant."""

import itertools
import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner import EmptySpaceError, InfeasibleError, InstanceError, build_space, load_instance
from planner.cli import main
from planner.cpsat import Clock, SliceSweep, SolverSettings, by_batch, sweep_for
from planner.exhaustive import exhaustive_union
from planner.frontier import tie_floor
from planner.pareto import union_frontier
from planner.schema import Slo
from planner.design import design_frontier, design_levels
from planner.knobs import apply_knobs, parse_floor, variants, zipf_hit_rate
from tests.conftest import INSTANCES, ROOT, examples, write_yaml
from tests.crosscheck import space_of
from tests.strategies import random_instances

EXAMPLE = INSTANCES / "design" / "case1-knobs.yaml"
CASE4 = INSTANCES / "paper" / "case4-8b.yaml"
CACHES = INSTANCES / "design" / "case2-caches.yaml"


def _raw(path) -> dict:
    return yaml.safe_load(path.read_text())


def _design_yaml(tmp_path, base, design: dict, **search) -> dict:
    data = _raw(base) | {"design": design}
    data["search"] = data["search"] | search
    return load_instance(write_yaml(tmp_path / "d.yaml", data))


def test_example_recall_is_the_measured_curve():
    """The example's recall rows are the committed `ragplan calibrate retrieval` run's, value for value."""
    measured = {r["scan_fraction"]: r["recall_at_10"] for r in
                json.loads((ROOT / "bench" / "results" / "retrieval-calibration.json").read_text())["recall"]}
    rows = load_instance(EXAMPLE).design.quality["recall"]
    assert rows and all(measured[r.when["scan_fraction"]] == r.value for r in rows)


def test_knobs_change_what_they_name(tmp_path):
    inst = _design_yaml(tmp_path, CASE4, {
        "knobs": {"scan_fraction": [0.002], "passages": [3], "rerank_depth": [8], "model": ["llama3-70b"],
                  "rewriter": [False]},
        "prompt": {"question_tokens": 20, "passage_tokens": 100},
        "quality": {"q": [{"when": {}, "value": 1.0}]}})
    (v,), dropped = variants(inst)
    assert dropped == [] and v.knobs == {"scan_fraction": 0.002, "passages": 3, "rerank_depth": 8,
                                         "model": "llama3-70b", "rewriter": False}
    p = v.instance.pipeline
    assert p.stage_names == ("retrieval", "rerank", "prefill", "decode")
    assert p.stage("prefill").prompt_tokens == p.stage("decode").prompt_tokens == 20 + 3 * 100
    assert p.stage("prefill").model == p.stage("decode").model == "llama3-70b"
    assert p.stage("rerank").top_k == 8
    assert v.instance.cost.databases["hyperscale_64b"].scan_fraction == 0.002
    assert v.instance.design is None
    kept = apply_knobs(inst, {"rewriter": True})
    assert kept.pipeline.stage_names[:2] == ("rewrite_prefill", "rewrite_decode")


def test_quality_tables_and_floors(tmp_path):
    inst = load_instance(EXAMPLE)
    kept, dropped = variants(inst)
    assert len(kept) + len(dropped) == 18 and all(v.quality["recall"] >= 0.7 for v in kept)
    kept2, _ = variants(inst, {"accuracy": 0.69, "recall": 0.8})
    assert [v.label for v in kept2] == ["scan_fraction=0.009765625, passages=5, model=llama3-70b",
                                        "scan_fraction=0.009765625, passages=10, model=llama3-70b"]
    assert parse_floor(" recall >= 0.9 ") == ("recall", 0.9)
    with pytest.raises(InstanceError, match="METRIC>=VALUE"):
        parse_floor("recall > 0.9")
    with pytest.raises(InstanceError, match="no table"):
        variants(inst, {"latency": 1.0})
    data = _raw(EXAMPLE)
    data["design"]["quality"]["accuracy"] = data["design"]["quality"]["accuracy"][1:]  # a combination has no row
    with pytest.raises(InstanceError, match="0 rows matching scan_fraction=.*passages=3, model=llama3-8b"):
        variants(load_instance(write_yaml(tmp_path / "a.yaml", data)))
    data["design"]["quality"]["recall"][0]["when"]["scan_fraction"] = 0.5  # a value not offered never matches
    with pytest.raises(InstanceError, match="0 rows matching scan_fraction=0.0009765625"):
        variants(load_instance(write_yaml(tmp_path / "b.yaml", data)))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["quality"]["recall"].append({"when": {"rerank_depth": 4}, "value": 1.0}), "does not vary"),
    (lambda d: d["quality"]["recall"][0]["when"].update(scan_fraction="low"), "lists floats"),
    (lambda d: d.pop("prompt"), "needs design.prompt"),
    (lambda d: d.update(quality_metric="speed"), "has no table"),
    (lambda d: d["knobs"].update(passages=[3, 3]), "lists a value twice"),
])
def test_design_schema_errors_name_the_fix(tmp_path, edit, message):
    data = _raw(EXAMPLE)
    edit(data["design"])
    with pytest.raises(InstanceError, match=message) as err:
        load_instance(write_yaml(tmp_path / "bad.yaml", data))
    assert "To fix" in str(err.value)


def _key(result):
    return [(p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips, p.metrics.ratio, tuple(p.knobs.items()))
            for p in result.points]


@st.composite
def designs(draw):
    """A random design on Case I (scan fraction, passages, model) or Case IV (rerank depth, rewriter, passages),
    random floors, TTFT bound and a small space."""
    base = draw(st.sampled_from([EXAMPLE, CASE4, CACHES]))
    case4 = base == CASE4
    some = lambda xs: draw(st.lists(st.sampled_from(xs), min_size=1, max_size=len(xs), unique=True))  # noqa: E731
    knobs = ({"rerank_depth": some([4, 16, 64]), "rewriter": some([True, False]), "passages": some([2, 5])}
             if case4 else {"scan_fraction": some([0.0005, 0.001, 0.004]), "passages": some([2, 5, 10]),
                            "model": some(["llama3-8b", "llama3-70b"]), "pipeline_chunks": some([1, 2, 4])}
             if base == EXAMPLE else
             {"passages": some([3, 10]), "kv_cache_passages": some([0, 1000, 10**6]),
              "kv_cache_location": some(["host", "hbm"]), "embedding_cache": some([True, False])})
    # a random quality per combination: the floors then keep an arbitrary subset (the cheapest knobs would
    # otherwise win every point)
    rows = [{"when": dict(zip(knobs, combo)), "value": draw(st.sampled_from([0.5, 0.7, 0.9]))}
            for combo in itertools.product(*knobs.values())]
    design = {"knobs": knobs, "prompt": {"question_tokens": 12, "passage_tokens": 100}, "quality": {"q": rows},
              "cache": {"corpus_passages": 10**6, "zipf_s": draw(st.sampled_from([0.6, 1.0])),
                        "kv_load_bytes_per_s": 1e10, "changed_fraction": 0.2},
              "pipelining": {"wrong_probability": draw(st.sampled_from([0.0, 0.2])), "reprefill_fraction": 0.5}}
    if draw(st.booleans()):
        design["floors"] = {"q": draw(st.sampled_from([0.6, 0.8]))}
    search = {"total_chips": {"min": 64, "max": draw(st.sampled_from([64, 96, 128]))},
              "max_batch_size": draw(st.sampled_from([16, 64])), "placement": draw(st.sampled_from(["all",
                                                                                                   "disaggregated"]))}
    if base == EXAMPLE and draw(st.booleans()):
        search["chips"] = "any"  # every count 1..128 (enumerated: the exhaustive reference stays small on Case I)
    ttft = draw(st.sampled_from([None, 0.05, 0.2]))
    return base, design, search, ttft


@settings(max_examples=examples(12), deadline=None)
@given(designs())
def test_design_frontier_equals_enumeration_over_every_variant(tmp_path_factory, draw):
    base, design, search, ttft = draw
    inst = _design_yaml(tmp_path_factory.mktemp("design"), base, design, **search)
    inst = inst.model_copy(update={"slo": inst.slo.model_copy(update={"ttft_max_s": ttft})})
    try:
        ex = design_frontier(inst, solver="exhaustive")
    except InfeasibleError:
        with pytest.raises(InfeasibleError):
            design_frontier(inst)
        return
    cp = design_frontier(inst)
    assert _key(cp) == _key(ex)
    assert all(p.proven_optimal for p in cp.points) and cp.variants == ex.variants


def test_design_levels_are_consistent():
    """Per level the best point under the TTFT bound is the best of its knob costs; the three-way set holds no
    point that a higher level's point dominates; levels by quality descending."""
    inst = load_instance(EXAMPLE)
    inst = inst.model_copy(update={"slo": inst.slo.model_copy(update={"ttft_max_s": 0.2})})
    r = design_levels(inst, {"accuracy": 0.58})
    assert [lv.quality_min for lv in r.levels] == sorted({lv.quality_min for lv in r.levels}, reverse=True)
    for lv in r.levels:
        best = lv.frontier[-1].metrics.qps_per_chip
        for knob in ("scan_fraction", "passages", "model"):
            assert max(c.qps_per_chip or 0 for c in lv.knob_costs if c.knob == knob) == pytest.approx(best, rel=1e-12)
    for li, pi in r.three_way:
        p = r.levels[li].frontier[pi]
        assert not any(q.metrics.ttft_ps <= p.metrics.ttft_ps and q.metrics.ratio >= p.metrics.ratio
                       for lv in r.levels[:li] for q in lv.frontier)
    ex = design_levels(inst, {"accuracy": 0.58}, solver="exhaustive")
    assert [[_key_p(p) for p in lv.frontier] for lv in ex.levels] == [[_key_p(p) for p in lv.frontier]
                                                                      for lv in r.levels]
    assert ex.three_way == r.three_way


def _key_p(p):
    return p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips, p.metrics.ratio, tuple(p.knobs.items())


def test_cli_pareto_and_design(tmp_path, capsys):
    out = tmp_path / "f.json"
    assert main(["pareto", str(EXAMPLE), "--quality-min", "0.69", "--floor", "recall>=0.8", "--json", str(out),
                 "--quiet"]) == 0
    got = json.loads(out.read_text())
    assert got["points"] and all(p["quality"]["accuracy"] >= 0.69 and p["quality"]["recall"] >= 0.8 and
                                 p["knobs"]["model"] == "llama3-70b" for p in got["points"])
    assert len(got["variants"]) == 2 and "knobs" in capsys.readouterr().out
    assert main(["design", str(EXAMPLE), "--ttft-slo", "0.2", "--quality-min", "0.69", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "accuracy >= 0.71" in text and "three-way Pareto set" in text and "passages=10" in text
    assert main(["pareto", str(CASE4), "--quality-min", "0.5", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "To fix" in err[0]


@settings(max_examples=examples(40), deadline=None)
@given(random_instances(), random_instances(), st.booleans())
def test_union_of_random_spaces_equals_enumeration(a, b, same_slo):
    """K5's union on spaces whose frontiers interleave (two random pipelines, the first one's SLO or none): the
    points, and which space each comes from, as enumeration finds them."""
    try:
        spaces = [space_of(a), space_of(b)]
    except (EmptySpaceError, InstanceError):
        return
    slo = spaces[0].instance.slo if same_slo else Slo()
    try:
        ex, _ = exhaustive_union(spaces, slo)
    except (InfeasibleError, EmptySpaceError):
        ex = []
    sweeps = [SliceSweep(sp, slo, SolverSettings(1, 0), Clock(None)) for sp in spaces]
    cp, stopped = union_frontier(sweeps, spaces, slo)
    cp = sorted(cp, key=lambda kp: kp[1].metrics.ttft_ps)
    assert not stopped
    assert [(k, p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips) for k, p in ex] == \
           [(k, p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips) for k, p in cp]
    for (_, p), (_, q) in zip(ex, cp):
        assert p.metrics.ratio >= tie_floor(q.metrics.ratio) and q.metrics.ratio >= tie_floor(p.metrics.ratio)
        assert q.proven_optimal


@settings(max_examples=examples(25), deadline=None)
@given(random_instances(iterative=True, one_group=True), random_instances(iterative=True), st.booleans())
def test_union_with_by_batch_sweeps_equals_enumeration(a, b, same_slo):
    """K5's union where a variant's frontier is swept by request batch (IR5-IR8) beside one swept by CP-SAT slices
    (or by batch too): the points, and which space each comes from, as enumeration finds them."""
    try:
        spaces = [space_of(a), space_of(b)]
    except (EmptySpaceError, InstanceError):
        return
    assert by_batch(spaces[0])
    slo = spaces[0].instance.slo if same_slo else Slo()
    try:
        ex, _ = exhaustive_union(spaces, slo)
    except (InfeasibleError, EmptySpaceError):
        ex = []
    cp, stopped = union_frontier([sweep_for(sp, slo, SolverSettings(1, 0), Clock(None)) for sp in spaces],
                                 spaces, slo)
    cp = sorted(cp, key=lambda kp: kp[1].metrics.ttft_ps)
    assert not stopped
    assert [(k, p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips) for k, p in ex] == \
           [(k, p.metrics.ttft_ps, p.metrics.decode_ps, p.metrics.chips) for k, p in cp]
    assert all(p.proven_optimal for _, p in cp)


def test_zipf_hit_rate_and_the_caches(tmp_path):
    """K8: H(C, s) / H(P, s) against the direct sum (past the exact head: the Euler-Maclaurin tail); the cached
    tokens it gives the prefill, and R11's faster prefill; K9: the chunks re-encoded."""
    import numpy as np

    n, s = 3 * 10**6, 0.8
    direct = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -s)
    assert zipf_hit_rate(2 * 10**6, n, s) == pytest.approx(direct[2 * 10**6 - 1] / direct[-1], rel=1e-10)
    assert zipf_hit_rate(0, n, s) == 0.0 and zipf_hit_rate(n, n, s) == 1.0
    inst = load_instance(CACHES)
    c = inst.design.cache
    v = apply_knobs(inst, {"passages": 10, "kv_cache_passages": 10**4, "embedding_cache": True})
    pf = v.pipeline.stage("prefill")
    assert pf.prompt_tokens == 32 + 10 * 96
    assert pf.cached_tokens == int(zipf_hit_rate(10**4, c.corpus_passages, c.zipf_s) * 10 * 96) > 0
    assert v.pipeline.stage("encode").chunks_per_request == 100  # 10% of 1000
    plain = build_space(apply_knobs(inst, {"passages": 10, "kv_cache_passages": 0, "embedding_cache": False}))
    cached = build_space(v)
    for o in sorted(plain.stage_options("prefill"))[:4]:
        assert cached.latency_at("prefill", o, 8) < plain.latency_at("prefill", o, 8)
        assert cached.latency_at("encode", o, 8) < plain.latency_at("encode", o, 8)


def test_prefill_cache_rules(tmp_path):
    """R11 in the schema: at least one token computed, a load bandwidth given; profile tables refuse it."""
    data = _raw(CASE4)
    data["pipeline"]["stages"][4] |= {"cached_tokens": 512, "kv_load_bytes_per_s": 1e10}
    with pytest.raises(InstanceError, match="cached_tokens 512 >= prompt_tokens 512"):
        load_instance(write_yaml(tmp_path / "a.yaml", data))
    data["pipeline"]["stages"][4] |= {"cached_tokens": 100, "kv_load_bytes_per_s": None}
    with pytest.raises(InstanceError, match="neither kv_load_bytes_per_s"):
        load_instance(write_yaml(tmp_path / "b.yaml", data))
    rago = _raw(INSTANCES / "rago-oss" / "case1.yaml")
    for st_ in rago["pipeline"]["stages"]:
        if st_["kind"] == "prefill":
            st_ |= {"cached_tokens": 10, "kv_load_bytes_per_s": 1e10}
    rago["cost"]["profiles_dir"] = str(INSTANCES / "rago-oss" / rago["cost"]["profiles_dir"])
    with pytest.raises(InstanceError, match="profile tables do not model"):
        build_space(load_instance(write_yaml(tmp_path / "c.yaml", rago)))


def test_pipelining_knob(tmp_path):
    """K10: chunks 1 leaves the pipeline unpipelined, c >= 2 sets AP1's overlap; refused where a rerank stage sits
    between retrieval and prefill."""
    design = {"knobs": {"pipeline_chunks": [1, 4]}, "quality": {"recall": [{"when": {"pipeline_chunks": 1},
                                                                            "value": 0.9},
                                                                           {"when": {"pipeline_chunks": 4},
                                                                            "value": 0.89}]},
              "pipelining": {"wrong_probability": 0.1, "reprefill_fraction": 0.5}}
    (off, on), _ = variants(_design_yaml(tmp_path, EXAMPLE.parent.parent / "paper" / "case1-8b.yaml", design))
    assert off.instance.pipeline.overlap is None and on.instance.pipeline.overlap.chunks == 4
    assert on.instance.pipeline.overlap.wrong_probability == 0.1 and on.quality == {"recall": 0.89}
    with pytest.raises(InstanceError, match="pipeline_chunks=4 make an invalid instance.*AP1"):
        variants(_design_yaml(tmp_path, CASE4, design))


def test_kv_cache_in_hbm(tmp_path):
    """K8 in HBM (R12): every prefill replica keeps the C passages' KV, which leaves room for fewer sequences and
    needs more chips; no load term. The schema keeps one place for the cache."""
    inst = load_instance(CACHES)
    data = _raw(CACHES)
    data["design"]["knobs"]["kv_cache_location"] = ["host", "hbm"]
    inst = load_instance(write_yaml(tmp_path / "h.yaml", data))
    knobs = {"passages": 5, "kv_cache_passages": 10**5, "embedding_cache": False}
    host = apply_knobs(inst, knobs | {"kv_cache_location": "host"})
    hbm = apply_knobs(inst, knobs | {"kv_cache_location": "hbm"})
    pf_host, pf_hbm = host.pipeline.stage("prefill"), hbm.pipeline.stage("prefill")
    assert pf_hbm.cached_tokens == pf_host.cached_tokens > 0 and pf_hbm.kv_load_bytes_per_s is None
    assert pf_hbm.resident_kv_bytes == 10**5 * 96 * 2 * 32 * 8 * 128 * 1.0  # C x tokens x 2 L K d k (Llama-3 8B)
    a, b = build_space(host), build_space(hbm)
    cost_a, cost_b = a.cost("prefill"), b.cost("prefill")
    assert cost_b.min_units() > cost_a.min_units()  # 629 GB of KV per replica on 96 GB chips
    n = cost_b.min_units()
    assert cost_b.capacity(n) < cost_a.capacity(n)
    assert "resident KV cache of 629.1 GB" in cost_b.memory_reason(1)
    data = _raw(CASE4)
    data["pipeline"]["stages"][4] |= {"cached_tokens": 10, "kv_load_bytes_per_s": 1e10, "resident_kv_bytes": 1e9}
    with pytest.raises(InstanceError, match="keep the one where the cache lives"):
        load_instance(write_yaml(tmp_path / "c.yaml", data))


def test_variants_with_one_decode_model_share_its_book_and_it_is_their_own():
    """K5: variants whose decode cost model is the same (here: scan fractions apart) share one decode book and
    decode batch grid, and that book equals the one each variant's space computes alone, row for row."""
    from planner.cpsat.tables import build_tables
    from planner.design import design_spaces

    inst = load_instance(EXAMPLE)
    vs, spaces, _ = design_spaces(inst, {"accuracy": 0.0, "recall": 0.0})
    same = [k for k, v in enumerate(vs) if v.knobs["passages"] == 5 and v.knobs["model"] == "llama3-8b"]
    other = next(k for k, v in enumerate(vs) if v.knobs["passages"] == 10)
    assert len(same) == 3  # one per scan fraction
    books = [build_tables(spaces[k], inst.slo).decode for k in same]
    assert all(b is books[0] for b in books[1:])
    assert build_tables(spaces[other], inst.slo).decode is not books[0]
    for k in same:
        alone = build_tables(build_space(vs[k].instance), inst.slo).decode
        code = spaces[k].stage_chip_options["decode"][0]
        assert spaces[k].decode_batch_options(code) == build_space(vs[k].instance).decode_batch_options(code)
        assert all((x == y).all() for x, y in zip(alone.D, books[0].D))
        assert all((x == y).all() for x, y in zip(alone.L, books[0].L))
        assert all((x == y).all() for x, y in zip(alone.best_from, books[0].best_from))
        assert (alone.weights == books[0].weights).all() and (alone.options == books[0].options).all()
    tight = inst.slo.model_copy(update={"tpot_max_s": 0.02})  # another SLO keeps its own book
    mine = build_tables(spaces[same[1]], tight).decode
    alone = build_tables(build_space(vs[same[1]].instance), tight).decode
    assert mine is not books[0] and all(len(x) == len(y) for x, y in zip(mine.D, alone.D))
    assert sum(map(len, mine.D)) < sum(map(len, books[0].D))


def _schedules(space, slo) -> dict:
    """(placement, group chips, B, D) -> (TTFT ps, decode ps, cycle batch, cycle ps) of every schedule."""
    from planner.exhaustive import iter_schedules

    out = {}
    for arr in iter_schedules(space, slo):
        for i in range(len(arr.batch)):
            key = (arr.placement_index, tuple(arr.chips[i].tolist()), int(arr.batch[i]), int(arr.decode_batch[i]))
            out[key] = (int(arr.ttft_ps[i]), int(arr.decode_ps[i]), int(arr.cycle_batch[i]), int(arr.cycle_ps[i]))
    return out


@pytest.mark.parametrize("chunks", [[1], [4], [1, 4]])
def test_a_covered_variant_has_no_plan_better_than_its_coverer(tmp_path, chunks):
    """K11: where variant j covers variant k, every schedule of k is a schedule of j with TTFT, TPOT and cycle no
    higher (QPS/chip no lower), checked over every schedule, also with retrieval pipelined with prefill (AP1-AP4);
    covering is found (the test is not vacuous), a variant with some strictly faster stage is not covered back,
    and a pipelined variant never covers an unpipelined one or the reverse."""
    from planner.cpsat import build_tables, covers
    from planner.design import design_spaces

    inst = _design_yaml(tmp_path, EXAMPLE, {
        "knobs": {"scan_fraction": [0.001, 0.004], "passages": [2, 5], "model": ["llama3-8b", "llama3-70b"],
                  "pipeline_chunks": chunks},
        "pipelining": {"wrong_probability": 0.2, "reprefill_fraction": 0.5},
        "prompt": {"question_tokens": 12, "passage_tokens": 100}, "quality": {"q": [{"when": {}, "value": 1.0}]}},
        total_chips={"min": 8, "max": 64}, max_batch_size=16)
    vs, spaces, _ = design_spaces(inst)
    tables = [build_tables(sp, inst.slo) for sp in spaces]
    pairs = [(j, k) for k in range(len(vs)) for j in range(k) if covers(spaces[j], tables[j], spaces[k], tables[k])]
    assert len(pairs) >= 4  # the larger scan fraction, more passages, the larger model: each covered
    for j, k in pairs:
        mine, theirs = _schedules(spaces[k], inst.slo), _schedules(spaces[j], inst.slo)
        assert mine and set(mine) <= set(theirs)
        for key, (t, l, b, c) in mine.items():
            t2, l2, b2, c2 = theirs[key]
            assert t2 <= t and l2 <= l and b2 * c >= b * c2  # QPS = b / c no lower
        assert not covers(spaces[k], tables[k], spaces[j], tables[j])
    labels = {(vs[j].knobs["model"], vs[k].knobs["model"]) for j, k in pairs}
    assert ("llama3-70b", "llama3-8b") not in labels  # never a larger model covering a smaller one
    assert all(vs[j].knobs["pipeline_chunks"] == vs[k].knobs["pipeline_chunks"] for j, k in pairs)


def test_covering_needs_every_latency_no_higher():
    """K11 on one variant's tables and copies one picosecond slower in a single place (a stage's time per cycle,
    or one decode row): the original covers each copy, no copy covers the original; a copy missing a decode row
    does not cover it either."""
    import dataclasses

    from planner.cpsat import build_tables, covers

    inst = load_instance(EXAMPLE)
    space = build_space(inst)
    t = build_tables(space, inst.slo)
    s = next(iter(t.lat))
    lat = dict(t.lat)
    lat[s] = t.lat[s].copy()
    lat[s][0, -1] += 1
    slower_stage = dataclasses.replace(t, lat=lat)
    i = next(i for i, D in enumerate(t.decode.D) if len(D) > 1)
    L = [x.copy() for x in t.decode.L]
    L[i][-1] += 1
    slower_decode = dataclasses.replace(t, decode=dataclasses.replace(t.decode, L=L))
    D = list(t.decode.D)
    D[i], L2 = D[i][:-1], list(t.decode.L)
    L2[i] = L2[i][:-1]
    fewer_rows = dataclasses.replace(t, decode=dataclasses.replace(t.decode, D=D, L=L2))
    assert covers(space, t, space, t)
    for other in (slower_stage, slower_decode):
        assert covers(space, t, space, other) and not covers(space, other, space, t)
    assert covers(space, t, space, fewer_rows) and not covers(space, fewer_rows, space, t)
