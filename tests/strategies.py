"""Hypothesis strategies shared by the property tests."""

from hypothesis import strategies as st

finite = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)


@st.composite
def point_clouds(draw, max_size=60):
    """(ttft, qpc, tpot) arrays with deliberate ties (values drawn from small pools)."""
    n = draw(st.integers(0, max_size))
    pool = draw(st.lists(finite, min_size=1, max_size=8))
    pick = st.sampled_from(pool)
    return ([draw(pick) for _ in range(n)], [draw(pick) for _ in range(n)], [draw(pick) for _ in range(n)])
