"""DAG construction and the collocation groups / placements it allows (rules G1-G3)."""

from planner.dag import allowed_groups, build_dag, placements, stage_chain
from planner.loader import load_instance
from tests.conftest import INSTANCES


def _dag(case):
    return build_dag(load_instance(INSTANCES / "rago-oss" / f"{case}.yaml").pipeline)


def test_nodes_edges_and_attributes():
    g = _dag("case4")
    assert stage_chain(g) == ("rewrite_prefill", "rewrite_decode", "retrieval", "rerank", "prefill", "decode")
    assert g.nodes["retrieval"]["accelerator"] is False and g.nodes["prefill"]["accelerator"] is True
    assert g.nodes["rerank"]["top_k"] == 16 and g.nodes["decode"]["decode_tokens"] == 256
    assert g.edges["retrieval", "rerank"]["data"] == "retrieved passages"
    assert g.number_of_edges() == 5


def test_allowed_groups_rules():
    groups = set(allowed_groups(_dag("case4")))
    assert ("decode",) in groups and ("retrieval",) in groups
    assert not any("decode" in g and len(g) > 1 for g in groups)  # G2
    assert not any(len(g) > 1 and "retrieval" in (g[0], g[-1]) for g in groups)  # G3
    assert ("rewrite_decode", "retrieval", "rerank") in groups  # retrieval inside a group is fine
    assert ("rewrite_prefill", "retrieval") not in groups  # G1: not contiguous anyway


def test_placement_counts():
    assert len(placements(_dag("case1"), "all")) == 1
    assert len(placements(_dag("case2"), "all")) == 2
    # case 4: 2^4 splits of the five pre-decode stages, minus those with retrieval at a multi-stage edge.
    p4 = placements(_dag("case4"), "all")
    assert len(p4) == 8
    assert placements(_dag("case4"), "disaggregated") == [tuple((s,) for s in stage_chain(_dag("case4")))]
    assert len(placements(_dag("case4"), "collocated")) == 7
    for p in p4:
        assert tuple(s for g in p for s in g) == stage_chain(_dag("case4"))
