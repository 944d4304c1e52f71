"""The CP-SAT model of one planning problem (``docs/model.md``, section "CP-SAT model", C1-C8).

Notation (integer units of ``planner.cpsat.tables``): groups g in G (allowed pre-decode groups), y_g
placement literals, n_g chips, w_j retrieval-bucket literals, B request batch, l_g TTFT share, q_g group
throughput, (n_d, D) decode chips and batch, q_d and t_d decode throughput and TPOT, N total chips, Q system
throughput, TTFT = sum_g l_g. Each ``add_<family>`` adds one family and documents its math; none prints or
mutates its inputs. ``RagModel`` holds the variables; objectives are set by ``planner.cpsat.solve``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from planner.cpsat.tables import Tables
from planner.schema import ACCELERATOR_STAGES
from planner.space import Space

__all__ = ["RagModel", "build_model"]


@dataclass
class RagModel:
    model: cp_model.CpModel
    tables: Tables
    groups: list[tuple[str, ...]]
    y: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    n: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    lat: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    q: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    w: list[cp_model.IntVar] = field(default_factory=list)
    bucket: cp_model.IntVar | None = None
    batch: cp_model.IntVar | None = None
    n_dec: cp_model.IntVar | None = None
    d_batch: cp_model.IntVar | None = None
    q_dec: cp_model.IntVar | None = None
    tpot: cp_model.IntVar | None = None
    total: cp_model.IntVar | None = None
    qps: cp_model.IntVar | None = None
    ttft: cp_model.IntVar | None = None


def _dom(values) -> cp_model.Domain:
    return cp_model.Domain.from_values(sorted({int(v) for v in values}))


def add_placement(m: RagModel, space: Space) -> None:
    """C1 placement: every pre-decode stage lies in exactly one chosen group.

    sum_{g in G : s in g} y_g = 1 for all s in S_pre;  policy 'disaggregated': y_g = 0 for |g| > 1;
    'collocated': sum_{|g| > 1} y_g >= 1. A group with no common chip option (S2) has y_g = 0."""
    for g in m.groups:
        # y[g] = 1 if the pre-decode stages of g share one group of accelerators
        m.y[g] = m.model.new_bool_var(f"y[{'+'.join(g)}]")
        acc = any(s in ACCELERATOR_STAGES for s in g)
        if acc and not m.tables.groups[g].options:
            m.model.add(m.y[g] == 0)
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
    """C2 retrieval servers: exactly one bucket j is used, and N lies in its interval.

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

    (y_g, n_g, j, B, l_g, q_g) in {1} x Rows_g  U  {(0, 0, j, B, 0, 0)}: y_g is a column of the table rather
    than an enforcement literal (OR-Tools 9.15 can wrongly prove an enforced table infeasible)."""
    n_buckets = len(m.tables.buckets)
    for g in m.groups:
        rows = m.tables.groups[g].rows
        name = "+".join(g)
        # n[g] chips of group g (0 when not chosen or retrieval-only); lat[g] its TTFT share; q[g] its throughput
        m.n[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 0]]), f"n[{name}]")
        m.lat[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 3]]), f"lat[{name}]")
        m.q[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 4]]), f"q[{name}]")
        if len(rows) == 0:
            m.model.add(m.y[g] == 0)
            m.model.add(m.n[g] == 0)
            m.model.add(m.lat[g] == 0)
            m.model.add(m.q[g] == 0)
            continue
        chosen = [[1, *r] for r in rows.tolist()]
        if "retrieval" in g:
            idle = [[0, 0, j, b, 0, 0] for j in range(n_buckets) for b in m.tables.batch_options]
            m.model.add_allowed_assignments([m.y[g], m.n[g], m.bucket, m.batch, m.lat[g], m.q[g]], chosen + idle)
        else:
            idle = [[0, 0, b, 0, 0] for b in m.tables.batch_options]
            chosen = [[1, r[0], r[2], r[3], r[4]] for r in rows.tolist()]
            m.model.add_allowed_assignments([m.y[g], m.n[g], m.batch, m.lat[g], m.q[g]], chosen + idle)


def add_decode(m: RagModel, space: Space) -> None:
    """C4 decode: (n_d, D, q_d, t_d) in Rows_d and D >= B (continuous batching admits a whole request batch)."""
    rows = m.tables.decode.rows
    m.n_dec = m.model.new_int_var_from_domain(_dom(rows[:, 0]), "n[decode]")
    m.d_batch = m.model.new_int_var_from_domain(_dom(rows[:, 1]), "D")
    m.q_dec = m.model.new_int_var_from_domain(_dom(rows[:, 2]), "q[decode]")
    m.tpot = m.model.new_int_var_from_domain(_dom(rows[:, 3]), "tpot")
    m.model.add_allowed_assignments([m.n_dec, m.d_batch, m.q_dec, m.tpot], rows.tolist())
    m.model.add(m.d_batch >= m.batch)


def add_chip_total(m: RagModel, space: Space) -> None:
    """C5 chips: N = sum_g n_g + n_d, N_min <= N <= N_max (per-stage maxima are in the options)."""
    m.model.add(m.total == sum(m.n.values()) + m.n_dec)


def add_throughput(m: RagModel, space: Space) -> None:
    """C6 throughput: y_g => Q <= q_g for every group; Q <= q_d (the system runs at its slowest group, E4)."""
    for g in m.groups:
        m.model.add(m.qps <= m.q[g]).only_enforce_if(m.y[g])
    m.model.add(m.qps <= m.q_dec)


def add_ttft(m: RagModel, space: Space) -> None:
    """C7 TTFT: TTFT = sum_g l_g (no micro-batching: every pre-decode stage runs batch B in turn)."""
    m.model.add(m.ttft == sum(m.lat.values()))


def add_slo(m: RagModel, space: Space, ttft_max: int | None, qps_min: int | None) -> None:
    """C8 bounds: TTFT <= ttft_max (the sweep's epsilon, in time units), Q >= qps_min (rate units).

    The TPOT bound is applied to the decode rows (C4) when the tables are built."""
    if ttft_max is not None:
        m.model.add(m.ttft <= ttft_max)
    if qps_min is not None:
        m.model.add(m.qps >= qps_min)


def build_model(space: Space, tables: Tables, ttft_max: int | None = None, qps_min: int | None = None) -> RagModel:
    """All families C1-C8 over the allowed groups of the space's placements."""
    groups = sorted({g for p in space.placements for g in p if "decode" not in g}, key=lambda g: (len(g), g))
    m = RagModel(cp_model.CpModel(), tables, groups)
    B = tables.batch_options
    # batch = B, the request batch of every pre-decode stage
    m.batch = m.model.new_int_var_from_domain(_dom(B), "B")
    m.total = m.model.new_int_var(space.min_chips, space.max_chips, "N")
    q_hi = max([int(t.rows[:, 4].max()) for t in tables.groups.values() if len(t.rows)] +
               [int(tables.decode.rows[:, 2].max()) if len(tables.decode.rows) else 0])
    m.qps = m.model.new_int_var(0, q_hi, "Q")
    t_hi = sum(int(t.rows[:, 3].max()) for t in tables.groups.values() if len(t.rows))
    m.ttft = m.model.new_int_var(0, t_hi, "TTFT")
    add_placement(m, space)
    add_buckets(m, space)
    add_group_tables(m, space)
    add_decode(m, space)
    add_chip_total(m, space)
    add_throughput(m, space)
    add_ttft(m, space)
    add_slo(m, space, ttft_max, qps_min)
    return m
