"""A discrete-event simulation of one plan under arriving requests (simpy; ``docs/model.md``, "Simulation", D1-D6).

- D1 arrivals: Poisson at a rate, bursts (``burst`` requests at once, the bursts Poisson at rate / burst), or a
  trace of timestamps; requests are served in order.
- D2 each pre-decode placement group is one server (its chips, or for retrieval alone its CPU servers) running its
  stages on one timeline: the latest stage of the group with a full batch of inputs waiting runs first (MB2), else
  the first stage takes its next batch; a batch of k requests of stage s lasts L_s(n_s, k) (the cost source, Q1).
  A first stage short of its batch runs what it has once the oldest waiting request has waited ``timeout_s``
  (default: the plan's bottleneck cycle) or when no more requests can come; a later stage runs a short batch when
  the stage before it has nothing waiting.
- D3 decode: continuous batching with the plan's D slots; a sequence holds a slot for its output length of steps
  of t_step = L_dec(D) / T (every step priced at the full batch, as the analytical model does); a sequence waits
  for a free slot. Output lengths are drawn from the instance's ``workload.output_tokens`` (mean T; default every
  sequence T); prompts are the instance's length.
- D4 TTFT = the time a request leaves the last pre-decode stage minus its arrival; TPOT = (decode end - that time)
  / its output length (a wait for a slot counts); end-to-end = decode end - arrival.
- D5 achieved QPS = the rate of decode completions in the second half of the arrival window: (completions after
  the window's first one) / (time from the first to the last), so whole batches do not skew it; the run is
  saturated when that falls 5% short of the offered rate, or more than 5% of the requests are still unserved at
  twice the window (the simulation stops there).
- D6 predictions: the evaluator's QPS (the plan's capacity) and TTFT (one full batch, or the burst's MB3).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from planner.errors import InstanceError
from planner.evaluate import evaluate, stage_latencies, unit_codes
from planner.schema import Plan
from planner.space import Space
from planner.workload import draw_lengths

__all__ = ["Arrivals", "SimResult", "arrival_times", "simulate"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Arrivals:
    """D1: ``kind`` poisson (``rate_qps``), bursts (``burst`` requests at once, ``rate_qps`` overall) or trace
    (``times_s``, sorted seconds)."""

    kind: str
    rate_qps: float = 0.0
    burst: int = 1
    times_s: tuple[float, ...] = ()


def arrival_times(arr: Arrivals, duration_s: float, seed: int) -> np.ndarray:
    """D1: the arrival times (s) in [0, duration_s), sorted; the same for the same seed."""
    rng = np.random.default_rng(seed)
    if arr.kind == "trace":
        t = np.asarray(arr.times_s, dtype=np.float64)
        return np.sort(t[(t >= 0) & (t < duration_s)])
    if not (arr.rate_qps > 0 and math.isfinite(arr.rate_qps)):
        raise InstanceError(f"arrival rate {arr.rate_qps!r} requests/s is not positive. To fix: give --rate > 0")
    per = arr.burst if arr.kind == "bursts" else 1
    mean = per / arr.rate_qps
    n = int(duration_s / mean * 1.2 + 10 * math.sqrt(duration_s / mean) + 10)
    starts = np.cumsum(rng.exponential(mean, n))
    while starts[-1] < duration_s:  # rarely: more draws needed
        starts = np.concatenate([starts, starts[-1] + np.cumsum(rng.exponential(mean, n))])
    starts = starts[starts < duration_s]
    return np.repeat(starts, per)


@dataclass
class SimResult:
    """What one simulation measured (seconds and requests/s), and the evaluator's prediction (D6)."""

    requests: int
    duration_s: float
    offered_qps: float
    achieved_qps: float
    predicted_max_qps: float
    predicted_ttft_s: float
    saturated: bool
    ttft_s: dict[str, float]
    tpot_s: dict[str, float]
    e2e_s: dict[str, float]
    utilisation: dict[str, float]
    queue_mean: dict[str, float]
    queue_max: dict[str, int]
    served: int
    seed: int
    timeout_s: float
    events: int = 0
    wall_s: float = 0.0
    ttft_samples: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)  # by arrival, warm-up out


class _Group:
    """D2: one pre-decode group's server; FIFO counters per stage, and per later stage the batches of inputs the
    stage before it made (count, time), for the timeout."""

    def __init__(self, env, name, batches, lat, ready, timeout, upstream):
        self.env, self.name, self.b, self.lat, self.ready = env, name, batches, lat, ready
        self.names = name.split("+")
        self.timeout, self.upstream = timeout, upstream  # upstream: the group feeding this one (None: arrivals)
        self.done = [0] * len(batches)
        self.pending = [deque() for _ in batches]  # stage i > 0: (count, made at) of inputs not yet taken
        self.out = np.full(len(ready), np.inf)
        self.produced = 0  # requests this group has finished
        self.wake = env.event()
        self.busy = 0.0
        self.queue_sum, self.queue_max, self.ops = 0, 0, 0
        self.total = len(ready)
        self.it: deque = deque()  # D9: iterative batches waiting for this group's timeline (served first)
        self.on_out = None  # called with (first request, count) when requests leave the group
        self.scale = [None] * len(batches)  # D3: per stage, a batch's latency factor from its prompts (None: 1)
        self.early = 0  # D10: chunks its last stage (retrieval) hands on early (0: whole batches)
        self.pipe = None  # D10: (upstream group, chunks, p, rho, rng) when its first stage (prefill) is pipelined

    def _supplied(self) -> int:
        return self.total if self.upstream is None else self.upstream.produced

    def _waiting0(self, now: float) -> int:
        """Requests arrived at the first stage and not yet taken."""
        lo, top = self.done[0], self._supplied()
        if lo >= top or self.ready[lo] > now:
            return 0
        return int(np.searchsorted(self.ready[lo:top], now, side="right"))

    def _pick(self, now: float) -> tuple[int, int, float]:
        """(stage, batch size) to run now (MB2: the latest stage first), or (-1, 0, when to look again; inf: on a
        wake). A short batch runs once its oldest input has waited the timeout or no more inputs can come."""
        b, done, again = self.b, self.done, math.inf
        for i in range(len(b) - 1, -1, -1):
            waiting = done[i - 1] - done[i] if i else self._waiting0(now)
            if waiting >= b[i]:
                return i, b[i], 0.0
            if waiting == 0:
                if i == 0 and done[0] < self._supplied():
                    again = min(again, self.ready[done[0]])
                continue
            oldest = self.pending[i][0][1] if i else self.ready[done[0]]
            final = done[i - 1] == self.total if i else done[0] + waiting == self.total
            if final or now >= oldest + self.timeout:
                return i, waiting, 0.0
            again = min(again, oldest + self.timeout)
            if i == 0 and done[0] + b[0] - 1 < self._supplied():
                again = min(again, self.ready[done[0] + b[0] - 1])
        return -1, 0, again

    def poke(self) -> None:
        self.wake.succeed()
        self.wake = self.env.event()

    def run(self, downstream):
        env, last = self.env, len(self.b) - 1
        while True:
            if self.it:  # D9: an iterative batch first (its sequences hold decode slots)
                job = self.it.popleft()
                dur = self.lat[job.route[job.pos][1]](job.k)
                self.busy += dur
                yield env.timeout(dur)
                job.advance()
                continue
            if self.done[last] >= self.total:
                yield self.wake  # only iterative batches can come now
                continue
            i, k, when = self._pick(env.now)
            if i < 0:
                yield self.wake if when == math.inf else env.timeout(max(0.0, when - env.now)) | self.wake
                continue
            if i == 0:
                q = self._waiting0(env.now)
                self.queue_sum += q
                self.queue_max = max(self.queue_max, q)
                self.ops += 1
            else:
                _take(self.pending[i], k)
            dur = self.lat[i](k) * (self.scale[i](self.done[i], k) if self.scale[i] else 1.0)
            lo = self.done[i]
            if i == 0 and self.pipe is not None:  # D10: the prefill's chunks follow the retrieval's
                dur, hold = self._pipelined(lo, k, dur)
            else:
                hold = dur
            if i == last and self.early:  # D10: the first chunk's results go on at a chunk of the batch's time
                self.r_t0[lo:lo + k], self.r_dur[lo:lo + k] = env.now, dur
                env.process(self._hand_on(lo, k, dur / self.early, downstream))
            self.busy += dur
            yield env.timeout(hold)
            self.done[i] += k
            if i < last:
                self.pending[i + 1].append([k, env.now])
            elif not self.early:
                self.out[lo:lo + k] = env.now
                self.produced = self.done[i]
                if downstream is not None:
                    downstream.poke()
                if self.on_out is not None:
                    self.on_out(lo, k)

    def _hand_on(self, lo: int, k: int, after: float, downstream):
        yield self.env.timeout(after)
        self.out[lo:lo + k] = self.env.now
        self.produced = lo + k
        if downstream is not None:
            downstream.poke()

    def _pipelined(self, lo: int, k: int, dur: float) -> tuple[float, float]:
        """D10 (AP2-AP3 run): prefill chunk j starts once chunk j - 1 has ended and every request's retrieval has
        reached j / c of its batch, and takes dur / c; a wrong early result (probability p) re-runs rho of the
        prefill. Returns (work, time the group is held)."""
        up, c, p, rho, rng = self.pipe
        t0, d = up.r_t0[lo:lo + k], up.r_dur[lo:lo + k]
        end = self.env.now
        for j in range(1, c + 1):
            end = max(end, float(np.max(t0 + j * d / c))) + dur / c
        extra = rho * dur if rng.random() < p else 0.0
        return dur + extra, end + extra - self.env.now


class _ItJob:
    """D9: one iterative batch of k sequences: retrieval on its group's timeline, then the prefix on the prefill
    group's; ``event`` fires when both are done."""

    def __init__(self, env, k: int, route: list):
        self.k, self.route, self.pos, self.event = k, route, 0, env.event()
        route[0][0].it.append(self)
        route[0][0].poke()

    def advance(self) -> None:
        self.pos += 1
        if self.pos < len(self.route):
            group = self.route[self.pos][0]
            group.it.append(self)
            group.poke()
        else:
            self.event.succeed()


class _Decode:
    """D9: decode with iterative retrievals: D slots (a simpy resource); a sequence runs n + 1 segments of its
    length, pausing after each of the first n; paused sequences wait for a batch of b_it (or the oldest for
    ``fill`` seconds), which runs on the pre-decode groups' servers (``_ItJob``), then resume."""

    def __init__(self, env, space: Space, plan: Plan, groups: list, length: np.ndarray, t_step: float, fill: float):
        self.env, self.n, self.bi = env, space.iterations, plan.iterative_batch
        self.slots = simpy.Resource(env, capacity=plan.batch_per_stage["decode"])
        where = {s: (g, g.names.index(s)) for g in groups for s in g.names}
        self.route = [where["retrieval"], where["prefill"]]
        self.length, self.t_step, self.fill = length, t_step, fill
        self.end = np.full(len(length), np.inf)
        self.paused: deque = deque()  # (since, event to wait on)
        self.batch_event = None

    def start(self, lo: int, k: int) -> None:
        for j in range(lo, lo + k):
            self.env.process(self._seq(j))

    def _seq(self, j: int):
        n, ln = self.n, int(self.length[j])
        with self.slots.request() as req:
            yield req
            for s in range(n + 1):
                yield self.env.timeout((round((s + 1) * ln / (n + 1)) - round(s * ln / (n + 1))) * self.t_step)
                if s < n:
                    yield self._pause()
            self.end[j] = self.env.now

    def _pause(self):
        if not self.paused:
            self.env.process(self._timer(self.env.now))
        ev = self.env.event()
        self.paused.append((self.env.now, ev))
        if len(self.paused) >= self.bi:
            self._dispatch()
        return ev

    def _dispatch(self) -> None:
        batch = [self.paused.popleft() for _ in range(min(self.bi, len(self.paused)))]
        job = _ItJob(self.env, len(batch), self.route)
        job.event.callbacks.append(lambda _: [ev.succeed() for _, ev in batch])
        if self.paused:
            self.env.process(self._timer(self.paused[0][0]))

    def _timer(self, since: float):
        yield self.env.timeout(self.fill)
        if self.paused and self.paused[0][0] <= since:
            self._dispatch()


def _take(pending: deque, k: int) -> None:
    """Remove the k oldest inputs from a stage's (count, time) batches."""
    while k:
        head = pending[0]
        used = min(k, head[0])
        head[0] -= used
        k -= used
        if head[0] == 0:
            pending.popleft()


def _latency(space: Space, stage: str, code: int) -> Callable[[int], float]:
    memo: dict[int, float] = {}

    def lat(k: int) -> float:
        if k not in memo:
            memo[k] = space.latency_at(stage, code, k) / 1e12
        return memo[k]
    return lat


def _prompt_scale(space: Space, n: int, seed: int):
    """D3: a prefill batch's latency scales with its prompts' mean length over the pipeline's (linear in tokens: an
    approximation; the cost sources price one prompt length)."""
    nominal = space.instance.pipeline.stage("prefill").prompt_tokens
    prompts = draw_lengths(space.instance.workload.prompt_tokens, nominal, n, np.random.default_rng([seed, 2]))
    csum = np.concatenate(([0], np.cumsum(prompts)))
    return lambda lo, k: float(csum[lo + k] - csum[lo]) / (k * nominal)


def _stats(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {"mean": math.nan, "p50": math.nan, "p90": math.nan, "p99": math.nan}
    p = np.percentile(x, [50, 90, 99])
    return {"mean": float(x.mean()), "p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2])}


def simulate(space: Space, plan: Plan, arrivals: Arrivals, duration_s: float, seed: int = 0,
             timeout_s: float | None = None, progress: Progress | None = None) -> SimResult:
    """D1-D6: run ``plan`` under ``arrivals`` for ``duration_s`` of arrivals (and up to as long again to drain)."""
    import time

    t_wall = time.perf_counter()
    m = evaluate(space, plan)  # also checks the plan is well formed
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise InstanceError(f"duration {duration_s!r} s is not positive. To fix: give --duration > 0")
    arr = arrival_times(arrivals, duration_s, seed)
    if len(arr) == 0:
        raise InstanceError(f"no request arrives within {duration_s} s. To fix: raise --rate or --duration")
    codes = unit_codes(space, plan)
    bottleneck = m.bottleneck_cycle_ps / 1e12
    timeout = bottleneck if timeout_s is None else timeout_s
    env = simpy.Environment()
    groups, ready = [], arr
    for g in plan.placement[:-1]:
        grp = _Group(env, "+".join(g), [plan.batch_per_stage[s] for s in g],
                     [_latency(space, s, codes[s]) for s in g], ready, timeout, groups[-1] if groups else None)
        if "prefill" in g and space.instance.workload.prompt_tokens.kind != "fixed":  # D3: prompts of their own
            grp.scale[g.index("prefill")] = _prompt_scale(space, len(arr), seed)
        groups.append(grp)
        ready = grp.out
    ov = space.instance.pipeline.overlap
    if ov is not None:  # D10: retrieval ends its group (AP1), prefill starts the next
        k = next(k for k, g in enumerate(plan.placement) if "retrieval" in g)
        groups[k].early, groups[k].r_t0, groups[k].r_dur = ov.chunks, np.zeros(len(arr)), np.zeros(len(arr))
        groups[k + 1].pipe = (groups[k], ov.chunks, ov.wrong_probability, ov.reprefill_fraction,
                              np.random.default_rng([seed, 3]))
    for k, grp in enumerate(groups):
        env.process(grp.run(groups[k + 1] if k + 1 < len(groups) else None))
    lat = stage_latencies(space, plan)
    T = space.decode_tokens()
    t_step = lat["decode"] / T / 1e12
    length = draw_lengths(space.instance.workload.output_tokens, T, len(arr), np.random.default_rng([seed, 1]))
    dec = None
    if space.iterations:  # D9: decode in the simulation, its iterative batches on the groups' timelines
        fill = 10 * plan.iterative_batch * m.decode_ps / 1e12 / (plan.batch_per_stage["decode"] * space.iterations)
        dec = _Decode(env, space, plan, groups, length, t_step, fill)
        groups[-1].on_out = dec.start
    stop = 2 * duration_s
    step = max(duration_s / 20, 1e-9)
    t = 0.0
    while t < stop and (groups[-1].produced < len(arr) or (dec is not None and not np.isfinite(dec.end).all())):
        t = min(stop, t + step)
        env.run(until=t)
        if progress:
            progress(f"simulated {t:.4g} of up to {stop:.4g} s: {groups[-1].produced}/{len(arr)} requests past "
                     f"the pre-decode stages")
    first = groups[-1].out  # D4: first token times (inf: not reached)
    if dec is None:  # D3: FIFO onto the first free slot
        slots, end = [0.0] * plan.batch_per_stage["decode"], np.full(len(arr), np.inf)
        for j in np.flatnonzero(np.isfinite(first)):
            start = max(first[j], heapq.heappop(slots))
            end[j] = start + int(length[j]) * t_step
            heapq.heappush(slots, end[j])
    else:
        end = dec.end
    ok = end <= stop
    window = (end >= duration_s / 2) & (end < duration_s)
    served = int(ok.sum())
    done_at = np.sort(end[window])
    if len(done_at) > 1 and done_at[-1] > done_at[0]:  # D5: completions after the first, over the time they took
        achieved = float(len(done_at) - np.searchsorted(done_at, done_at[0], side="right")) / (done_at[-1] - done_at[0])
    else:
        achieved = float(len(done_at)) / (duration_s / 2)
    keep = ok & (arr >= duration_s / 10)  # latencies past the first tenth (warm-up)
    ttft = first[keep] - arr[keep]
    return SimResult(
        requests=len(arr), duration_s=duration_s, offered_qps=len(arr) / duration_s,
        achieved_qps=achieved, predicted_max_qps=m.qps, predicted_ttft_s=m.ttft_s,
        saturated=bool(len(arr) - served > 0.05 * len(arr) or achieved < 0.95 * len(arr) / duration_s),
        ttft_s=_stats(ttft),
        tpot_s=_stats((end[keep] - first[keep]) / length[keep]), e2e_s=_stats(end[keep] - arr[keep]),
        utilisation={g.name: g.busy / max(env.now, 1e-30) for g in groups},
        queue_mean={g.name: g.queue_sum / max(g.ops, 1) for g in groups},
        queue_max={g.name: g.queue_max for g in groups}, served=served, seed=seed, timeout_s=timeout,
        events=sum(g.ops for g in groups), wall_s=time.perf_counter() - t_wall, ttft_samples=ttft)
