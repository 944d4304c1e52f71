"""The solver rows of a space (``planner.space_rows``): every option of a stage at once equals each row alone."""

import numpy as np
import pytest

from models import ModelError
from models.roofline import ROWS_AT_ONCE
from planner import EmptySpaceError, InstanceError, build_space, load_instance
from tests.conftest import INSTANCES


def _same_rows(inst) -> int:
    """Compare ``latency_rows`` with ``latency_row`` on a fresh space for every stage; the rows compared."""
    try:
        a, b = build_space(inst), build_space(inst)
    except (EmptySpaceError, InstanceError, ModelError):
        return 0
    grid, seen = tuple(a.batch_options[:ROWS_AT_ONCE]), 0
    for s in a.pre_decode:
        codes = sorted(a.stage_options(s)) if s != "retrieval" else []
        try:
            alone = [b.latency_row(s, c, grid) for c in codes]
        except ModelError:  # some option does not fit a batch: latency_rows raises too
            with pytest.raises(ModelError):
                a.latency_rows(s, codes, grid)
            continue
        if codes:
            assert np.array_equal(a.latency_rows(s, codes, grid), np.stack(alone))
            seen += len(codes)
    codes = list(a.stage_chip_options["decode"])
    d = a.decode_batch_options(codes[0])[:ROWS_AT_ONCE]
    fit = [c for c in codes if set(d) <= set(a.decode_batch_options(c))]
    assert np.array_equal(a.latency_rows("decode", fit, d), np.stack([b.latency_row("decode", c, d) for c in fit]))
    return seen + len(fit)


@pytest.mark.parametrize("name", ["paper/case1-8b", "paper/case2-8b-100k", "paper/case4-70b", "rago-oss/case4"])
def test_shipped_rows_at_once_equal_each_row(name):
    inst = load_instance(INSTANCES / f"{name}.yaml")
    inst = inst.model_copy(update={"search": inst.search.model_copy(update={"chips": "any", "chip_options": {}})})
    assert _same_rows(inst) > 100


def test_design_variants_rows_at_once_equal_each_row():
    """Also with the KV cache loaded over the link (R11) and the embedding cache."""
    from planner.knobs import variants

    kept, _ = variants(load_instance(INSTANCES / "design" / "case2-caches.yaml"))
    assert sum(_same_rows(v.instance) for v in kept) > 100
