"""Integer tables of a space and of its batch slices (``docs/model.md``, section "CP-SAT model").

Every number is a whole picosecond (Q1, ``Space.latency_ps``), the same integers the evaluator uses, so the tables
are exact; nothing is rounded here.

- ``build_tables``: every pre-decode stage over its chip options (retrieval: its buckets) and the request batches,
  and the ``DecodeBook``: decode rows (D, L_dec) per decode chip count, after the SLO's row filters (TPOT bound,
  decode's share of the QPS floor, Q3).
- ``slice_tables``: for one request batch B, rows (n, t, o, w) per pre-decode group g and option o (n = its
  chips, w its weight under the objective, O4), t = sum_{s in g, s != retrieval} L_s(o, B) (the group's TTFT
  share and cycle alike), and rows (j, t_r, w_r) per retrieval bucket j.
- decode rows for one slice, (n_d, D, L, o_d, w_d): ``best_rows`` (per option, the highest D / L_dec with D >= B,
  then the least L_dec: all a ratio threshold or O1 needs), ``fast_rows`` (per option the least L_dec: O4),
  ``capped_rows`` (per option the least-L_dec row for every chip cap N <= floor(K D / (B L)) a threshold K
  allows: O3, the cap appended as a sixth column).
- buckets, hosts policy (S4): r = max(1, floor(N / c)) picks retrieval's table; bucket j is a maximal interval of
  N using one table. Decision policy (S9): one bucket per retrieval option (server type and count), over every N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from planner.errors import InstanceError
from planner.exact import decode_rows_meet, qps_cycle_cap_ps, ratio_rank, ttft_cap_ps
from planner.schema import ACCELERATOR_STAGES, Slo
from planner.overlap import Pipelined, pipelined
from planner.space import MAX_ITERATIVE_COLUMNS, Space, units_of

LEAST_KEPT = 32  # FlatBook.least_index arrays kept (one int32 per decode row each: 2 MB at 500,000 rows)

__all__ = ["Bucket", "DecodeBook", "SliceTables", "SpaceTables", "build_tables", "group_latency", "reachable_totals",
           "slice_tables", "too_many_columns"]


@dataclass(frozen=True)
class Bucket:
    n_lo: int
    n_hi: int
    servers: int  # the retrieval option (server count; S9: code) whose table serves the bucket
    weight: int = 0  # its weight under the objective (S9; hosts are priced with the chips)


@dataclass(frozen=True)
class DecodeBook:
    """Decode rows per decode option (``options``, codes; ``chips`` and ``weights`` of each): batches ``D[i]``
    ascending, whole-decode latencies ``L[i]`` (ps), both after the SLO's row filters; ``best_from[i][k]`` is the
    row >= k with the highest D / L (exact), then the least L, then the least D; ``fast_from[i][k]`` the row >= k
    with the least L, then D; ``rank[i]`` the exact rank of each row's D / L (0: the highest)."""

    options: np.ndarray
    chips: np.ndarray
    weights: np.ndarray
    D: list[np.ndarray]
    L: list[np.ndarray]
    best_from: list[np.ndarray]
    fast_from: list[np.ndarray]
    rank: list[np.ndarray] = field(default_factory=list)
    _by_ratio: dict = field(default_factory=dict, compare=False, repr=False)
    _picked: dict = field(default_factory=dict, compare=False, repr=False)
    _flat: list = field(default_factory=list, compare=False, repr=False)

    def flat(self) -> "FlatBook":
        """Every option's rows by D / L, highest first, in one array (computed once)."""
        if not self._flat:
            parts = [self.by_ratio(i) for i in range(len(self.options))]
            sizes = np.array([len(o) for o, _ in parts], dtype=np.int64)
            cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, dtype=np.int64))
            self._flat.append(FlatBook(
                np.concatenate(([0], np.cumsum(sizes))), np.repeat(np.arange(len(parts)), sizes),
                cat([self.D[i][o] for i, (o, _) in enumerate(parts)]),
                cat([self.L[i][o] for i, (o, _) in enumerate(parts)]),
                np.concatenate([-q for _, q in parts]) if parts else np.zeros(0)))
        return self._flat[0]

    def by_ratio(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Option i's rows by D / L, highest first (exact ranks), and those ratios as floats; computed once."""
        if i not in self._by_ratio:
            order = np.argsort(self.rank[i], kind="stable")
            self._by_ratio[i] = (order, self.D[i][order] / self.L[i][order].astype(np.float64))
        return self._by_ratio[i]


@dataclass(frozen=True)
class FlatBook:
    """``DecodeBook.flat``: option i's rows (highest D / L first) are start[i]:start[i + 1] of ``option``, ``D``,
    ``L`` and ``neg_q`` (-D / L as floats, ascending within each option)."""

    start: np.ndarray
    option: np.ndarray
    D: np.ndarray
    L: np.ndarray
    neg_q: np.ndarray
    _least: dict = field(default_factory=dict, compare=False, repr=False)

    def least_index(self, need: int) -> np.ndarray:
        """Per row p, the row of the least L among its option's rows up to p with D >= need (a row with D < need
        only where none has it), the last one of equal L (by ratio, the least D); the 32 needs used last
        remembered (int32: a frontier's O3 asks 30-90 distinct needs, back and forth, as its slices change)."""
        if need in self._least:
            self._least[need] = self._least.pop(need)  # most recently used last
        else:
            masked = np.where(self.D >= need, self.L, int(self.L.max(initial=0)) + 1)
            first = np.zeros(len(masked), dtype=bool)
            first[self.start[:-1][self.start[:-1] < len(masked)]] = True
            run = _segment_min(masked, first)
            record = first | (masked <= np.r_[0, run[:-1]])
            if len(self._least) >= LEAST_KEPT:
                self._least.pop(next(iter(self._least)))
            kind = np.int32 if len(masked) < 2**31 else np.int64
            self._least[need] = np.maximum.accumulate(np.where(record, np.arange(len(masked), dtype=kind), -1))
        return self._least[need]


@dataclass(frozen=True)
class SpaceTables:
    """Per slice (a column: a request batch B, or with micro-batching stage batches over a burst R, MB1/MB5) the
    requests per pre-decode cycle ``batches`` (B or R), the least decode batch ``need`` (B or max b_s), and per
    pre-decode stage lat[s][i, b]: its time per cycle (ps) at chip option i (retrieval: bucket i) in slice b, L_s(B)
    or (R / b_s) L_s(b_s) (MB4); ``step[s]`` the latency of one of its batches, L_s(b_s) (None: ``lat``)."""

    batches: np.ndarray
    options: dict[str, np.ndarray]
    lat: dict[str, np.ndarray]
    buckets: tuple[Bucket, ...]
    decode: DecodeBook
    ttft_cap: int | None  # Q3 of slo.ttft_max_s
    cycle_cap: np.ndarray | None  # Q3 of slo.qps_min per batch: the largest pre-decode cycle (ps)
    objective: str = "chips"
    totals: np.ndarray | None = None  # every total N in [N_min, N_max] some plan's options add up to, ascending
    need: np.ndarray | None = None
    step: dict[str, np.ndarray] | None = None
    columns: list | None = None  # MB: (stage batches, burst) per slice
    iterative: list | None = None  # IR: (B, b_it) per slice
    it: dict[str, np.ndarray] | None = None  # IR: L_s(b_it) of retrieval (per bucket) and prefill (per option)
    overlap: Pipelined | None = None  # AP1-AP3: retrieval pipelined with prefill

    def steps(self, s: str) -> np.ndarray:
        """L_s of one batch per option and slice (the TTFT's terms)."""
        return self.lat[s] if self.step is None else self.step[s]

    def needs(self) -> np.ndarray:
        return self.batches if self.need is None else self.need


@dataclass(frozen=True)
class SliceTables:
    batch: int  # requests per pre-decode cycle: B, or the burst R (MB4)
    groups: dict[tuple[str, ...], np.ndarray]  # int64 rows (n, t, o, w, x, L_s...) (``slice_tables``; none: 0 rows)
    retrieval: np.ndarray  # int64 rows (j, t_r, w_r, L_r) per bucket (0 rows without retrieval)
    buckets: tuple[Bucket, ...]
    totals: np.ndarray | None = None  # ``SpaceTables.totals``
    column: tuple | None = None  # MB: (stage batches, burst)
    iterative: tuple | None = None  # IR: (B, b_it, R', n); group rows end with L_pf(b_it), retrieval's with L_r(b_it)
    overlap: Pipelined | None = None  # AP: the prefill group's rows end with pen(L_pf)


def _buckets(space: Space, objective: str) -> tuple[Bucket, ...]:
    if not space.has_retrieval:
        return (Bucket(space.min_chips, space.max_chips, 0),)
    if space.decides_servers:
        return tuple(Bucket(space.min_chips, space.max_chips, o, space.weight(objective, o, server=True))
                     for o in space.retrieval_options)
    counts = np.array(space.cost("retrieval").server_counts())
    c = space.chips_per_server
    out: list[Bucket] = []
    # r = max(1, N // c) changes at multiples of c, so walk those boundaries, not every N
    n = space.min_chips
    while n <= space.max_chips:
        r = max(1, n // c)
        fit = counts[counts <= r]
        used = int(fit.max()) if fit.size else -1
        nxt = min(space.max_chips, (r + 1) * c - 1)  # the last N with the same r
        if out and out[-1].servers == used:
            out[-1] = Bucket(out[-1].n_lo, nxt, used)
        else:
            out.append(Bucket(n, nxt, used))
        n = nxt + 1
    return tuple(b for b in out if b.servers > 0)


def _suffix_best(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """For every k, the index >= k that is least by ``keys`` (lexicographic, first key primary)."""
    n = len(keys[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort(tuple(reversed(keys)) if len(keys) > 1 else keys)] = np.arange(n)
    best_rank = np.minimum.accumulate(rank[::-1])[::-1]
    return np.argsort(rank)[best_rank]


def _decode_book(space: Space, slo: Slo, objective: str, progress) -> DecodeBook:
    """The decode rows meeting the SLO's TPOT and QPS, per option; computed once per decode cost model and
    everything else the book depends on (a design's variants share it: ``Space.shared``)."""
    opts = tuple(int(o) for o in space.stage_chip_options["decode"])
    weights = tuple(space.weight(objective, o) for o in opts)
    key = ("book", opts, weights, space.decode_tokens(), slo.tpot_max_s, slo.qps_min,
           space.instance.search.max_decode_batch_size, space.instance.search.batches)
    return space.shared("decode", key, lambda: _make_book(space, slo, objective, progress))


def _make_book(space: Space, slo: Slo, objective: str, progress) -> DecodeBook:
    opts = np.asarray(space.stage_chip_options["decode"], dtype=np.int64)
    Ds, Ls, best, fast, ranks = [], [], [], [], []
    grids = {int(n): space.decode_batch_options(int(n)) for n in opts}
    for g in dict.fromkeys(grids.values()):  # the options sharing a batch grid: their rows in one pass
        space.latency_rows("decode", [n for n, x in grids.items() if x == g], g)
    for i, n in enumerate(opts):
        if progress:
            progress(f"decode costs: chip option {i + 1}/{len(opts)}")
        D = np.asarray(grids[int(n)], dtype=np.int64)
        L = space.latency_row("decode", int(n), tuple(int(d) for d in D))
        keep = decode_rows_meet(D, L, space.decode_tokens(), slo.tpot_max_s, slo.qps_min)
        D, L = D[keep], L[keep]
        Ds.append(D)
        Ls.append(L)
        rank = ratio_rank(D, L) if len(D) else np.zeros(0, dtype=np.int64)
        ranks.append(rank)
        best.append(_suffix_best((rank, L, D)))
        fast.append(_suffix_best((L, D)))
    weights = np.array([space.weight(objective, int(o)) for o in opts], dtype=np.int64)
    return DecodeBook(opts, units_of(opts), weights, Ds, Ls, best, fast, ranks)


def build_tables(space: Space, slo: Slo, progress=None, objective: str = "chips",
                 by_batch: bool = False) -> SpaceTables:
    """Every pre-decode stage's latencies over its options and the request batches, and the decode book; weights
    of every option under ``objective`` (O4). With iterative retrieval a column per (B, b_it) (IR2; refused above
    ``MAX_ITERATIVE_COLUMNS``), unless ``by_batch``: then a column per B and no iterative work in the tables (IR5,
    ``planner.cpsat.iterative``)."""
    columns = space.burst_columns() if space.micro else None
    iterative = space.iterative_columns() if space.iterations and not by_batch else None
    if iterative is not None and len(iterative) > MAX_ITERATIVE_COLUMNS:
        raise InstanceError(too_many_columns(space))
    if by_batch:
        B = need = np.asarray(space.batch_options, dtype=np.int64)
    else:
        B, need = space.column_batches()
    buckets = _buckets(space, objective)
    options, lat, step, it, ov = {}, {}, {}, {}, pipelined(space)
    for k, s in enumerate(space.pre_decode):
        options[s] = (np.array([b.servers for b in buckets], dtype=np.int64) if s == "retrieval"
                      else np.asarray(sorted(space.stage_options(s)), dtype=np.int64))
        mine = (np.array([v[k] for v, _ in columns], dtype=np.int64) if columns is not None
                else np.array([b for b, _ in iterative], dtype=np.int64) if iterative is not None else B)
        grid, at = np.unique(mine, return_inverse=True)
        step[s] = space.latency_rows(s, options[s], tuple(int(b) for b in grid), progress)[:, at]
        lat[s] = step[s] * (B // mine)[None, :]  # MB4: R / b_s batches per cycle (1 without micro-batching)
        if ov is not None and s == "prefill":  # AP3: the expected re-prefill is work of the prefill's group
            lat[s] = lat[s] + ov.penalty(step[s])
        if iterative is not None and s in ("retrieval", "prefill"):  # IR3: n R' / b_it iterative batches
            its = np.array([i for _, i in iterative], dtype=np.int64)
            g2, at2 = np.unique(its, return_inverse=True)
            it[s] = space.latency_rows(s, options[s], tuple(int(b) for b in g2))[:, at2]
            lat[s] = lat[s] + space.iterations * (B // its)[None, :] * it[s]
    ttft_cap = ttft_cap_ps(slo.ttft_max_s) if slo.ttft_max_s is not None else None
    cycle_cap = (np.array([qps_cycle_cap_ps(int(b), slo.qps_min) for b in B], dtype=np.int64)
                 if slo.qps_min is not None else None)
    split = columns is not None or iterative is not None or ov is not None  # time per cycle is not the TTFT term
    return SpaceTables(B, options, lat, buckets, _decode_book(space, slo, objective, progress), ttft_cap, cycle_cap,
                       objective, reachable_totals(space), need, step if split else None, columns, iterative,
                       it | {"n": space.iterations} if iterative is not None else None, ov)


def too_many_columns(space: Space) -> str:
    """IR2's refusal: the (B, b_it) columns, the limit and the fix."""
    n_b, n_it = len(space.batch_options), len(space.iterative_batch_options())
    return (f"iterative retrieval makes every (request batch, iterative batch) pair a column of this solver's tables "
            f"(IR2; a space whose pre-decode accelerator stages form one group needs none, IR5): {n_b:,} x {n_it:,} = "
            f"{n_b * n_it:,} columns, above the {MAX_ITERATIVE_COLUMNS:,} the solvers handle (about 7 GiB of tables at "
            f"1,048,576). To fix: use search.batches: pow2, or lower search.max_batch_size to <= "
            f"{math.isqrt(MAX_ITERATIVE_COLUMNS):,}")


def reachable_totals(space: Space) -> np.ndarray:
    """Every total N in [N_min, N_max] that some placement's options add up to (its accelerator groups' chip
    counts and decode's), ascending: a subset-sum over chip counts, as a bitset over N. With power-of-two counts a
    large budget reaches few totals (the per-server-count retrieval rows, C2, need only theirs)."""
    size = space.max_chips + 1
    hit = np.zeros(size, dtype=bool)
    dec = np.unique(units_of(np.asarray(space.stage_chip_options["decode"], dtype=np.int64)))
    for p in space.placements:
        reach = np.zeros(size, dtype=bool)
        reach[0] = True
        parts = [np.unique(units_of(np.asarray(space.group_chip_options(g), dtype=np.int64))) for g in p
                 if "decode" not in g and any(s in ACCELERATOR_STAGES for s in g)] + [dec]
        for units in parts:
            nxt = np.zeros(size, dtype=bool)
            for u in units[units < size]:
                nxt[u:] |= reach[: size - u]
            reach = nxt
        hit |= reach
    hit[: space.min_chips] = False
    return np.flatnonzero(hit)


def group_latency(space: Space, st: SpaceTables, group: tuple[str, ...], batches: np.ndarray | slice = slice(None),
                  retrieval: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A group's options (codes; 0 for a retrieval-only group) and its time per cycle, sum_{s in g} ``lat[s]``
    (ps), of shape (n, j, b): j over the retrieval buckets (a single column if the group holds no retrieval, or if
    ``retrieval`` is false: then the sum leaves retrieval out), b over ``batches`` (indices)."""
    opts = space.group_chip_options(group)
    acc = any(s in ACCELERATOR_STAGES for s in group)
    n_vals = np.asarray(opts if acc else (0,), dtype=np.int64)
    nb = len(st.batches[batches])
    with_ret = retrieval and "retrieval" in group
    lat = np.zeros((len(n_vals), len(st.buckets) if with_ret else 1, nb), dtype=np.int64)
    for s in group:
        if s == "retrieval":
            if with_ret:
                lat += st.lat[s][:, batches][None, :, :]
        else:
            lat += st.lat[s][np.searchsorted(st.options[s], n_vals)][:, None, batches]
    return n_vals, lat


def slice_tables(space: Space, st: SpaceTables, groups: list[tuple[str, ...]], bi: int) -> SliceTables:
    """The integer rows of slice bi: per group (n, t, o, w, x, L_s...) with t its accelerator stages' time per
    cycle, x = 1 for an option only collocated placements offer (S1), then each accelerator member's L_s(b_s);
    retrieval (j, t_r, w_r, L_r) per bucket (t_r its time per cycle, L_r one batch's latency)."""
    gt = {}
    for g in groups:
        acc = [s for s in g if s in ACCELERATOR_STAGES]
        if acc:
            codes, lat = group_latency(space, st, g, np.array([bi]), retrieval=False)
            w = [space.weight(st.objective, int(o)) for o in codes]
            base = set(space.group_chip_options(g, (g,))) if len(g) == 1 else set(codes.tolist())
            x = [int(int(o) not in base) for o in codes]
            steps = [st.steps(s)[np.searchsorted(st.options[s], codes), bi] for s in acc]
            if st.iterative is not None:  # IR: the prefix of the new passages on this group's chips (0: no prefill)
                steps.append(st.it["prefill"][np.searchsorted(st.options["prefill"], codes), bi] if "prefill" in g
                             else np.zeros(len(codes), dtype=np.int64))
            if st.overlap is not None and "prefill" in g:  # AP3: pen(L_pf) on this group's chips
                steps.append(st.overlap.penalty(st.steps("prefill")[np.searchsorted(st.options["prefill"], codes),
                                                                    bi]))
            gt[g] = np.column_stack([units_of(codes), lat[:, 0, 0], codes, w, x, *steps]).astype(np.int64)
        else:
            gt[g] = np.zeros((0, 5), dtype=np.int64)
    extra = [st.it["retrieval"][:, bi]] if st.iterative is not None else []
    ret = (np.column_stack([np.arange(len(st.buckets)), st.lat["retrieval"][:, bi], [b.weight for b in st.buckets],
                            st.steps("retrieval")[:, bi], *extra]).astype(np.int64)
           if space.has_retrieval else np.zeros((0, 4), dtype=np.int64))
    column = st.columns[bi] if st.columns is not None else None
    it = (*st.iterative[bi], int(st.batches[bi]), space.iterations) if st.iterative is not None else None
    return SliceTables(int(st.batches[bi]), gt, ret, st.buckets, st.totals, column, it, st.overlap)


def _segment_min(v: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The running minimum of v (int64 >= 0), restarted where ``first``: one accumulate with each segment lifted
    above the next (exact integers), or per segment where the lift would pass int64."""
    if not len(v):
        return v.copy()
    seg = np.cumsum(first) - 1
    span = int(v.max()) + 1
    if span * (int(seg[-1]) + 2) < 2**62:
        off = (int(seg[-1]) + 1 - seg) * span
        return np.minimum.accumulate(v + off) - off
    start = np.flatnonzero(first)
    return np.concatenate([np.minimum.accumulate(v[x:y]) for x, y in zip(start, [*start[1:], len(v)])])
