"""CP-SAT families of ``planner.cpsat.model`` kept here for size (``docs/model.md``, "CP-SAT model"): TTFT (C7), an
ask's scope (C13), collocated-only options (C14), micro-batching (C15) and iterative retrieval (C16 on the slice's
base model, C17 on each ask)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from ortools.sat.python import cp_model

from planner.burst import group_steps
from planner.exact import qps_cycle_cap_ps
from planner.schema import ACCELERATOR_STAGES
from planner.space import Space

if TYPE_CHECKING:
    from planner.cpsat.model import Ask, AskModel, SliceModel

__all__ = ["add_burst", "add_collocated_only", "add_iterative", "add_iterative_decode", "add_left_out", "add_ttft",
           "iterative_range", "iterative_rows"]


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


def _qcaps(m: SliceModel, q: np.ndarray) -> np.ndarray:
    """Per row, Q3's largest 2M whose rate q / 2M meets the QPS floor (the top of the range without one); each
    distinct q computed once."""
    if m.qps_min is None:
        return np.full(len(q), INT_TOP, dtype=np.int64)
    qs, at = np.unique(q, return_inverse=True)
    return np.array([qps_cycle_cap_ps(int(x), m.qps_min) for x in qs.tolist()], dtype=np.int64)[at.reshape(-1)]


def _m_caps(ask, r: int, q: np.ndarray) -> np.ndarray:
    """Per row, M_cap = floor(K q / (2 R')) (strict: ceil - 1), clipped to [-1, INT_TOP], in exact integers; each
    distinct q computed once."""
    num, den = ask.k_max.numerator, ask.k_max.denominator * 2 * r
    qs, at = np.unique(q, return_inverse=True)
    caps = [max(-1, min(-(-(num * x) // den) - 1 if ask.strict else num * x // den, INT_TOP)) for x in qs.tolist()]
    return np.array(caps, dtype=np.int64)[at.reshape(-1)]


def _chip_range(m: SliceModel, ask) -> tuple[int, int]:
    """The ask's total chips range: [max(n_min, N_min), min(n_max, N_max)]."""
    return max(ask.n_min or 0, m.n_min), min(ask.n_max if ask.n_max is not None else m.n_max, m.n_max)


def iterative_rows(m: SliceModel, ask) -> tuple[np.ndarray, list[str]]:
    """IR4 decode rows of an ask (``_iterative_keep``'s): (n_d, D, L, o_d, w_d, q, qcap, Le_lo[, M_cap, N_hi]) with
    q = 2D - b_it + 1, qcap the largest 2M whose rate q / 2M meets the QPS floor (Q3; none: the top of the range),
    Le_lo = ceil(2D (L + x_lo) / q) <= Le (x_lo the ask's least L_it) and, under a threshold K on the cost of R'
    requests (N R' 2M / q <= K), M_cap = floor(K q / (2 R')) (strict: ceil - 1) and N_hi = floor(M_cap / (L + x_lo))
    >= N. Le_lo and N_hi are implied by the rest (redundant): they give the solver the row's bounds directly."""
    _, b, r, _ = m.tables.iterative
    rows, x_lo = _iterative_keep(m, ask, np.asarray(ask.decode)[:, :5])
    q = 2 * rows[:, 1] - b + 1
    qcap = _qcaps(m, q)
    m_lo = [int(x) + x_lo for x in rows[:, 2].tolist()]  # M >= L + x_lo (exact integers)
    le_lo = [-(-2 * int(d) * x // int(y)) for d, x, y in zip(rows[:, 1].tolist(), m_lo, q.tolist())]
    out, cols = [rows, q, qcap, np.minimum(le_lo, INT_TOP)], ["n_d", "D", "L", "o_d", "w_d", "q", "qcap", "Le_lo"]
    if ask.k_max is not None:
        m_cap = _m_caps(ask, r, q)
        out += [m_cap, [max(-1, c // x) if c >= 0 else -1 for c, x in zip(m_cap.tolist(), m_lo)]]
        cols += ["M_cap", "N_hi"]
    return np.column_stack(out).astype(np.int64), cols


class Reach(NamedTuple):
    """``iterative_range``: L_it in [x_lo, x_hi], n_d in [d_lo, d_hi], and where one group holds every pre-decode
    accelerator stage (N = n_k + n_d), the distinct (n_k, X, N_lo, N_hi) of the pairs that fit."""

    x_lo: int
    x_hi: int
    d_lo: int
    d_hi: int
    pairs: np.ndarray | None


def iterative_range(m: SliceModel, ask) -> Reach | None:
    """What an ask leaves of C16's pause and of decode's chips: (x_lo, x_hi) the least and largest L_it = n (L_r_it
    + L_pf_it), and (d_lo, d_hi) the fewest and most decode chips, over the pairs (retrieval bucket j, option k of a
    group g holding prefill) that fit the ask's chip range (N in bucket j's [N_lo, N_hi]) and TTFT bound (L_r(B)
    at j plus g's one-batch steps at k, a lower bound on TTFT); None if no pair fits (no plan). n_d <= N_hi - n_k;
    n_d >= N_lo - n_k where g holds every pre-decode accelerator stage (else 1)."""
    n, rt, bk = m.tables.iterative[3], m.tables.retrieval, m.tables.buckets
    lo_n, hi_n = _chip_range(m, ask)
    b_lo = np.maximum(np.array([bk[j].n_lo for j in rt[:, 0].tolist()], dtype=np.int64), lo_n)
    b_hi = np.minimum(np.array([bk[j].n_hi for j in rt[:, 0].tolist()], dtype=np.int64), hi_n)
    pre = {s for g in m.tables.groups for s in g if s in ACCELERATOR_STAGES}
    got, pairs = [], []
    for g, rows in m.tables.groups.items():
        acc = [s for s in g if s in ACCELERATOR_STAGES]
        if "prefill" not in g or not len(rows) or len(rt) * len(rows) > 1 << 22:
            continue
        fit = (b_lo <= b_hi)[:, None] & np.ones(len(rows), dtype=bool)[None, :]
        if ask.ttft_max is not None:
            fit &= rt[:, 3][:, None] + rows[:, 5:5 + len(acc)].sum(axis=1)[None, :] <= ask.ttft_max
        j, k = np.nonzero(fit)
        if len(j):
            x = n * (rt[j, 4] + rows[k, 5 + len(acc)])
            whole = pre <= set(g)
            got.append((int(x.min()), int(x.max()), int((b_lo[j] - rows[k, 0]).min()) if whole else 1,
                        int((b_hi[j] - rows[k, 0]).max())))
            if whole:  # N = n_k + n_d: each pair's (n_k, X, N range)
                pairs.append(np.column_stack([rows[k, 0], x, b_lo[j], b_hi[j]]))
            else:
                pairs.append(None)
    if not got and any("prefill" in g and len(r) and len(rt) * len(r) > 1 << 22 for g, r in m.tables.groups.items()):
        return Reach(0, INT_TOP, 1, m.n_max, None)  # too many pairs to look at: the whole range
    if not got:
        return None
    return Reach(min(x[0] for x in got), max(x[1] for x in got), min(x[2] for x in got), max(x[3] for x in got),
                 None if any(p is None for p in pairs) else np.unique(np.concatenate(pairs), axis=0))


def _iterative_keep(m: SliceModel, ask, rows: np.ndarray, slack: float = 1e-9) -> tuple[np.ndarray, int]:
    """C17's rows an ask needs, and x_lo (exact: a row is dropped only if it admits no plan, or if another row of
    its option serves every plan better). With X = L_it in [x_lo, x_hi] and n_d in [d_lo, d_hi]
    (``iterative_range``) and q = 2D - b_it + 1:
    - a row outside the decode chips' range, or whose best case X = x_lo misses the QPS floor (2M <= qcap), the
      TPOT bound (2DM <= cap q) or the threshold K (max(n_lo, n_d) M <= M_cap) admits no plan;
    - where the ask reads decode's rate alone (no TPOT bound, objective not TPOT), a row whose cost per request
      (L + X) / q is above another row's of its option at both ends of [x_lo, x_hi] (so at every X: the costs are
      linear in X) is never needed: that row serves the same plan with no lower rate (the beating row is one
      kept by the rules above, so it meets the QPS floor and the threshold wherever the beaten one does).
    Floats decide with a relative ``slack`` against the row (float error is 1e-15), so a kept row is never wrong
    and a dropped row is dropped by a margin."""
    scope = iterative_range(m, ask) if len(rows) else None
    if scope is None:
        return rows[:1], 0  # no plan fits the ask: one row keeps the model well formed (and infeasible)
    _, b, r, _ = m.tables.iterative
    x_lo, x_hi, d_lo, d_hi, pairs = scope
    D, L = rows[:, 1].astype(np.float64), rows[:, 2].astype(np.float64)
    q = 2 * D - b + 1
    mlo = L + x_lo
    ok = (rows[:, 0] >= d_lo) & (rows[:, 0] <= d_hi)
    if m.qps_min is not None:
        ok &= 2 * mlo * (1 - slack) <= _qcaps(m, 2 * rows[:, 1] - b + 1)
    caps = [c for c in (m.tpot_cap, ask.l_max) if c is not None]
    if caps:
        ok &= 2 * D * mlo * (1 - slack) <= min(caps) * q
    if ask.k_max is not None:  # N M 2 R' / q <= K with N >= max(n_lo, n_d)
        n_lo = np.maximum(max(ask.n_min or 0, m.n_min), rows[:, 0]).astype(np.float64)
        ok &= n_lo * mlo * 2 * r * (1 - slack) <= float(ask.k_max) * q
    if not ok.any():
        return rows[:1], x_lo  # no row admits a plan: one keeps the model well formed (and infeasible)
    rows, q, mlo = rows[ok], q[ok], mlo[ok]
    if not caps and ask.objective not in ("L", "TPOT", "N"):  # among rows that may serve a plan
        rows = rows[~_beaten(rows[:, 3], mlo / q, (rows[:, 2] + x_hi) / q, slack)]
    elif pairs is not None:
        best = _least_stalls(m, ask, rows, pairs)
        if best is not None:
            rows = rows[best] if best.any() else rows[:1]
    return rows, x_lo


def _least_stalls(m: SliceModel, ask, rows: np.ndarray, pairs: np.ndarray, work: int = 1 << 24) -> np.ndarray | None:
    """Which rows some plan of the ask may need when it reads the stalled latency Le (TPOT bounds or objectives),
    where N = n_k + n_d: a plan fixes its pair (n_k, X) and decode option, so N and M = L + X are fixed per row, and
    C17's constraints (N M <= M_cap, 2M <= qcap, Le = ceil(2DM / q) <= the caps) decide which rows serve it; of
    those only the least Le matters to every objective (Le, then N fixed; rate objectives have no TPOT cap here
    unless a bound, and then any feasible row serves). Exact in integers; None (keep every row) when the products
    could pass int64 or the work (pairs x rows) is large."""
    _, b, r, _ = m.tables.iterative
    lo_n, hi_n = _chip_range(m, ask)
    _, start = np.unique(rows[:, 3], return_index=True)
    stop = np.r_[start[1:], len(rows)]
    D, L, n_d = rows[:, 1], rows[:, 2], rows[:, 0]
    m_top = int(L.max()) + int(pairs[:, 1].max())
    if 2 * int(D.max()) * m_top >= 1 << 62 or (m.n_max + 1) * m_top >= 1 << 62:
        return None
    by = np.argsort(n_d[start], kind="stable")  # option segments by decode chips
    seg_n, seg_a, seg_z = n_d[start][by], start[by], stop[by]
    size = np.r_[0, np.cumsum(seg_z - seg_a)]
    spans = []  # per pair, the segments whose n_d puts N = n_k + n_d in its range
    for n_k, x, n_lo, n_hi in pairs.tolist():
        a = int(np.searchsorted(seg_n, max(n_lo, lo_n) - n_k, side="left"))
        z = int(np.searchsorted(seg_n, min(n_hi, hi_n) - n_k, side="right"))
        if a < z:
            spans.append((n_k, x, a, z))
    if sum(int(size[z] - size[a]) for _, _, a, z in spans) > work:
        return None
    q = 2 * D - b + 1
    cap = min([c for c in (m.tpot_cap, ask.l_max) if c is not None], default=None)
    qcap = _qcaps(m, q) if m.qps_min is not None else None
    m_cap = _m_caps(ask, r, q) if ask.k_max is not None else None
    keep = np.zeros(len(rows), dtype=bool)
    for n_k, x, sa, sz in spans:
        for a, z, nd in zip(seg_a[sa:sz].tolist(), seg_z[sa:sz].tolist(), seg_n[sa:sz].tolist()):
            big_n = n_k + nd
            mm = L[a:z] + x
            le = -(-2 * D[a:z] * mm // q[a:z])
            ok = np.ones(z - a, dtype=bool)
            if m_cap is not None:
                ok &= big_n * mm <= m_cap[a:z]
            if qcap is not None:
                ok &= 2 * mm <= qcap[a:z]
            if cap is not None:
                ok &= le <= cap
            if ok.any():
                keep[a:z] |= ok & (le == le[ok].min())
    return keep


def _beaten(option: np.ndarray, f1: np.ndarray, f2: np.ndarray, slack: float) -> np.ndarray:
    """Per row, whether another row of its option has f1 and f2 both below its own by the relative slack."""
    out = np.zeros(len(option), dtype=bool)
    order = np.lexsort((f1, option))
    opt, a, c = option[order], f1[order], f2[order]
    cut = np.flatnonzero(np.r_[True, opt[1:] != opt[:-1], True])
    for lo, hi in zip(cut[:-1], cut[1:]):
        run = np.minimum.accumulate(c[lo:hi])  # the least f2 among the first k rows by f1
        k = np.searchsorted(a[lo:hi], a[lo:hi] * (1 - slack), side="left")  # rows with f1 below by the slack
        out[order[lo:hi]] = (k > 0) & (run[np.maximum(k - 1, 0)] < c[lo:hi] * (1 - slack))
    return out


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
    mod.add(v["Le"] >= v["Le_lo"])
    if m.tpot_cap is not None:  # ceil(2DM / q) <= cap iff some Le in [2DM / q, cap]
        mod.add(v["Le"] <= m.tpot_cap)
    if "N_hi" in v:
        mod.add(v["N"] <= v["N_hi"])
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
