"""K11 (``docs/model.md``, "Self-design"): a variant of a design covered by an earlier one, from their tables.

Variant b covers variant a when both have the same decisions (stages, placements, chip options and batches, the
same retrieval buckets and weights, the same SLO caps and decode tokens) and every latency of b is at most a's:
each pre-decode stage's time per cycle at every option and batch, and for every decode row (n_d, D, L_a) of a a row
(n_d, D, L_b) of b with L_b <= L_a. Then every plan of a is a plan of b with the same chips and weight, TTFT,
cycle and TPOT no higher (each a sum or maximum of those latencies): QPS/chip no lower. With b earlier in the
design's order, a frontier point is never a's (F2 and O3's tie-break prefers b's plan, no worse in any key, and
the earlier variant), so the union of the variants without a has the same frontier, plan for plan.

Retrieval pipelined with prefill (AP1-AP4) is compared when both variants pipeline alike (the same chunks and
penalty rate): TTFT (AP2's max of sums of ceilings, plus AP3's ceiling) and the prefill's time per cycle only grow
with the one-batch latencies, which must then be no higher too. With micro-batching or iterative retrieval a
variant is never covered.
"""

from __future__ import annotations

import numpy as np

from planner.cpsat.tables import SpaceTables
from planner.space import Space

__all__ = ["covers", "plain"]


def plain(space: Space, st: SpaceTables) -> bool:
    """Whether K11 compares this space: no burst columns or iterative columns."""
    return not space.micro and not space.iterations and st.columns is None and st.iterative is None


def _same_decisions(sa: Space, sb: Space) -> bool:
    keys = ("stages", "placements", "stage_chip_options", "min_chips", "max_chips", "batch_options", "types",
            "server_types", "type_resources", "server_resources", "type_budget", "retrieval_options",
            "collocated_options")
    return all(getattr(sa, k) == getattr(sb, k) for k in keys) and sa.instance.search == sb.instance.search and \
        sa.instance.slo == sb.instance.slo and sa.decode_tokens() == sb.decode_tokens()


def _eq(x, y) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return np.array_equal(np.asarray(x), np.asarray(y))


def _decode_covered(a: SpaceTables, b: SpaceTables) -> bool:
    """Every decode row (n_d, D, L) of a has a row of b with the same option and D and a latency at most L."""
    da, db = a.decode, b.decode
    if not (_eq(da.options, db.options) and _eq(da.weights, db.weights)):
        return False
    for Da, La, Db, Lb in zip(da.D, da.L, db.D, db.L):
        k = np.searchsorted(Db, Da)  # D ascending in every option's rows
        if len(Da) and (k.max() >= len(Db) or not np.array_equal(Db[k], Da) or np.any(Lb[k] > La)):
            return False
    return True


def covers(sb: Space, b: SpaceTables, sa: Space, a: SpaceTables) -> bool:
    """K11: whether variant b (space ``sb``, tables ``b``) covers variant a: every plan of a is a plan of b with the
    same chips and weight and no higher TTFT, cycle or TPOT."""
    if not (plain(sa, a) and plain(sb, b) and _same_decisions(sa, sb)):
        return False
    if not (_eq(a.batches, b.batches) and _eq(a.needs(), b.needs()) and a.buckets == b.buckets and
            a.ttft_cap == b.ttft_cap and _eq(a.cycle_cap, b.cycle_cap) and a.objective == b.objective and
            _eq(a.totals, b.totals) and a.lat.keys() == b.lat.keys() and a.overlap == b.overlap and
            (a.step is None) == (b.step is None)):
        return False
    for s in a.lat:
        if not _eq(a.options[s], b.options[s]) or a.lat[s].shape != b.lat[s].shape or np.any(b.lat[s] > a.lat[s]):
            return False
        if a.step is not None and (a.step[s].shape != b.step[s].shape or np.any(b.step[s] > a.step[s])):
            return False
    return _decode_covered(a, b)
