"""The CP-SAT model of one batch slice (``docs/model.md``, section "CP-SAT model", C1-C8).

A slice fixes the request batch B, the only decision every pre-decode group shares; the sweep in
``planner.pareto`` searches over slices. Notation (integer units of ``planner.cpsat.tables``): groups g in G
(allowed pre-decode groups), y_g placement literals, n_g chips, w_j retrieval-bucket literals, l_g TTFT share,
q_g group throughput, (n_d, D) decode chips and batch with throughput q_d and TPOT t_d, N total chips, Q system
throughput, TTFT = sum_g l_g. Each ``add_<family>`` adds one family; none prints or mutates its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from planner.cpsat.tables import SliceTables
from planner.space import Space

__all__ = ["RagModel", "build_model", "slice_groups"]


@dataclass
class RagModel:
    model: cp_model.CpModel
    tables: SliceTables
    groups: list[tuple[str, ...]]
    y: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    n: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    lat: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    q: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    w: list[cp_model.IntVar] = field(default_factory=list)
    bucket: cp_model.IntVar | None = None
    n_dec: cp_model.IntVar | None = None
    d_batch: cp_model.IntVar | None = None
    q_dec: cp_model.IntVar | None = None
    tpot: cp_model.IntVar | None = None
    total: cp_model.IntVar | None = None
    qps: cp_model.IntVar | None = None
    ttft: cp_model.IntVar | None = None


def slice_groups(space: Space) -> list[tuple[str, ...]]:
    """G: the pre-decode groups of the space's placements, shortest first."""
    return sorted({g for p in space.placements for g in p if "decode" not in g}, key=lambda g: (len(g), g))


def _dom(values) -> cp_model.Domain:
    return cp_model.Domain.from_values(sorted({int(v) for v in values}))


def add_placement(m: RagModel, space: Space) -> None:
    """C1 placement: every pre-decode stage lies in exactly one chosen group.

    sum_{g in G : s in g} y_g = 1 for all s in S_pre;  policy 'disaggregated': y_g = 0 for |g| > 1;
    'collocated': sum_{|g| > 1} y_g >= 1."""
    for g in m.groups:
        # y[g] = 1 if the stages of g share one group of accelerators
        m.y[g] = m.model.new_bool_var(f"y[{'+'.join(g)}]")
    for s in space.pre_decode:
        m.model.add_exactly_one(m.y[g] for g in m.groups if s in g)
    policy = space.instance.search.placement
    multi = [m.y[g] for g in m.groups if len(g) > 1]
    if policy == "disaggregated":
        for v in multi:
            m.model.add(v == 0)
    elif policy == "collocated":
        m.model.add_bool_or(multi)  # an empty clause (no multi-stage group) is infeasible, as it should be


def add_buckets(m: RagModel, space: Space) -> None:
    """C2 retrieval servers: exactly one bucket j is used and N lies in its interval.

    sum_j w_j = 1;  w_j => N_lo_j <= N <= N_hi_j;  bucket = sum_j j w_j."""
    bk = m.tables.buckets
    # w[j] = 1 if the total chips fall in retrieval bucket j
    m.w = [m.model.new_bool_var(f"w[{j}]") for j in range(len(bk))]
    m.model.add_exactly_one(m.w)
    m.bucket = m.model.new_int_var(0, len(bk) - 1, "bucket")
    m.model.add(m.bucket == sum(j * w for j, w in enumerate(m.w)))
    for j, b in enumerate(bk):
        m.model.add(m.total >= b.n_lo).only_enforce_if(m.w[j])
        m.model.add(m.total <= b.n_hi).only_enforce_if(m.w[j])


def add_group_tables(m: RagModel, space: Space) -> None:
    """C3 group costs: a chosen group takes one row of its table; an unchosen group costs nothing.

    (y_g, n_g, [j,] l_g, q_g) in {1} x Rows_g  U  {(0, 0, [j,] 0, 0)}. y_g is a column of the table rather than
    an enforcement literal: OR-Tools 9.15 wrongly proved an enforced table infeasible (see docs/model.md)."""
    n_buckets = len(m.tables.buckets)
    for g in m.groups:
        rows = m.tables.groups[g]
        name = "+".join(g)
        # n[g] chips of group g (0 if unchosen or retrieval-only); lat[g] its TTFT share; q[g] its throughput
        m.n[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 0]]), f"n[{name}]")
        m.lat[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 2]]), f"lat[{name}]")
        m.q[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 3]]), f"q[{name}]")
        if "retrieval" in g:
            table = [[1, *r] for r in rows.tolist()] + [[0, 0, j, 0, 0] for j in range(n_buckets)]
            m.model.add_allowed_assignments([m.y[g], m.n[g], m.bucket, m.lat[g], m.q[g]], table)
        else:
            table = [[1, r[0], r[2], r[3]] for r in rows.tolist()] + [[0, 0, 0, 0]]
            m.model.add_allowed_assignments([m.y[g], m.n[g], m.lat[g], m.q[g]], table)


def add_decode(m: RagModel, space: Space) -> None:
    """C4 decode: (n_d, D, q_d, t_d) in Rows_d (rows already satisfy D >= B and the TPOT bound)."""
    rows = m.tables.decode
    m.n_dec = m.model.new_int_var_from_domain(_dom(rows[:, 0]), "n[decode]")
    m.d_batch = m.model.new_int_var_from_domain(_dom(rows[:, 1]), "D")
    m.q_dec = m.model.new_int_var_from_domain(_dom(rows[:, 2]), "q[decode]")
    m.tpot = m.model.new_int_var_from_domain(_dom(rows[:, 3]), "tpot")
    m.model.add_allowed_assignments([m.n_dec, m.d_batch, m.q_dec, m.tpot], rows.tolist())


def add_chip_total(m: RagModel, space: Space) -> None:
    """C5 chips: N = sum_g n_g + n_d with N_min <= N <= N_max (per-stage maxima are in the options)."""
    m.model.add(m.total == sum(m.n.values()) + m.n_dec)


def add_throughput(m: RagModel, space: Space) -> None:
    """C6 throughput: y_g => Q <= q_g for every group, and Q <= q_d (E4: the slowest group sets QPS)."""
    for g in m.groups:
        m.model.add(m.qps <= m.q[g]).only_enforce_if(m.y[g])
    m.model.add(m.qps <= m.q_dec)


def add_ttft(m: RagModel, space: Space) -> None:
    """C7 TTFT: TTFT = sum_g l_g (every pre-decode stage runs the batch B in turn, E6)."""
    m.model.add(m.ttft == sum(m.lat.values()))


def add_slo(m: RagModel, space: Space, qps_min: int | None) -> None:
    """C8 bounds: Q >= qps_min (rate units). TTFT <= e is the domain of TTFT, set per solve by the sweep;
    the TPOT bound is applied to the decode rows when they are built."""
    if qps_min is not None:
        m.model.add(m.qps >= qps_min)


def build_model(space: Space, tables: SliceTables, qps_min: int | None = None) -> RagModel | None:
    """All families C1-C8 of one slice; None if the slice has no decode row (no D >= B)."""
    if len(tables.decode) == 0:
        return None
    groups = slice_groups(space)
    m = RagModel(cp_model.CpModel(), tables, groups)
    m.total = m.model.new_int_var(space.min_chips, space.max_chips, "N")
    # Q = min of the chosen groups' q at an O1 optimum, so a table value: that domain is exact and far smaller.
    q_values = np.concatenate([r[:, 3] for r in tables.groups.values()] + [tables.decode[:, 2], [0]])
    m.qps = m.model.new_int_var_from_domain(_dom(np.unique(q_values)), "Q")
    m.ttft = m.model.new_int_var(0, sum(int(r[:, 2].max()) for r in tables.groups.values() if len(r)), "TTFT")
    add_placement(m, space)
    add_buckets(m, space)
    add_group_tables(m, space)
    add_decode(m, space)
    add_chip_total(m, space)
    add_throughput(m, space)
    add_ttft(m, space)
    add_slo(m, space, qps_min)
    return m
