"""The CP-SAT model of one batch slice (``docs/model.md``, section "CP-SAT model", C1-C9).

A slice fixes the request batch B, the only decision every pre-decode group shares; the sweep in
``planner.pareto`` searches over slices. Notation (integer units of ``planner.cpsat.tables``): groups g in G
(allowed pre-decode groups), y_g placement literals, n_g chips, a_g and c_g the TTFT and cycle shares of g's
accelerator stages, w_j retrieval-bucket literals, a_r and c_r retrieval's shares, (n_d, D) decode chips and
batch with cycle c_d and TPOT t_d, N total chips, C the cycle (time per B requests of the slowest group; QPS =
B / C), P = N C, TTFT = sum_g a_g + a_r. Each ``add_<family>`` adds one family; none prints or mutates its
inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    cyc: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    w: list[cp_model.IntVar] = field(default_factory=list)
    bucket: cp_model.IntVar | None = None
    lat_r: cp_model.IntVar | int = 0
    cyc_r: cp_model.IntVar | int = 0
    n_dec: cp_model.IntVar | None = None
    d_batch: cp_model.IntVar | None = None
    cyc_dec: cp_model.IntVar | None = None
    tpot: cp_model.IntVar | None = None
    total: cp_model.IntVar | None = None
    cycle: cp_model.IntVar | None = None
    product: cp_model.IntVar | None = None
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
    """C2 retrieval servers: exactly one bucket j is used, N lies in its interval, and retrieval costs its row.

    sum_j w_j = 1;  w_j => N_lo_j <= N <= N_hi_j;  bucket = sum_j j w_j;  (bucket, a_r, c_r) in Rows_r."""
    bk = m.tables.buckets
    # w[j] = 1 if the total chips fall in retrieval bucket j
    m.w = [m.model.new_bool_var(f"w[{j}]") for j in range(len(bk))]
    m.model.add_exactly_one(m.w)
    m.bucket = m.model.new_int_var(0, len(bk) - 1, "bucket")
    m.model.add(m.bucket == sum(j * w for j, w in enumerate(m.w)))
    for j, b in enumerate(bk):
        m.model.add(m.total >= b.n_lo).only_enforce_if(m.w[j])
        m.model.add(m.total <= b.n_hi).only_enforce_if(m.w[j])
    rows = m.tables.retrieval
    if len(rows):
        # lat_r, cyc_r: retrieval's TTFT share and cycle at the chosen bucket's server count
        m.lat_r = m.model.new_int_var_from_domain(_dom(rows[:, 1]), "lat[retrieval]")
        m.cyc_r = m.model.new_int_var_from_domain(_dom(rows[:, 2]), "cyc[retrieval]")
        m.model.add_allowed_assignments([m.bucket, m.lat_r, m.cyc_r], rows.tolist())


def add_group_tables(m: RagModel, space: Space) -> None:
    """C3 group costs: a chosen group takes one row of its table; an unchosen group costs nothing.

    (y_g, n_g, a_g, c_g) in {1} x Rows_g  U  {(0, 0, 0, 0)} for groups with an accelerator stage (a retrieval-only
    group has n_g = a_g = c_g = 0). y_g is a column of the table rather than an enforcement literal: OR-Tools 9.15
    wrongly proved an enforced table infeasible (see docs/model.md)."""
    for g in m.groups:
        rows = m.tables.groups[g]
        if len(rows) == 0:
            continue
        name = "+".join(g)
        # n[g] chips of group g (0 if unchosen); lat[g], cyc[g] its accelerator stages' TTFT share and cycle
        m.n[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 0]]), f"n[{name}]")
        m.lat[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 1]]), f"lat[{name}]")
        m.cyc[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 2]]), f"cyc[{name}]")
        table = [[1, *r] for r in rows.tolist()] + [[0, 0, 0, 0]]
        m.model.add_allowed_assignments([m.y[g], m.n[g], m.lat[g], m.cyc[g]], table)


def add_decode(m: RagModel, space: Space) -> None:
    """C4 decode: (n_d, D, c_d, t_d) in Rows_d (rows already satisfy D >= B and the TPOT bound)."""
    rows = m.tables.decode
    m.n_dec = m.model.new_int_var_from_domain(_dom(rows[:, 0]), "n[decode]")
    m.d_batch = m.model.new_int_var_from_domain(_dom(rows[:, 1]), "D")
    m.cyc_dec = m.model.new_int_var_from_domain(_dom(rows[:, 2]), "cyc[decode]")
    m.tpot = m.model.new_int_var_from_domain(_dom(rows[:, 3]), "tpot")
    m.model.add_allowed_assignments([m.n_dec, m.d_batch, m.cyc_dec, m.tpot], rows.tolist())


def add_chip_total(m: RagModel, space: Space) -> None:
    """C5 chips: N = sum_g n_g + n_d with N_min <= N <= N_max (per-stage maxima are in the options)."""
    m.model.add(m.total == sum(m.n.values()) + m.n_dec)


def add_cycle(m: RagModel, space: Space) -> None:
    """C6 cycle: y_g => C >= c_g + [retrieval in g] c_r for every group, and C >= c_d (E3/E4: the slowest
    group, time-multiplexing its stages, sets QPS = B / C)."""
    for g in m.groups:
        own = m.cyc.get(g, 0) + (m.cyc_r if "retrieval" in g else 0)
        m.model.add(m.cycle >= own).only_enforce_if(m.y[g])
    m.model.add(m.cycle >= m.cyc_dec)


def add_ttft(m: RagModel, space: Space) -> None:
    """C7 TTFT: TTFT = sum_g a_g + a_r (every pre-decode stage runs the batch B in turn, E6)."""
    m.model.add(m.ttft == sum(m.lat.values()) + m.lat_r)


def add_slo(m: RagModel, space: Space, cycle_max: int | None) -> None:
    """C8 bounds: C <= floor(B / (qps_min x cycle unit)). TTFT <= e is the domain of TTFT, set per solve by the
    sweep; the TPOT bound is applied to the decode rows when they are built."""
    if cycle_max is not None:
        m.model.add(m.cycle <= cycle_max)


def add_product(m: RagModel, space: Space) -> None:
    """C9 product: P = N x C, so QPS/chip = B / (P x cycle unit) and max QPS/chip is min P (O1)."""
    m.model.add_multiplication_equality(m.product, [m.total, m.cycle])


def build_model(space: Space, tables: SliceTables, cycle_max: int | None = None) -> RagModel | None:
    """All families C1-C9 of one slice; None if the slice has no decode row (no D >= B)."""
    if len(tables.decode) == 0:
        return None
    groups = slice_groups(space)
    m = RagModel(cp_model.CpModel(), tables, groups)
    m.total = m.model.new_int_var(space.min_chips, space.max_chips, "N")
    c_hi = max([int(r[:, 2].max()) for r in tables.groups.values() if len(r)] + [0])
    c_hi += int(tables.retrieval[:, 2].max()) if len(tables.retrieval) else 0
    c_hi = max(c_hi, int(tables.decode[:, 2].max()))
    m.cycle = m.model.new_int_var(1, c_hi, "C")
    m.product = m.model.new_int_var(space.min_chips, space.max_chips * c_hi, "P")
    t_hi = sum(int(r[:, 1].max()) for r in tables.groups.values() if len(r))
    t_hi += int(tables.retrieval[:, 1].max()) if len(tables.retrieval) else 0
    m.ttft = m.model.new_int_var(0, t_hi, "TTFT")
    add_placement(m, space)
    add_buckets(m, space)
    add_group_tables(m, space)
    add_decode(m, space)
    add_chip_total(m, space)
    add_cycle(m, space)
    add_ttft(m, space)
    add_slo(m, space, cycle_max)
    add_product(m, space)
    return m
