"""Micro-batching a burst of requests across the pre-decode stages (``docs/model.md``, "Micro-batching", MB1-MB5).

A burst of R requests arrives at t = 0 and is served in order. Pre-decode stage s runs batches of b_s requests
(each b_s divides R: powers of two <= R), every batch of s lasting L_s = L_s(b_s) picoseconds (Q1).

- MB2 a placement group runs its stages on one timeline. Each step runs the latest stage of the group that has a
  full batch of inputs waiting (made by the stage before it in the group); when none has, the group's first stage
  runs its next batch, which starts once the timeline is free and the batch's last request has left the upstream
  group (t = 0 for the first group). The order of the steps depends on the batches only, never on latencies
  (``group_steps``), so one order serves every chip assignment.
- MB3 TTFT = ceil(sum_j F_j / R) in whole picoseconds, F_j the time request j leaves the last pre-decode stage.

``finish_times`` computes the F_j of one schedule with Python integers (the evaluator); ``group_finish`` and ``burst_ttft``
the same for many schedules at once with numpy (the exhaustive search), on the same integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from planner.errors import InstanceError

__all__ = ["burst_ttft", "finish_times", "group_finish", "group_steps", "mean_ceil"]


@lru_cache(maxsize=4096)
def group_steps(batches: tuple[int, ...], burst: int) -> tuple[int, ...]:
    """MB2: the order of a group's steps (the index of the stage each step runs) for stage batches ``batches``
    and a burst of ``burst`` requests; e.g. (4, 2, 8) over 8 requests: 0 1 1 0 1 1 2."""
    m = len(batches)
    done = [0] * m  # requests each stage has finished
    steps = []
    while done[-1] < burst:
        for i in range(m - 1, 0, -1):  # the latest stage with a full batch waiting
            if done[i - 1] - done[i] >= batches[i]:
                break
        else:
            i = 0
        if i == 0 and done[0] >= burst:
            raise ValueError(f"batches {batches} do not divide the burst {burst}")  # guarded by callers (MB1)
        done[i] += batches[i]
        steps.append(i)
    return tuple(steps)


def finish_times(groups: Sequence[Sequence[int]], latency: Sequence[Sequence[int]], burst: int) -> list[int]:
    """MB2 for one schedule: the time (ps) each of the ``burst`` requests leaves the last group.

    ``groups[g]`` are the batches of group g's stages in pipeline order and ``latency[g]`` their latencies (ps)."""
    arrive = [0] * burst
    for batches, lat in zip(groups, latency):
        out = [0] * burst
        done = [0] * len(batches)
        clock = 0
        for i in group_steps(tuple(batches), burst):
            b = batches[i]
            if i == 0:
                clock = max(clock, arrive[done[0] + b - 1])
            clock += lat[i]
            if i == len(batches) - 1:
                out[done[i]:done[i] + b] = [clock] * b
            done[i] += b
        arrive = out
    return arrive


def mean_ceil(total: int, burst: int) -> int:
    """MB3: the mean of ``burst`` finish times summing to ``total``, rounded up to a whole picosecond."""
    return -(-total // burst)


def group_finish(batches: tuple[int, ...], lat: Sequence[np.ndarray], arrive: np.ndarray | None,
                 burst: int) -> np.ndarray:
    """MB2 for one group over many schedules at once: ``lat[i]`` the latencies (ps, int64, broadcastable) of its
    i-th stage, ``arrive`` (..., burst) the times the requests left the upstream group (None: t = 0); the times
    they leave this group, shape (..., burst)."""
    shape = np.broadcast_shapes(*(np.shape(x) for x in lat), () if arrive is None else arrive.shape[:-1])
    clock = np.zeros(shape, dtype=np.int64)
    out = np.empty(shape + (burst,), dtype=np.int64)
    done = [0] * len(batches)
    last = len(batches) - 1
    for i in group_steps(tuple(batches), burst):
        b = batches[i]
        if i == 0 and arrive is not None:
            clock = np.maximum(clock, arrive[..., done[0] + b - 1])
        clock = clock + lat[i]
        if i == last:
            out[..., done[i]:done[i] + b] = clock[..., None]
        done[i] += b
    return out


def burst_ttft(finish: np.ndarray) -> np.ndarray:
    """MB3 over many schedules: ``finish`` (..., burst) the times the requests leave the last pre-decode group;
    the TTFT (ps) of each schedule. The sum is exact in int64 while every time stays below 2^62 / burst (checked)."""
    burst = finish.shape[-1]
    if finish.size and int(finish.max()) >= (1 << 62) // burst:
        raise InstanceError(f"a burst of {burst} requests finishes after {int(finish.max())} ps, beyond int64's "
                            f"exact sums. To fix: use a smaller burst (search.burst_requests or max_batch_size)")
    return -(-finish.sum(axis=-1) // burst)
