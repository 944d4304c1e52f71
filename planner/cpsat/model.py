"""The CP-SAT model of one slice (``docs/model.md``, section "CP-SAT model", C1-C15).

A slice fixes the request batch B (micro-batching: every pre-decode stage's batch b_s and the burst R, MB1), what
every pre-decode group shares (``planner.cpsat.sweep`` searches over slices). In whole picoseconds (Q1): groups g
in G, y_g placement literals, o_g a group's option (type and count, S1) with n_g chips and weight w_g, t_g its
accelerator stages' time per cycle (sum of L_s; MB: of (R / b_s) L_s), j retrieval's bucket (S4; S9: option), t_r
its time per cycle and w_r its weight, C_pre >= every chosen group's cycle, TTFT = sum_g t_g + t_r (MB: C15);
decode row (n_d, D, L, o_d, w_d); N chips, W weight (O4). A slice plan's exact cost is K = N max(C_pre, B L / D)
(ps x chips per B requests; MB: per R): QPS/chip = B / K.

``build_base`` adds what every solve shares (C1-C3, C6, C7, C8's QPS floor, C14, C15) once; ``build_ask`` clones
it (never editing it) and adds one solve's families: decode rows (C4), chips (C5), TTFT <= e (C8), the O1 product
(C9) or a threshold on K (C10), and an objective. Each ``add_<family>`` adds one family; none prints or mutates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from ortools.sat.python import cp_model

from planner.cpsat.micro import (add_burst, add_collocated_only, add_iterative, add_iterative_decode, add_left_out,
                                 add_overlap, add_ttft, iterative_rows)
from planner.cpsat.rows import chip_caps
from planner.cpsat.tables import SliceTables
from planner.schema import ACCELERATOR_STAGES
from planner.space import STRIDE, Space

__all__ = ["INT_LIMIT", "Ask", "AskModel", "SliceModel", "build_ask", "build_base", "cycle_unit", "slice_groups"]

#: Bound on every integer the solver multiplies or adds up (int64 headroom).
INT_LIMIT = 2**62


class _Model(cp_model.CpModel):
    """A CpModel without the deprecated camelCase aliases OR-Tools adds to every instance (0.7 ms a model, one model
    per solve; this package uses the snake_case API only)."""

    def _add_pre_pep8_methods(self) -> None:
        pass


def _clone(model: cp_model.CpModel) -> cp_model.CpModel:
    """A copy of ``model`` (``CpModel.clone`` without the aliases)."""
    out = _Model()
    out.proto.copy_from(model.proto)
    out.rebuild_constant_map()
    return out


def slice_groups(space: Space) -> list[tuple[str, ...]]:
    """G: the pre-decode groups of the space's placements, shortest first."""
    return sorted({g for p in space.placements for g in p if "decode" not in g}, key=lambda g: (len(g), g))


def _dom(values) -> cp_model.Domain:
    return cp_model.Domain.from_values(sorted({int(v) for v in values}))


@dataclass
class SliceModel:
    """The base model of one slice and its variables (indices into every clone's proto)."""

    model: cp_model.CpModel
    tables: SliceTables
    groups: list[tuple[str, ...]]
    n_min: int
    n_max: int
    y: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    n: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    t: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    o: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    w: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)
    bucket: cp_model.IntVar | None = None
    t_r: cp_model.IntVar | int = 0
    w_r: cp_model.IntVar | int = 0
    N: cp_model.IntVar | None = None
    c_pre: cp_model.IntVar | None = None
    ttft: cp_model.IntVar | None = None
    c_pre_hi: int = 0
    ttft_hi: int = 0
    budget: tuple[tuple[int, ...], int] | None = None  # S8 (caps per type, code stride) when one binds
    per_server: np.ndarray | None = None  # C2 per server count: rows (r, j, t_r), added per ask (its N range)
    r: cp_model.IntVar | None = None
    server_chips: int = 1
    l_r: cp_model.IntVar | int = 0  # C15: one retrieval batch's latency
    x: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)  # C14: a collocated-only option
    step: dict[tuple[tuple[str, ...], str], cp_model.IntVar] = field(default_factory=dict)  # C15: L_s in group g
    pf_it: dict[tuple[str, ...], cp_model.IntVar] = field(default_factory=dict)  # C16: L_pf(b_it) in group g
    l_it: cp_model.IntVar | int = 0  # C16: n (L_r(b_it) + L_pf(b_it))
    tpot_cap: int | None = None  # C17: the TPOT bound on the whole decode (ps), and the QPS floor (IR only)
    qps_min: float | None = None


def add_placement(m: SliceModel, space: Space) -> None:
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


def add_buckets(m: SliceModel, space: Space) -> None:
    """C2 retrieval. Decision policy (S9): the option j is free, (j, t_r, w_r) in Rows_r. Hosts policy (S4):
    servers r = max(1, floor(N / c)) pick bucket j, whose row gives retrieval's latency t_r (w_r = 0: hosts are
    priced with the chips). Two exact encodings of S4; the one with fewer rows is used:

    - per bucket (few buckets, e.g. profiled server tables): literals w_j, sum_j w_j = 1, w_j => N_lo_j <= N <= N_hi_j,
      bucket = sum_j j w_j, (bucket, t_r) in Rows_r;
    - per server count (a bucket per r, e.g. the analytical scan): q = floor(N / c), r = max(1, q),
      (r, bucket, t_r) in one row per r that a reachable total (a sum of the options' chip counts) in [N_min, N_max]
      gives; the rows are added per ask, only those of the ask's N range (C13), so a large budget does not make
      every model large."""
    bk, rows = m.tables.buckets, m.tables.retrieval
    c = space.chips_per_server
    m.bucket = m.model.new_int_var(0, max(len(bk) - 1, 0), "bucket")
    if len(rows) == 0:
        m.model.add(m.bucket == 0)
        return
    # t_r: retrieval's latency at the chosen bucket's server count
    m.t_r = m.model.new_int_var_from_domain(_dom(rows[:, 1]), "t[retrieval]")
    if space.decides_servers:
        m.w_r = m.model.new_int_var_from_domain(_dom(rows[:, 2]), "w[retrieval]")
        m.model.add_allowed_assignments([m.bucket, m.t_r, m.w_r], rows[:, :3].tolist())
        return
    r_lo, r_hi = max(1, space.min_chips // c), max(1, space.max_chips // c)
    if 4 * len(bk) <= r_hi - r_lo + 1:
        # w[j] = 1 if the total chips fall in retrieval bucket j
        w = [m.model.new_bool_var(f"w[{j}]") for j in range(len(bk))]
        m.model.add_exactly_one(w)
        m.model.add(m.bucket == sum(j * v for j, v in enumerate(w)))
        for j, b in enumerate(bk):
            m.model.add(m.N >= b.n_lo).only_enforce_if(w[j])
            m.model.add(m.N <= b.n_hi).only_enforce_if(w[j])
        m.model.add_allowed_assignments([m.bucket, m.t_r], rows[:, :2].tolist())
        return
    q = m.model.new_int_var(space.min_chips // c, space.max_chips // c, "N_over_c")
    m.model.add_division_equality(q, m.N, c)
    r = m.model.new_int_var(r_lo, r_hi, "r")  # retrieval servers for the total N (S4)
    m.model.add_max_equality(r, [q, 1])
    totals = m.tables.totals
    v = np.arange(r_lo, r_hi + 1) if totals is None else np.unique(np.maximum(1, totals // c))  # reachable r only
    j = np.searchsorted(np.array([b.n_hi for b in bk]), np.maximum(v * c, space.min_chips))  # each r's bucket
    m.r, m.per_server, m.server_chips = r, np.column_stack([v, j, rows[j, 1]]), c


def _add_per_server(a: "AskModel", m: SliceModel, ask: "Ask") -> None:
    """C2's per-server-count rows of the totals the ask allows (all of them without an N range)."""
    if m.per_server is None:
        return
    rows = m.per_server
    lo = max(1, (ask.n_min or m.n_min) // m.server_chips)
    hi = max(1, (ask.n_max or m.n_max) // m.server_chips)
    rows = rows[(rows[:, 0] >= lo) & (rows[:, 0] <= hi)]
    get = a.model.get_int_var_from_proto_index
    a.model.add_allowed_assignments([get(m.r.index), a.vars["bucket"], get(m.t_r.index)], rows.tolist())


def add_group_tables(m: SliceModel, space: Space) -> None:
    """C3 group costs: a chosen group takes one row of its table; an unchosen group costs nothing.

    (y_g, n_g, t_g, o_g, w_g[, x_g][, L_s for s in g]) in {1} x Rows_g  U  {(0, ..., 0)} for groups with an
    accelerator stage (a retrieval-only group has n_g = t_g = w_g = 0); t_g its time per cycle, x_g (C14), L_s
    (C15). y_g is a table column, not an enforcement literal: OR-Tools 9.15 wrongly proved an enforced table
    infeasible (see docs/model.md)."""
    micro = m.tables.column is not None or m.tables.iterative is not None or m.tables.overlap is not None  # L_s apart
    for g in m.groups:
        rows = m.tables.groups[g]
        if len(rows) == 0:
            continue
        name = "+".join(g)
        # n[g] chips of group g (0 if unchosen); t[g] its accelerator stages' time per cycle; o[g] its option
        # (type and count); w[g] its weight
        m.n[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 0]]), f"n[{name}]")
        m.t[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 1]]), f"t[{name}]")
        cols, keep = [m.y[g], m.n[g], m.t[g]], [0, 1]
        for k, (store, label) in ((2, (m.o, "o")), (3, (m.w, "w"))):
            if np.array_equal(rows[:, k], rows[:, 0]):  # one type (o = n), or chips as the weight (w = n)
                store[g] = m.n[g]
                continue
            store[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, k]]), f"{label}[{name}]")
            cols.append(store[g])
            keep.append(k)
        if rows[:, 4].any():
            # x[g] = 1 if group g takes an option only collocated placements offer
            m.x[g] = m.model.new_bool_var(f"x[{name}]")
            cols.append(m.x[g])
            keep.append(4)
        acc = [s for s in g if s in ACCELERATOR_STAGES]
        for k, s in enumerate(acc if micro else ()):
            # step[g, s] the latency of one batch of stage s in group g (0 if unchosen)
            m.step[g, s] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 5 + k]]), f"L[{name}:{s}]")
            cols.append(m.step[g, s])
            keep.append(5 + k)
        if (m.tables.iterative is not None or m.tables.overlap is not None) and "prefill" in g:
            # C16: the iterative prefix on this group's chips; C18: pen(L_pf), the expected re-prefill
            m.pf_it[g] = m.model.new_int_var_from_domain(_dom([0, *rows[:, 5 + len(acc)]]), f"Lit[{name}]")
            cols.append(m.pf_it[g])
            keep.append(5 + len(acc))
        m.model.add_allowed_assignments(cols, [[1, *r] for r in rows[:, keep].tolist()] + [[0] * len(cols)])


def add_cycle(m: SliceModel, space: Space) -> None:
    """C6 cycle: y_g => C_pre >= t_g + [retrieval in g] t_r for every group (E3/E4: the slowest pre-decode group,
    time-multiplexing its stages, serves B requests per C_pre)."""
    for g in m.groups:
        own = m.t.get(g, 0) + (m.t_r if "retrieval" in g else 0)
        m.model.add(m.c_pre >= own).only_enforce_if(m.y[g])


def add_qps_floor(m: SliceModel, space: Space, cycle_cap: int | None) -> None:
    """C8 (QPS floor, pre-decode part): C_pre <= the largest cycle whose reported QPS B / C_pre meets qps_min (Q3).
    Decode's part is a filter on its rows (``DecodeBook``), and so is the TPOT bound."""
    if cycle_cap is not None:
        m.model.add(m.c_pre <= cycle_cap)


def build_base(space: Space, tables: SliceTables, cycle_cap: int | None) -> SliceModel:
    """C1-C3, C6, C7 and C8's QPS floor of one slice."""
    m = SliceModel(_Model(), tables, slice_groups(space), space.min_chips, space.max_chips)
    ret_hi = int(tables.retrieval[:, 1].max()) if len(tables.retrieval) else 0
    grp_hi = [int(r[:, 1].max()) for r in tables.groups.values() if len(r)]
    m.c_pre_hi = max(grp_hi + [0]) + ret_hi
    m.ttft_hi = sum(grp_hi) + ret_hi
    if space.budgeted:
        m.budget = (space.type_budget, STRIDE)
    m.N = m.model.new_int_var(space.min_chips, space.max_chips, "N")
    m.c_pre = m.model.new_int_var(0, m.c_pre_hi, "C_pre")
    m.ttft = m.model.new_int_var(0, m.ttft_hi, "TTFT")
    add_placement(m, space)
    add_buckets(m, space)
    add_group_tables(m, space)
    add_cycle(m, space)
    add_burst(m, space)
    add_iterative(m, space)
    add_ttft(m, space)
    add_overlap(m, space)
    add_collocated_only(m, space)
    add_qps_floor(m, space, cycle_cap)
    return m


@dataclass(frozen=True)
class Ask:
    """One solve of a slice: decode rows (n_d, D, L) or (n_d, D, L, N_cap), TTFT <= ``ttft_max``, the O1 product
    (``product``) and/or a threshold K(plan) <= ``k_max`` (< with ``strict``; rows without N_cap get theirs from
    it), then ``objective``: "P", "TTFT", "L", "N", "TPOT" (L, then N), "N_TTFT" (N, then TTFT) or None
    (feasibility); ``n_max`` and ``l_max`` cap N and L."""

    decode: np.ndarray
    objective: str | None
    ttft_max: int | None = None
    k_max: Fraction | None = None
    strict: bool = False
    product: bool = False
    n_min: int | None = None
    n_max: int | None = None
    l_max: int | None = None
    w_max: int | None = None
    off: tuple[str, ...] = ()  # groups no qualifying plan uses (U5), by name


@dataclass
class AskModel:
    model: cp_model.CpModel
    vars: dict[str, cp_model.IntVar]  # the variables a solution reports
    tau: int = 1  # ps per unit of the O1 cycle C
    lp: bool = False  # solve with the LP relaxation (C17's products)


def add_decode(a: AskModel, m: SliceModel, rows: np.ndarray, cols: list[str]) -> None:
    """C4 decode: (n_d, D, L, o_d, w_d[, N_cap][, c_d]) in the ask's rows (they already satisfy D >= B, the TPOT
    bound and decode's share of the QPS floor); with caps, N <= N_cap (C10's decode part). A column equal to n_d's
    (o_d with one type, w_d with chips as the weight) is n_d itself, not a column of the table."""
    same = [i for i, c in enumerate(cols) if c in ("o_d", "w_d") and np.array_equal(rows[:, i], rows[:, 0])]
    kept = [i for i in range(len(cols)) if i not in same]
    a.vars |= {cols[i]: a.model.new_int_var_from_domain(_dom(rows[:, i]), cols[i]) for i in kept}
    a.vars |= {cols[i]: a.vars["n_d"] for i in same}
    a.model.add_allowed_assignments([a.vars[cols[i]] for i in kept], rows[:, kept].tolist())
    if "N_cap" in a.vars:
        a.model.add(a.vars["N"] <= a.vars["N_cap"])


def add_chip_total(a: AskModel, m: SliceModel) -> None:
    """C5 chips: N = sum_g n_g + n_d with N_min <= N <= N_max (N_max: the space's effective budget, S3)."""
    a.model.add(a.vars["N"] == sum(a.vars[f"n:{'+'.join(g)}"] for g in m.n) + a.vars["n_d"])


def add_type_budgets(a: AskModel, m: SliceModel) -> None:
    """C11 per-type budgets (S8): sum_g n_g [type(o_g) = k] + n_d [type(o_d) = k] <= N_max,k for every type k,
    the per-type chips being columns of a table on each option o (0 for an unchosen group). Only when a type's
    budget binds below the total one (``SliceModel.budget``)."""
    if m.budget is None:
        return
    caps, stride = m.budget
    parts: list[list] = [[] for _ in caps]
    for name in [f"o:{'+'.join(g)}" for g in m.o] + ["o_d"]:
        o = a.vars[name]
        codes = _values(a, o)
        per = [a.model.new_int_var(0, max(c % stride for c in codes), f"{name}#{k}") for k in range(len(caps))]
        a.model.add_allowed_assignments([o, *per], [[c] + [c % stride if c // stride == k else 0
                                                           for k in range(len(caps))] for c in codes])
        for k, v in enumerate(per):
            parts[k].append(v)
    for k, cap in enumerate(caps):
        a.model.add(sum(parts[k]) <= cap)


def _domain(a: AskModel, v) -> list[int]:
    """A variable's domain as a list of interval bounds (the proto's container mishandles negative indices)."""
    return list(a.model.proto.variables[v.index].domain)


def _values(a: AskModel, v) -> list[int]:
    """Every value of a variable's domain (small: option codes)."""
    d = _domain(a, v)
    return [x for lo, hi in zip(d[::2], d[1::2]) for x in range(lo, hi + 1)]


def add_weight(a: AskModel, m: SliceModel) -> None:
    """C12 weight (O4): W = sum_g w_g + w_d + w_r (W is N itself when every weight is the chip count)."""
    if all(m.w[g] is m.n[g] for g in m.w) and a.vars["w_d"] is a.vars["n_d"] and isinstance(m.w_r, int):
        a.vars["W"] = a.vars["N"]
        return
    w_hi = (sum(int(r[:, 3].max()) for r in m.tables.groups.values() if len(r)) + _domain(a, a.vars["w_d"])[-1]
            + (int(m.tables.retrieval[:, 2].max()) if len(m.tables.retrieval) else 0))
    a.vars["W"] = a.model.new_int_var(0, w_hi, "W")
    a.model.add(a.vars["W"] == sum(a.vars[f"w:{'+'.join(g)}"] for g in m.w) + a.vars["w_d"]
                + (a.vars["w_r"] if "w_r" in a.vars else 0))


def add_bounds(a: AskModel, m: SliceModel, ask: Ask) -> None:
    """C8 TTFT <= e (Q3 of the SLO's bound, or the sweep's epsilon); and the asks' caps n_lo <= N <= n, L <= l,
    W <= w."""
    if ask.ttft_max is not None:
        a.model.add(a.vars["TTFT"] <= ask.ttft_max)
    if ask.n_min is not None:
        a.model.add(a.vars["N"] >= ask.n_min)
    if ask.n_max is not None:
        a.model.add(a.vars["N"] <= ask.n_max)
    if ask.l_max is not None:
        a.model.add(a.vars.get("Le", a.vars["L"]) <= ask.l_max)
    if ask.w_max is not None:
        a.model.add(a.vars["W"] <= ask.w_max)


def cycle_unit(m: SliceModel, rows: np.ndarray) -> tuple[int, list[int]]:
    """C9's cycle unit tau (ps) and each decode row's cycle c_d = ceil(B L / (D tau)): tau = 1 unless N_max x C
    would pass INT_LIMIT (then the least power of ten that keeps it)."""
    B = m.tables.batch
    top = max([m.c_pre_hi] + [-(-B * int(l) // int(d)) for d, l in rows[:, 1:3].tolist()])
    tau = 1
    while -(-top // tau) * m.n_max > INT_LIMIT:
        tau *= 10
    return tau, [-(-B * int(l) // (int(d) * tau)) for d, l in rows[:, 1:3].tolist()]


def add_product(a: AskModel, m: SliceModel, c_d_hi: int) -> None:
    """C9 (O1's objective) P = N x C with C >= ceil(C_pre / tau) and C >= c_d (a column of the decode rows): the
    cycle in units of tau ps. P >= K / tau orders plans; the certification (C10) makes the optimum exact."""
    c_hi = max(-(-m.c_pre_hi // a.tau), c_d_hi)
    c = a.model.new_int_var(1, c_hi, "C")
    a.model.add(c * a.tau >= a.vars["C_pre"])
    a.model.add(c >= a.vars["c_d"])
    a.vars["P"] = a.model.new_int_var(m.n_min, m.n_max * c_hi, "P")
    a.model.add_multiplication_equality(a.vars["P"], [a.vars["N"], c])


def add_threshold(a: AskModel, m: SliceModel, ask: Ask) -> bool:
    """C10 threshold K(plan) <= K (strict: <), exactly: N C_pre <= K' with K' = floor(K) (strict: ceil(K) - 1),
    written C_pre <= floor(K' / N) (a division by the variable N, no product to overflow); decode's part
    N <= N_cap = floor(K D / (B L)) is a column of the rows. False if K' is beyond INT_LIMIT (not exact)."""
    k = ask.k_max
    kp = (k.numerator // k.denominator) if not ask.strict else (-(-k.numerator // k.denominator) - 1)
    if kp < 0:
        a.model.add_bool_or([])  # no plan has a negative cost
        return True
    if kp >= m.c_pre_hi * m.n_max:
        return True  # every pre-decode cycle meets it
    if kp > INT_LIMIT:
        return False
    q = a.model.new_int_var(0, kp // max(m.n_min, 1), "K_over_N")
    a.model.add_division_equality(q, kp, a.vars["N"])
    a.model.add(a.vars["C_pre"] <= q)
    return True


def build_ask(m: SliceModel, ask: Ask) -> tuple[AskModel, bool]:
    """A fresh model of the slice for one solve (the base cloned, the base untouched), and whether it is exact."""
    model = _clone(m.model)
    get = model.get_int_var_from_proto_index
    base = {"N": m.N, "TTFT": m.ttft, "C_pre": m.c_pre, "bucket": m.bucket}
    base |= {f"y:{'+'.join(g)}": v for g, v in m.y.items()} | {f"n:{'+'.join(g)}": v for g, v in m.n.items()}
    base |= {f"o:{'+'.join(g)}": v for g, v in m.o.items()} | {f"w:{'+'.join(g)}": v for g, v in m.w.items()}
    if not isinstance(m.w_r, int):
        base["w_r"] = m.w_r
    a = AskModel(model, {k: get(v.index) for k, v in base.items()})
    rows, cols = ask.decode, ["n_d", "D", "L", "o_d", "w_d"]
    ir = m.tables.iterative is not None
    if ir:  # C17's rows: no chip cap, no decode cycle column (they depend on L_it)
        rows, cols = iterative_rows(m, ask)
    elif ask.k_max is not None and rows.shape[1] == 5:
        caps = chip_caps(rows[:, 1], rows[:, 2], m.tables.batch, ask.k_max, ask.strict, m.n_max)
        rows = np.column_stack([rows, caps])
    if rows.shape[1] == 6 and not ir:
        cols.append("N_cap")
    if ask.product and not ir:
        a.tau, cd = cycle_unit(m, rows)
        rows, cols = np.column_stack([rows, np.asarray(cd, dtype=np.int64)]), cols + ["c_d"]
    add_decode(a, m, rows, cols)
    if ir:
        a.vars["L_it"] = get(m.l_it.index)
        a.lp = True
        cd = [add_iterative_decode(a, m, ask)]
    add_chip_total(a, m)
    add_type_budgets(a, m)
    add_weight(a, m)
    add_bounds(a, m, ask)
    add_left_out(a, m, ask)
    _add_per_server(a, m, ask)
    if ask.product:
        add_product(a, m, max(cd))
    exact = add_threshold(a, m, ask) if ask.k_max is not None else True
    v = a.vars
    lat = v.get("Le", v["L"])  # the whole decode's latency (IR: stalled, C17)
    objectives = {"P": v.get("P"), "TTFT": v["TTFT"], "L": lat, "N": v["N"], "W": v["W"],
                  # lexicographic (L, N) and (W, TTFT) in one objective; callers check they fit INT_LIMIT
                  "TPOT": lat * (m.n_max + 1) + v["N"], "W_TTFT": v["W"] * (m.ttft_hi + 1) + v["TTFT"]}
    if ask.objective is not None:
        model.minimize(objectives[ask.objective])
    return a, exact
