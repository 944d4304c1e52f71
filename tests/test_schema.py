"""Instance validation: every bad input is one InstanceError naming the field, the value and the fix."""

import pytest

from planner import InstanceError, load_instance
from tests.conftest import INSTANCES, tiny_instance_dict, write_yaml


def _load(tmp_path, data):
    return load_instance(write_yaml(tmp_path / "i.yaml", data))


def test_shipped_instances_load():
    for case in ("case1", "case2", "case4"):
        inst = load_instance(INSTANCES / "rago-oss" / f"{case}.yaml")
        assert inst.pipeline.stage_names[-2:] == ("prefill", "decode")


def test_relative_profiles_dir_resolves_against_file():
    inst = load_instance(INSTANCES / "rago-oss" / "case1.yaml")
    assert inst.cost.profiles_dir == str((INSTANCES / "rago-oss" / "profiles").resolve())


def test_unknown_field(tmp_path, profiles):
    d = tiny_instance_dict(profiles)
    d["search"]["max_chips_per_stag"] = 3
    with pytest.raises(InstanceError, match=r"search.max_chips_per_stag: unknown field 'max_chips_per_stag'. To fix"):
        _load(tmp_path, d)


def test_unknown_stage_kind(tmp_path, profiles):
    d = tiny_instance_dict(profiles)
    d["pipeline"]["stages"][0] = {"kind": "retrieve", "database": "d"}
    with pytest.raises(InstanceError, match=r"pipeline.stages.0.*retrieve"):
        _load(tmp_path, d)


def test_min_greater_than_max(tmp_path, profiles):
    d = tiny_instance_dict(profiles, total_chips={"min": 96, "max": 64})
    with pytest.raises(InstanceError, match=r"search.total_chips: min 96 > max 64. To fix: make min <= max"):
        _load(tmp_path, d)


def test_negative_value_carries_input(tmp_path, profiles):
    d = tiny_instance_dict(profiles, max_batch_size=-4)
    with pytest.raises(InstanceError, match=r"search.max_batch_size: .*greater than 0 \(got -4\). To fix"):
        _load(tmp_path, d)


@pytest.mark.parametrize("stages, msg", [
    ([{"kind": "prefill", "model": "m", "prompt_tokens": 8}], "no decode stage"),
    ([{"kind": "decode", "model": "m", "prompt_tokens": 8, "decode_tokens": 4},
      {"kind": "prefill", "model": "m", "prompt_tokens": 8}], "RAGSchema order"),
    ([{"kind": "rewrite_prefill", "model": "m", "prompt_tokens": 8}, {"kind": "prefill", "model": "m",
      "prompt_tokens": 8}, {"kind": "decode", "model": "m", "prompt_tokens": 8, "decode_tokens": 4}],
     "needs both rewrite_prefill and rewrite_decode"),
])
def test_pipeline_rules(tmp_path, profiles, stages, msg):
    d = tiny_instance_dict(profiles)
    d["pipeline"]["stages"] = stages
    with pytest.raises(InstanceError, match=msg):
        _load(tmp_path, d)


def test_iterative_retrieval_limits_name_the_fix(tmp_path, profiles):
    d = tiny_instance_dict(profiles)
    d["pipeline"]["retrievals_per_sequence"] = 5  # the tiny decode makes 4 tokens
    with pytest.raises(InstanceError, match="retrievals_per_sequence = 5 exceeds the 4 decode tokens.*To fix"):
        _load(tmp_path, d)
    d["pipeline"]["retrievals_per_sequence"] = 2
    d["search"]["micro_batching"] = True
    with pytest.raises(InstanceError, match="iterative retrieval with micro-batching is not modelled.*To fix"):
        _load(tmp_path, d)
    d["search"]["micro_batching"] = False
    d["pipeline"]["stages"] = d["pipeline"]["stages"][1:]  # no retrieval
    with pytest.raises(InstanceError, match="retrievals_per_sequence = 2 needs a retrieval stage.*To fix"):
        _load(tmp_path, d)


def test_chip_options_for_missing_stage(tmp_path, profiles):
    d = tiny_instance_dict(profiles, chip_options={"rerank": [1]})
    with pytest.raises(InstanceError, match="chip_options names stage 'rerank'"):
        _load(tmp_path, d)


def test_chip_options_for_retrieval(tmp_path, profiles):
    d = tiny_instance_dict(profiles, chip_options={"retrieval": [1]})
    with pytest.raises(InstanceError, match="retrieval runs on CPU servers"):
        _load(tmp_path, d)


def test_malformed_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\npipeline: [\n")
    with pytest.raises(InstanceError, match=r"malformed YAML at line \d+, column \d+"):
        load_instance(p)


def test_not_a_mapping_and_missing_file(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(InstanceError, match="must be a YAML mapping"):
        load_instance(p)
    with pytest.raises(InstanceError, match="cannot read instance"):
        load_instance(tmp_path / "missing.yaml")
