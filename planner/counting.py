"""Counting a space's schedules without enumerating them (dynamic programming over chip sums): the exhaustive
search's guard (``MAX_SCHEDULES``) and the ``space`` command's per-placement counts."""

from __future__ import annotations

import numpy as np

from planner.errors import SpaceTooLargeError
from planner.space import Space, units_of

__all__ = ["MAX_SCHEDULES", "count_assignments", "count_schedules", "guard"]

#: The largest space the exhaustive search enumerates (schedules); beyond it, it refuses with the count.
MAX_SCHEDULES = 100_000_000


def _sum_counts(opts: list[tuple[int, ...]], top: int) -> np.ndarray:
    """How many ways each total 0..top is reached with one option per group (floats: a size estimate)."""
    counts = np.zeros(top + 1)
    counts[0] = 1.0
    for o in opts:
        nxt = np.zeros(top + 1)
        o = np.sort(units_of(np.asarray([v for v in o if units_of(v) <= top], dtype=np.int64)))
        runs = np.split(o, np.flatnonzero(np.diff(o) != 1) + 1) if len(o) else []
        csum = np.concatenate(([0.0], np.cumsum(counts)))
        for r in runs:  # a run a..b of consecutive options adds counts[t-b .. t-a] to total t
            a, b = int(r[0]), int(r[-1])
            t = np.arange(top + 1)
            nxt += csum[np.clip(t - a + 1, 0, top + 1)] - csum[np.clip(t - b, 0, top + 1)]
        counts = nxt
    return counts


def _pre_counts(space: Space, placement) -> np.ndarray:
    """Cumulative counts of the pre-decode groups' chip sums 0..N_max (a prefix sum: csum[t + 1] - csum[s] is the
    number of assignments with a sum in [s, t]), times the retrieval options (S9); type budgets (S8) are not
    counted, so this is an upper bound when they bind."""
    counts = _sum_counts([space.group_chip_options(g, placement) or (0,) for g in placement[:-1]], space.max_chips)
    counts *= max(1, len(space.retrieval_options))
    return np.concatenate(([0.0], np.cumsum(counts)))


def count_assignments(space: Space, placement) -> float:
    """S3: how many chip assignments of ``placement`` have a total in [min_chips, max_chips] (no enumeration)."""
    csum = _pre_counts(space, placement)
    total = 0.0
    for n in units_of(np.asarray(space.group_chip_options(placement[-1], placement))).tolist():
        lo, hi = max(space.min_chips - n, 0), space.max_chips - n
        total += csum[hi + 1] - csum[lo] if hi >= lo else 0.0
    return total


def count_schedules(space: Space, stop_above: float = np.inf) -> float:
    """The number of schedules (placement, chips, B or a micro-batch schedule, D >= B or its largest batch) of the space, counted without enumerating them
    (stops early once it exceeds ``stop_above``)."""
    total = 0.0
    B = (np.asarray([max(v) for v, _ in space.burst_columns()]) if space.micro  # D >= the largest b_s (MB1)
         else np.asarray([max(b, i) for b, i in space.iterative_columns()])
         if space.iterations  # IR2: every (B, b_it), D >= both
         else np.asarray(space.batch_options))
    for placement in space.placements:
        csum = _pre_counts(space, placement)
        for code in space.group_chip_options(placement[-1], placement):
            n = int(units_of(code))
            lo, hi = max(space.min_chips - n, 0), space.max_chips - n
            ways = csum[hi + 1] - csum[lo] if hi >= lo else 0.0
            if ways:
                D = np.asarray(space.decode_batch_options(int(code)))
                total += ways * float(np.sum(len(D) - np.searchsorted(D, B)))
            if total > stop_above:
                return total
    return total


def guard(space: Space, max_schedules: float) -> float:
    """The space's schedule count; SpaceTooLargeError past ``max_schedules``."""
    n = count_schedules(space, stop_above=max_schedules)
    if n > max_schedules:
        raise SpaceTooLargeError(f"the exhaustive search would enumerate over {n:.3g} schedules (its limit is "
                                 f"{max_schedules:.3g}). To fix: use --solver cpsat, or narrow the space "
                                 f"(search.chips: pow2, search.batches: pow2, a smaller search.max_batch_size or "
                                 f"search.max_chips_per_stage)")
    return n
