"""CP-SAT families of ``planner.cpsat.model`` kept here for size (``docs/model.md``, "CP-SAT model"): TTFT (C7), an
ask's scope (C13), collocated-only options (C14), micro-batching (C15) and iterative retrieval (C16 on the slice's
base model, C17 on each ask)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from ortools.sat.python import cp_model

from planner.burst import group_steps
from planner.exact import qps_cycle_cap_ps
from planner.space import Space

if TYPE_CHECKING:
    from planner.cpsat.model import Ask, AskModel, SliceModel

__all__ = ["add_burst", "add_collocated_only", "add_iterative", "add_iterative_decode", "add_left_out", "add_ttft",
           "iterative_rows"]


def add_ttft(m: SliceModel, space: Space) -> None:
    """C7 TTFT: TTFT = sum_g t_g + t_r (every pre-decode stage runs the batch B in turn, E6). With micro-batching
    (t_g a time per cycle) TTFT >= sum_g sum_{s in g} L_s + L_r (every request passes each stage), and C15 makes it
    exact."""
    if m.tables.overlap is not None:
        return  # C18 (``add_overlap``)
    if m.tables.iterative is not None:  # IR: t_g carries the iterative batches; TTFT is the one-batch latencies
        m.model.add(m.ttft == sum(m.step.values()) + m.l_r)
    elif m.tables.column is None:
        m.model.add(m.ttft == sum(m.t.values()) + m.t_r)
    else:
        m.model.add(m.ttft >= sum(m.step.values()) + m.l_r)


def add_overlap(m: SliceModel, space: Space) -> None:
    """C18 retrieval pipelined with prefill (AP2-AP3), exact: with c chunks, q_r c >= L_r, q_pf c >= L_pf (the least
    q are the ceilings), P the prefill's pen(L_pf) (a column of its group's rows) and S the other stages' L_s:

        TTFT >= S + L_r + q_pf + P;   TTFT >= S + L_pf + q_r + P

    (lower bounds only: TTFT is bounded above or minimised, so TTFT <= e holds iff AP2's max does; the sweep
    computes a solution's TTFT from the tables). Retrieval's one-batch latency is t_r (its time per cycle)."""
    if m.tables.overlap is None:
        return
    c = m.tables.overlap.chunks
    pf = [(g, v) for (g, s), v in m.step.items() if s == "prefill"]
    rest = sum(v for (g, s), v in m.step.items() if s != "prefill")
    l_pf = sum(v for _, v in pf)
    pen = sum(m.pf_it.values())
    # q_r, q_pf: retrieval's and prefill's one-batch latencies over c, rounded up
    q_r = m.model.new_int_var(0, m.ttft_hi, "q_r")
    q_pf = m.model.new_int_var(0, m.ttft_hi, "q_pf")
    m.model.add(c * q_r >= m.t_r)
    m.model.add(c * q_pf >= l_pf)
    m.model.add(m.ttft >= rest + m.t_r + q_pf + pen)
    m.model.add(m.ttft >= rest + l_pf + q_r + pen)


def add_left_out(a: AskModel, m: SliceModel, ask: Ask) -> None:
    """C13 scope of an ask: y_g = 0 for g in Off(ask), the groups of no placement whose U5 bound reaches the ask's
    QPS/chip threshold under its TTFT bound (every plan the ask admits lies in a placement whose bound does); and
    N_lo <= N <= N_hi, the chip range of the placements kept (U5, U6; with ``add_bounds``). It only removes plans
    that cannot qualify, and shrinks the model CP-SAT loads."""
    for name in ask.off:
        a.model.add(a.vars[f"y:{name}"] == 0)


def add_collocated_only(m: SliceModel, space: Space) -> None:
    """C14 options only collocated placements offer (``collocated_chip_options``, S1): x_g => sum_{|g'| > 1} y_g'
    >= 1 (the placement is not the full disaggregation)."""
    multi = [m.y[g] for g in m.groups if len(g) > 1]
    for v in m.x.values():
        m.model.add_bool_or(multi).only_enforce_if(v)


def add_burst(m: SliceModel, space: Space) -> None:
    """C15 micro-batching (MB2-MB3), exact: for every placement p, z_p = AND_{g in p} y_g, and under z_p the finish
    times of its groups' steps (the order of MB2, ``group_steps``, fixed by the slice's batches):

        E_{g,i} >= E_{g,i-1} + L_{s(i)};   E_{g,i} >= A_{g}(k_i) + L_{s(i)} for a step of g's first stage, k_i the last
        request of its batch and A_g(k) the finish E of the upstream group's step that completed request k
        (none for the first group: t = 0);  R TTFT >= sum over the last group's last-stage steps of b E

    (lower bounds only: the least E are the recurrence's finish times, so TTFT <= e holds iff the plan's MB3 TTFT
    does, and a minimised TTFT is exact). L_r = t_r / (R / b_r) is retrieval's one-batch latency."""
    if m.tables.column is None:
        return
    batches, burst = m.tables.column
    b = dict(zip(space.pre_decode, batches))
    if len(m.tables.retrieval):
        # l_r the latency of one retrieval batch: its time per cycle over the R / b_r batches per cycle
        m.l_r = m.model.new_int_var_from_domain(_dom(m.tables.retrieval[:, 3]), "L[retrieval]")
        m.model.add(m.t_r == burst // b["retrieval"] * m.l_r)
    lat = lambda g, s: m.l_r if s == "retrieval" else m.step[g, s]  # noqa: E731
    for p in space.placements:
        groups = [g for g in p if "decode" not in g]
        if any(g not in m.y for g in groups):
            continue
        z = m.model.new_bool_var(f"z[{'|'.join('+'.join(g) for g in p)}]")
        m.model.add_bool_and([m.y[g] for g in groups]).only_enforce_if(z)
        m.model.add_bool_or([z] + [~m.y[g] for g in groups])
        arrive: list = [None] * burst  # the E that completed each request upstream
        for g in groups:
            done, prev, out = [0] * len(g), None, [None] * burst
            for i in group_steps(tuple(b[s] for s in g), burst):
                s = g[i]
                e = m.model.new_int_var(0, m.ttft_hi, f"E[{'+'.join(g)}:{s}:{done[i]}]")
                if prev is not None:
                    m.model.add(e >= prev + lat(g, s)).only_enforce_if(z)
                if i == 0:
                    src = arrive[done[0] + b[s] - 1]
                    m.model.add(e >= (src if src is not None else 0) + lat(g, s)).only_enforce_if(z)
                if i == len(g) - 1:
                    out[done[i]:done[i] + b[s]] = [e] * b[s]
                done[i] += b[s]
                prev = e
            arrive = out
        last = b[groups[-1][-1]]
        m.model.add(burst * m.ttft >= sum(last * e for e in arrive[::last])).only_enforce_if(z)


def _dom(values) -> cp_model.Domain:
    return cp_model.Domain.from_values(sorted({int(v) for v in values}))


def add_iterative(m: SliceModel, space: Space) -> None:
    """C16 iterative retrieval (IR1-IR3), the slice's part: retrieval's one-batch latencies at B and at b_it are
    columns of its bucket, (j, L_r, L_r_it) in Rows_r, the prefill group's L_pf(b_it) a column of C3; and
    L_it = n (L_r_it + sum_g L_pf_it,g), the pause of one iterative retrieval times the n per sequence. (The
    groups' times per cycle t_g, t_r already carry the n R' / b_it iterative batches, IR3.)"""
    if m.tables.iterative is None:
        return
    n = m.tables.iterative[3]
    rows = m.tables.retrieval
    # l_r the latency of one retrieval batch of B; r_it of b_it
    m.l_r = m.model.new_int_var_from_domain(_dom(rows[:, 3]), "L[retrieval]")
    r_it = m.model.new_int_var_from_domain(_dom(rows[:, 4]), "Lit[retrieval]")
    m.model.add_allowed_assignments([m.bucket, m.l_r, r_it], rows[:, [0, 3, 4]].tolist())
    hi = n * (int(rows[:, 4].max()) + sum(int(list(m.model.proto.variables[v.index].domain)[-1])
                                          for v in m.pf_it.values()))
    m.l_it = m.model.new_int_var(0, hi, "L_it")  # n x one iterative pause's retrieval and prefix
    m.model.add(m.l_it == n * (r_it + sum(m.pf_it.values())))


def iterative_rows(m: SliceModel, ask) -> tuple[np.ndarray, list[str]]:
    """IR4 decode rows of an ask: (n_d, D, L, o_d, w_d, q, qcap[, M_cap]) with q = 2D - b_it + 1, qcap the largest
    2M whose rate q / 2M meets the QPS floor (Q3; none: the top of the range) and, under a threshold K on the cost
    of R' requests (N R' 2M / q <= K), M_cap = floor(K q / (2 R')) (strict: ceil - 1)."""
    _, b, r, _ = m.tables.iterative
    rows = np.asarray(ask.decode)[:, :5]
    q = 2 * rows[:, 1] - b + 1
    qs, at = np.unique(q, return_inverse=True)  # q depends on D alone: each distinct value computed once
    qcap = (np.array([qps_cycle_cap_ps(int(x), m.qps_min) for x in qs.tolist()], dtype=np.int64)[at]
            if m.qps_min is not None else np.full(len(q), INT_TOP, dtype=np.int64))
    out, cols = [rows, q, qcap], ["n_d", "D", "L", "o_d", "w_d", "q", "qcap"]
    if ask.k_max is not None:  # K q / (2 R') in exact integers: floor, or (strict) ceil - 1
        num, den = ask.k_max.numerator, ask.k_max.denominator * 2 * r
        caps = [max(-1, min(-(-(num * x) // den) - 1 if ask.strict else num * x // den, INT_TOP)) for x in qs.tolist()]
        out.append(np.array(caps, dtype=np.int64)[at])
        cols.append("M_cap")
    return np.column_stack(out).astype(np.int64), cols


def add_iterative_decode(a, m: SliceModel, ask) -> int:
    """C17 the stalled decode (IR4), exact in integers: M = L + L_it; decode serves q = 2D - b_it + 1 requests
    every 2M ps; its whole latency Le >= 2DM / q (Le = M + E, E q >= (b_it - 1) M, since 2D = q + b_it - 1), the
    TPOT bound Le <= cap, TPOT objectives minimise Le; decode's QPS share: 2M <= qcap; a threshold K: N M <= M_cap;
    O1's product: c_d q tau >= 2 R' M (c_d the decode cycle in tau units). Products are CP-SAT multiplication
    equalities. Returns c_d's top."""
    _, b, r, _ = m.tables.iterative
    v, mod = a.vars, a.model
    l_hi, q_lo, q_hi = _domain_top(a, v["L"]), _domain_bottom(a, v["q"]), _domain_top(a, v["q"])
    m_hi = l_hi + _domain_top(a, v["L_it"])
    v["M"] = mod.new_int_var(0, m_hi, "M")
    mod.add(v["M"] == v["L"] + v["L_it"])
    mod.add(2 * v["M"] <= v["qcap"])
    # Le >= 2DM / q, written with 2D = q + b - 1 as E q >= (b - 1) M, Le = M + E (0 <= E <= M: b <= D gives
    # b - 1 < q), so no product passes (b - 1) M_hi + q
    e = mod.new_int_var(0, m_hi, "E")
    u = mod.new_int_var(0, (b - 1) * m_hi + q_hi, "E_q")
    mod.add_multiplication_equality(u, [e, v["q"]])
    mod.add(u >= (b - 1) * v["M"])
    v["Le"] = mod.new_int_var(0, 2 * m_hi, "Le")
    mod.add(v["Le"] == v["M"] + e)
    if m.tpot_cap is not None:  # ceil(2DM / q) <= cap iff some Le in [2DM / q, cap]
        mod.add(v["Le"] <= m.tpot_cap)
    if "M_cap" in v:
        nm = mod.new_int_var(0, m.n_max * m_hi, "NM")
        mod.add_multiplication_equality(nm, [v["N"], v["M"]])
        mod.add(nm <= v["M_cap"])
    top, a.tau = max(m.c_pre_hi, -(-2 * r * m_hi // q_lo)), 1  # C9's unit, as ``cycle_unit``
    while -(-top // a.tau) * m.n_max > 2**62:
        a.tau *= 10
    cd_hi = -(-2 * r * m_hi // (q_lo * a.tau))
    v["c_d"] = mod.new_int_var(0, cd_hi, "c_d")
    w = mod.new_int_var(0, 2 * r * m_hi // a.tau + q_hi, "c_d_q")  # the least c_d has c_d q < 2R'M / tau + q
    mod.add_multiplication_equality(w, [v["c_d"], v["q"]])
    mod.add(w * a.tau >= 2 * r * v["M"])
    return cd_hi


INT_TOP = 2**61


def _domain_top(a, var) -> int:
    return int(list(a.model.proto.variables[var.index].domain)[-1])  # the container mishandles negative indices


def _domain_bottom(a, var) -> int:
    return int(list(a.model.proto.variables[var.index].domain)[0])
