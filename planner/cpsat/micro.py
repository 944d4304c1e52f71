"""The CP-SAT families of micro-batching and collocated-only options (``docs/model.md``, "CP-SAT model", C14 and
C15), added to a slice's base model by ``planner.cpsat.model.build_base``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ortools.sat.python import cp_model

from planner.burst import group_steps
from planner.space import Space

if TYPE_CHECKING:
    from planner.cpsat.model import SliceModel

__all__ = ["add_burst", "add_collocated_only"]


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
