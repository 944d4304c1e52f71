"""The typed cost interface (models/cost.py): every cost a space plans with implements it, whatever the source."""

import pytest

from models import Breakdown, RetrievalModel, StageCost
from planner import build_space, load_instance
from tests.conftest import INSTANCES


@pytest.mark.parametrize("name", ["rago-oss/case1.yaml", "paper/case2-8b-1m.yaml", "paper/case4-8b.yaml"])
@pytest.mark.parametrize("mode", ["pow2", "any"])
def test_every_stage_cost_implements_the_interface(name, mode):
    inst = load_instance(INSTANCES / name)
    inst = inst.model_copy(update={"search": inst.search.model_copy(update={"chips": mode, "batches": mode})})
    space = build_space(inst)
    for stage, per_type in space.costs.items():
        (cost,) = per_type  # one offered type
        want = RetrievalModel if stage == "retrieval" else StageCost
        assert isinstance(cost, want), (stage, type(cost).__name__)
        units = cost.min_servers() if stage == "retrieval" else space.stage_chip_options[stage][0]
        info = cost.breakdown(units, 1)
        assert isinstance(info, Breakdown) and info.bound
        assert info.latency_s == pytest.approx(float(cost.latency_s(units, 1)), rel=1e-12)
        assert cost.description
