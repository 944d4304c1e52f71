"""CP-SAT = enumeration on random pipelines (tests/crosscheck.py), deterministic in CI; the longer randomized
search is ``python bench/crosscheck.py`` (docs/testing.md)."""

from hypothesis import given, settings

from planner import EmptySpaceError, InstanceError
from planner.cpsat import by_batch
from tests.conftest import examples
from tests.crosscheck import check_priced_space, check_space, priced_space_of, space_of
from tests.strategies import priced_instances, random_instances


def _check(data) -> None:
    try:
        space = space_of(data)
    except (EmptySpaceError, InstanceError):  # a draw may list no usable chip count
        return
    check_space(space)


@settings(max_examples=examples(120))
@given(random_instances(budgets=True))
def test_cpsat_equals_enumeration_on_random_pipelines(data):
    _check(data)


@settings(max_examples=examples(20))
@given(random_instances(micro=True))
def test_cpsat_equals_enumeration_on_random_micro_batched_pipelines(data):
    """C14-C15 against MB1-MB5 by enumeration: frontiers, TTFT bounds, QPS floors, min-chips."""
    _check(data)


@settings(max_examples=examples(15))
@given(random_instances(iterative=True))
def test_cpsat_equals_enumeration_on_random_iterative_pipelines(data):
    """C16-C17 against IR1-IR4 by enumeration: frontiers, TTFT / TPOT / QPS bounds, min-chips."""
    _check(data)


@settings(max_examples=examples(60))
@given(random_instances(iterative=True, one_group=True))
def test_by_batch_sweep_equals_enumeration_on_random_iterative_pipelines(data):
    """IR5-IR8 (the by-batch sweep, no column per (B, b_it)) against IR1-IR4 by enumeration: frontiers, TTFT / TPOT /
    QPS bounds (min-chips goes through the CP-SAT columns)."""
    try:
        space = space_of(data)
    except (EmptySpaceError, InstanceError):
        return
    assert by_batch(space)
    check_space(space)


@settings(max_examples=examples(100))
@given(priced_instances())
def test_cpsat_equals_enumeration_on_priced_multi_type_pipelines(data):
    try:
        space = priced_space_of(data)
    except (EmptySpaceError, InstanceError):  # a draw may leave a stage no usable option
        return
    check_priced_space(space)
