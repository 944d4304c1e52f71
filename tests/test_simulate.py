"""The discrete-event simulator (D1-D6): the analytical TTFT of an unloaded plan, capacity under load, saturation,
reproducible seeds, and the CLI."""

import json

import numpy as np
import pytest

from planner import build_space, exhaustive_frontier, load_instance
from planner.cli import main
from planner.evaluate import evaluate
from planner.simulate import Arrivals, arrival_times, simulate
from tests.conftest import INSTANCES


@pytest.fixture(scope="module")
def case4():
    space = build_space(load_instance(INSTANCES / "rago-oss" / "case4.yaml"))
    return space, exhaustive_frontier(space).points


@pytest.fixture(scope="module")
def case4_paper():
    space = build_space(load_instance(INSTANCES / "rago-oss" / "case4-paper.yaml"))
    return space, exhaustive_frontier(space).points


def _bursts(plan, gap_s, n):
    """A trace: n bursts of the plan's burst (or batch) of requests, gap_s apart (never overlapping)."""
    r = plan.burst_requests or plan.batch_per_stage[plan.placement[0][0]]
    return Arrivals("trace", times_s=tuple(np.repeat(np.arange(n) * gap_s, r).tolist()))


@pytest.mark.parametrize("which", ["case4", "case4_paper"])
def test_unloaded_plan_reproduces_the_analytical_ttft(which, request):
    space, points = request.getfixturevalue(which)
    for p in (points[0], points[-1]):  # the least TTFT and the most QPS/chip, with and without micro-batching
        gap = 3 * p.metrics.ttft_s + 10 * p.metrics.bottleneck_cycle_ps / 1e12
        r = simulate(space, p.plan, _bursts(p.plan, gap, 40), duration_s=40 * gap)
        assert r.ttft_s["mean"] == pytest.approx(p.metrics.ttft_s, rel=1e-9)  # each burst alone: MB3 / one batch
        if p.plan.burst_requests is None:  # one batch: every request alike (micro-batched: MB3 is the mean)
            assert r.ttft_s["p99"] == pytest.approx(p.metrics.ttft_s, rel=1e-9)
        assert r.tpot_s["p99"] == pytest.approx(p.metrics.tpot_s, rel=1e-9) and not r.saturated


def test_ninety_percent_load_is_served(case4):
    space, points = case4
    p = points[-1]
    r = simulate(space, p.plan, Arrivals("poisson", 0.9 * p.metrics.qps), duration_s=40_000 / p.metrics.qps, seed=3)
    assert not r.saturated and r.achieved_qps == pytest.approx(r.offered_qps, rel=0.05)
    batch = max(p.plan.batch_per_stage[s] for s in space.pre_decode)
    assert max(r.queue_max.values()) <= 8 * batch  # bounded queues
    assert r.ttft_s["p99"] < 10 * p.metrics.ttft_s


def test_overload_saturates_at_the_predicted_capacity(case4):
    space, points = case4
    p = points[-1]
    r = simulate(space, p.plan, Arrivals("poisson", 1.3 * p.metrics.qps), duration_s=40_000 / p.metrics.qps, seed=3)
    assert r.saturated and r.achieved_qps == pytest.approx(p.metrics.qps, rel=0.05)


def test_seeds_reproduce(case4):
    space, points = case4
    p = points[-1]
    run = lambda seed: simulate(space, p.plan, Arrivals("poisson", 0.5 * p.metrics.qps), 2000 / p.metrics.qps,  # noqa: E731
                                seed=seed)
    a, b, c = run(1), run(1), run(2)
    assert (a.ttft_s, a.achieved_qps, a.requests) == (b.ttft_s, b.achieved_qps, b.requests)
    assert a.ttft_s != c.ttft_s
    t = arrival_times(Arrivals("bursts", 100.0, 4), 10.0, 7)
    assert len(t) % 4 == 0 and np.all(np.diff(t) >= 0) and np.all(t[::4] == t[3::4])


def test_simulate_command(tmp_path, capsys):
    case4 = str(INSTANCES / "rago-oss" / "case4.yaml")
    assert main(["pareto", case4, "--json", str(tmp_path / "f.json"), "--quiet"]) == 0
    capsys.readouterr()
    code = main(["simulate", case4, "--plan", str(tmp_path / "f.json"), "--point", "max-qps-per-chip", "--rate",
                 "100", "--duration", "20", "--seed", "1", "--json", str(tmp_path / "s.json"), "--quiet"])
    out, _ = capsys.readouterr()
    assert code == 0 and "achieved" in out and "TTFT s: mean" in out
    data = json.loads((tmp_path / "s.json").read_text())
    assert {"offered_qps", "achieved_qps", "predicted_max_qps", "ttft_p50_s", "ttft_p99_s", "tpot_p99_s"} <= set(data)
    (tmp_path / "bad.txt").write_text("0.1\nnot-a-time\n")
    code = main(["simulate", case4, "--plan", str(tmp_path / "f.json"), "--point", "0", "--trace",
                 str(tmp_path / "bad.txt"), "--duration", "1", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2 and "line 2" in err and "To fix" in err and err.count("\n") == 1
    code = main(["simulate", case4, "--plan", str(tmp_path / "f.json"), "--point", "0", "--duration", "1"])
    _, err = capsys.readouterr()
    assert code == 2 and "--rate" in err


def test_p99_slo_walks_the_frontier(tmp_path, capsys):
    case4 = str(INSTANCES / "rago-oss" / "case4.yaml")
    out = tmp_path / "f.json"
    assert main(["pareto", case4, "--ttft-p99-slo", "0.5", "--rate", "400", "--json", str(out), "--quiet"]) == 0
    text, _ = capsys.readouterr()
    check = json.loads(out.read_text())["p99_check"]
    assert check["method"] == "simulated" and check["seed"] == 0 and "chosen (simulated)" in text
    tried = check["tried"]
    assert check["chosen"] == tried[-1]["label"] and tried[-1]["meets"] and tried[-1]["ttft_p99_s"] <= 0.5
    assert len(tried) >= 2 and not any(t["meets"] for t in tried[:-1])  # the analytical optimum misses the p99
    assert [t["qps_per_chip"] for t in tried] == sorted((t["qps_per_chip"] for t in tried), reverse=True)
    assert all(t["capacity_qps"] >= 400 for t in tried)
    lo, hi = tried[-1]["ttft_p99_ci_s"]
    assert lo <= tried[-1]["ttft_p99_s"] <= hi


def test_p99_slo_capacity_tightens_the_analytical_ttft(tmp_path, capsys):
    case4 = str(INSTANCES / "rago-oss" / "case4.yaml")
    out = tmp_path / "c.json"
    code = main(["capacity", case4, "--qps", "300", "--objective", "chips", "--ttft-p99-slo", "0.41", "--no-explain",
                 "--json", str(out), "--quiet"])
    assert code == 0
    data = json.loads(out.read_text())
    check = data["p99_check"]
    assert not check["tried"][0]["meets"] and check["tried"][-1]["meets"]  # the least-weight plan misses it
    assert check["chosen"].startswith("TTFT <=") and data["chips"] == check["tried"][-1]["chips"]
    code = main(["capacity", case4, "--qps", "300", "--objective", "chips", "--ttft-p99-slo", "0.01", "--no-explain",
                 "--quiet"])
    _, err = capsys.readouterr()
    assert code == 2 and "no plan tried meets p99 TTFT <= 0.01 s" in err and err.count("\n") == 1


def test_output_lengths_from_the_workload(case4):
    from planner.workload import LengthDistribution, Workload

    space0, points = case4
    p = points[-1]
    inst = space0.instance.model_copy(update={"workload": Workload(output_tokens=LengthDistribution(
        kind="lognormal", cv=1.0))})
    space = build_space(inst)
    arr = Arrivals("poisson", 0.5 * p.metrics.qps)
    fixed = simulate(space0, p.plan, arr, 20_000 / p.metrics.qps, seed=2)
    varied = simulate(space, p.plan, arr, 20_000 / p.metrics.qps, seed=2)
    assert fixed.ttft_s == varied.ttft_s  # the pre-decode stages do not see output lengths
    assert fixed.e2e_s["p99"] == pytest.approx(fixed.e2e_s["p50"], rel=0.2)  # every answer T tokens
    assert varied.e2e_s["p99"] > 2 * varied.e2e_s["p50"]  # cv 1: a long tail
    assert varied.e2e_s["mean"] == pytest.approx(fixed.e2e_s["mean"], rel=0.1)  # the mean length is T
    with pytest.raises(ValueError, match="uniform length needs min_tokens <= max_tokens"):
        LengthDistribution(kind="uniform", min_tokens=9, max_tokens=3)


def test_iterative_retrieval_simulated_on_the_shared_servers():
    """D9: iterative batches run on the retrieval and prefill groups' timelines. Bound by retrieval (b_it = D/8),
    the simulated capacity is the evaluator's (IR3 counts the iterative load); bound by decode's stall (b_it = D),
    the mean-field IR4 is conservative: the simulated decode serves more (sequences pause in step)."""
    space = build_space(load_instance(INSTANCES / "paper" / "case3-8b.yaml"))
    p = exhaustive_frontier(space).points[-1]
    d = p.plan.batch_per_stage["decode"]
    for b, load, check in ((d // 8, 1.3, lambda sim, want: sim == pytest.approx(want, rel=0.05)),
                           (d, 1.6, lambda sim, want: sim > 1.1 * want)):
        plan = p.plan.model_copy(update={"iterative_batch": b})
        m = evaluate(space, plan)
        r = simulate(space, plan, Arrivals("poisson", load * m.qps), duration_s=6000 / m.qps, seed=1)
        assert check(r.achieved_qps, m.qps) and (r.saturated or load > 1.5), (b, r.achieved_qps, m.qps)


def test_prompt_lengths_from_the_workload(case4):
    from planner.workload import LengthDistribution, Workload

    space0, points = case4
    p = points[-1]
    space = build_space(space0.instance.model_copy(update={"workload": Workload(prompt_tokens=LengthDistribution(
        kind="uniform", min_tokens=1, max_tokens=1023))}))  # mean 512, the pipeline's
    arr = Arrivals("poisson", 0.5 * p.metrics.qps)
    fixed = simulate(space0, p.plan, arr, 20_000 / p.metrics.qps, seed=2)
    varied = simulate(space, p.plan, arr, 20_000 / p.metrics.qps, seed=2)
    assert varied.ttft_s != fixed.ttft_s  # prefill batches take their prompts' time
    assert varied.ttft_s["mean"] == pytest.approx(fixed.ttft_s["mean"], rel=0.1)  # the mean prompt is the same
    assert varied.achieved_qps == pytest.approx(fixed.achieved_qps, rel=0.05)
