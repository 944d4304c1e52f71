"""The search space of an instance: stages, placements, unit options, and scaled stage costs.

Everything a solver (exhaustive or CP-SAT) and the evaluator share lives here, derived once from the
instance (rules S1-S9 of ``docs/model.md``, section "Search space"):

- S1 chip options of an accelerator stage, per offered accelerator type k: the instance's list if given, else
  powers of two up to the per-stage max for encode/rerank and the (replica-scaled) profiled counts for the other
  stages; always capped at ``max_chips_per_stage``. Tables are replica-scaled up to the largest option.
  An option is a code o = k * STRIDE + n (n chips of type k); one type: o = n.
- S2 a collocated group uses one option (type and count) for all its stages: the intersection of the members'
  options (and of the powers of two up to the per-stage max, with ``chips: pow2``); a placement with a group
  whose members share no option is not in the space.
- S3 total chips N = sum over groups holding an accelerator stage; it must lie in [min, max] where min is
  raised to chips_per_server x the smallest profiled server count of retrieval (hosts policy), and max is
  lowered to the most any placement can use (the sum of its groups' largest options): the effective budget
  N_max. S8: the chips of type k total at most ``max_chips_per_type[k]``.
- S4 retrieval servers, hosts policy: r = max(1, floor(N / chips_per_server)) of the one server type.
  S9 decision policy: one option (server type, r) with r from the type's shard-memory minimum up to
  ``max_retrieval_servers`` (default 4 x that minimum), its latency from the scan model or the profile.
- S5 pre-decode request batch B: powers of two up to ``max_batch_size`` (every pre-decode stage runs B).
- S6 decode batch D: powers of two up to the largest batch of decode's table (analytical: its memory capacity)
  at its chip count, capped by ``max_decode_batch_size`` if set, D >= B.
- S7 ``chips: any`` / ``batches: any`` widen S1/S5/S6 to every integer (from the smallest profiled count, or the
  instance's own list), and serve costs by the replica rules A1-A4 of ``models.replicas``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import numpy as np

from models.cost import RetrievalModel, StageCost
from models.errors import ModelError
from models.replicas import any_count_cost
from planner.costs import Resource, accelerator_types, resources, server_types, stage_costs
from planner.dag import Placement, build_dag, placements
from planner.errors import EmptySpaceError, InstanceError
from planner.exact import to_ps
from planner.schema import ACCELERATOR_STAGES, Instance
from planner.space_rows import STRIDE, SolverRows, kind_of, units_of

__all__ = ["STRIDE", "Space", "batch_grid", "build_space", "kind_of", "pow2_upto", "units_of"]

#: Integer weight of one unit per objective (O4, M2): chips 1; rent in micro-USD/h; purchase in cents; power mW.
WEIGHT_SCALE = {"cost": 10**6, "capex": 100, "power": 1000}
MAX_ITERATIVE_COLUMNS = 65_536  # IR2: (B, b_it) columns the solvers are asked to hold
_PRICE_FIELD = {"cost": "price_usd_per_hour", "capex": "purchase_usd", "power": "power_w"}


def pow2_upto(n: int) -> tuple[int, ...]:
    """Powers of two 1, 2, 4, ... <= n."""
    return tuple(1 << i for i in range(max(0, int(n)).bit_length()))


def batch_grid(top: int, mode: str) -> tuple[int, ...]:
    """S5/S6/S7: the batches up to ``top``: every integer (``any``) or the powers of two (``pow2``)."""
    return tuple(range(1, top + 1)) if mode == "any" else pow2_upto(top)


@dataclass(frozen=True)
class Space(SolverRows):
    instance: Instance
    stages: tuple[str, ...]
    costs: dict[str, tuple]  # per stage, its cost per offered type (None: not allowed on that type)
    placements: tuple[Placement, ...]
    stage_chip_options: dict[str, tuple[int, ...]]  # option codes
    min_chips: int
    max_chips: int
    batch_options: tuple[int, ...]
    types: tuple[str, ...] = ()
    server_types: tuple[str, ...] = ()
    type_resources: tuple[Resource, ...] = ()
    server_resources: tuple[Resource, ...] = ()
    type_budget: tuple[int, ...] = ()
    retrieval_options: tuple[int, ...] = ()  # S9 option codes (decision policy)
    collocated_options: dict[str, tuple[int, ...]] = field(default_factory=dict)  # S1: more codes when collocated
    _row_cache: dict = field(default_factory=dict, compare=False, repr=False)
    _point_cache: dict = field(default_factory=dict, compare=False, repr=False)
    _row_links: dict = field(default_factory=dict, compare=False, repr=False)  # stage -> the space computing its rows
    _shared: dict = field(default_factory=dict, compare=False, repr=False)  # ``shared``'s values

    @property
    def pre_decode(self) -> tuple[str, ...]:
        return self.stages[:-1]

    @property
    def has_retrieval(self) -> bool:
        return "retrieval" in self.stages

    @property
    def decides_servers(self) -> bool:
        """S9: the retrieval servers are a decision (else S4: the accelerators' hosts)."""
        return self.has_retrieval and self.instance.search.retrieval_servers == "decision"

    @property
    def chips_per_server(self) -> int:
        return self.instance.search.chips_per_server

    @property
    def budgeted(self) -> bool:
        """Whether some type's budget (S8) binds below the total budget."""
        return any(b < self.max_chips for b in self.type_budget)

    @property
    def micro(self) -> bool:
        """MB1: whether the pre-decode stages micro-batch a burst (each its own batch b_s)."""
        return self.instance.search.micro_batching

    def stage_batch_options(self, stage: str) -> tuple[int, ...]:
        """MB1: the micro-batches of pre-decode ``stage``: powers of two up to max_batch_size, the fixed burst and
        the largest batch its cost source describes on its largest option (a profile's largest row, RAGO's rule)."""
        sp = self.instance.search
        top = min(sp.max_batch_size, sp.burst_requests or sp.max_batch_size)
        if stage == "retrieval":
            most = (max((int(units_of(o)) for o in self.retrieval_options), default=1) if self.decides_servers
                    else max(1, self.max_chips // self.chips_per_server))
            caps = [c.batch_cap(most) for c in self.costs[stage]]
        else:
            caps = [self.cost(stage, o).batch_cap(int(units_of(o))) for o in self.stage_options(stage)]
        if caps and None not in caps:
            top = min(top, max(caps))
        return pow2_upto(top)

    @property
    def iterations(self) -> int:
        """IR1: iterative retrievals per sequence during decode (retrievals_per_sequence - 1)."""
        return self.instance.pipeline.retrievals_per_sequence - 1

    def iterative_batch_options(self) -> tuple[int, ...]:
        """IR2: the batches of iterative retrievals (as S5's request batches)."""
        return batch_grid(self.instance.search.max_batch_size, self.instance.search.batches)

    def iterative_columns(self) -> list[tuple[int, int]]:
        """IR2: every (request batch B, iterative batch b_it) of a space with iterative retrieval; a column serves
        lcm(B, b_it) requests per cycle (IR3) and needs D >= max(B, b_it)."""
        return [(b, i) for b in self.batch_options for i in self.iterative_batch_options()]

    def burst_sizes(self) -> tuple[int, ...]:
        """MB1/MB5: the bursts a micro-batched space serves: the fixed one, else every power of two some stage's
        largest batch can reach (each schedule's burst is then its largest b_s, MB5)."""
        fixed = self.instance.search.burst_requests
        if fixed is not None:
            return (fixed,)
        return pow2_upto(max(max(self.stage_batch_options(s)) for s in self.pre_decode))

    def burst_product(self, burst: int) -> tuple[tuple[int, ...], ...]:
        """Per pre-decode stage, its micro-batches up to ``burst``; their product (first stage most significant)
        holds the burst's schedules, those whose largest batch is the burst when it is searched (MB5)."""
        return tuple(tuple(b for b in self.stage_batch_options(s) if b <= burst) for s in self.pre_decode)

    def burst_columns(self) -> list[tuple[tuple[int, ...], int]]:
        """MB1/MB5: every (pre-decode batches, burst) of a micro-batched space, by burst, then in product order."""
        searched = self.instance.search.burst_requests is None
        out = []
        for r in self.burst_sizes():
            out += [(v, r) for v in itertools.product(*self.burst_product(r)) if not searched or max(v) == r]
        return out

    def column_batches(self) -> tuple[np.ndarray, np.ndarray]:
        """Per column of the solvers' tables (S5's B; MB's (b_s, R) of ``burst_columns``; IR's (B, b_it) of
        ``iterative_columns``): the requests per pre-decode cycle (B, R, lcm(B, b_it): MB4, IR3) and the least
        decode batch (B, max b_s, max(B, b_it))."""
        if self.micro:
            cols = self.burst_columns()
            return (np.array([r for _, r in cols], dtype=np.int64),
                    np.array([max(v) for v, _ in cols], dtype=np.int64))
        if self.iterations:
            cols = self.iterative_columns()
            return (np.array([math.lcm(b, i) for b, i in cols], dtype=np.int64),
                    np.array([max(b, i) for b, i in cols], dtype=np.int64))
        b = np.asarray(self.batch_options, dtype=np.int64)
        return b, b

    def decode_tokens(self) -> int:
        return self.instance.pipeline.stage("decode").decode_tokens

    def cost(self, stage: str, code: int = 0) -> StageCost | RetrievalModel:
        """The cost model of ``stage`` on the type of option ``code`` (default: the first type)."""
        c = self.costs[stage][int(kind_of(code))]
        if c is None:
            raise ModelError(f"stage {stage} may not run on {self.types[int(kind_of(code))]}. To fix: use a type "
                             f"of cost.stage_accelerators.{stage}")
        return c

    def label(self, code: int, server: bool = False) -> str:
        """An option for people: '4 x H100' (the type named only when several are offered)."""
        names = self.server_types if server else self.types
        n = int(units_of(code))
        return f"{n} x {names[int(kind_of(code))]}" if len(names) > 1 else str(n)

    def stage_options(self, stage: str, placement=None) -> set[int]:
        """S1: a stage's option codes, in ``placement`` (with ``collocated_chip_options`` unless it is the full
        disaggregation; no placement: every option the stage may take anywhere)."""
        extra = self.collocated_options.get(stage, ())
        if placement is not None and all(len(g) == 1 for g in placement):
            extra = ()
        return set(self.stage_chip_options[stage]) | set(extra)

    def group_chip_options(self, group: tuple[str, ...], placement=None) -> tuple[int, ...]:
        """S2: option codes a group may use in ``placement`` (empty tuple for a retrieval-only group)."""
        acc = [s for s in group if s in ACCELERATOR_STAGES]
        if not acc:
            return ()
        opts = self.stage_options(acc[0], placement)
        for s in acc[1:]:
            opts &= self.stage_options(s, placement)
        if len(acc) > 1 and self.instance.search.chips == "pow2":
            opts = {o for o in opts if int(units_of(o)) & (int(units_of(o)) - 1) == 0}
            opts = {o for o in opts if units_of(o) <= self.instance.search.max_chips_per_stage}
        return tuple(sorted(opts))

    def servers(self, total_chips: int | np.ndarray) -> int | np.ndarray:
        """S4: retrieval servers for a total chip count (hosts policy)."""
        return np.maximum(1, np.asarray(total_chips) // self.chips_per_server) if np.ndim(total_chips) else max(
            1, int(total_chips) // self.chips_per_server)

    def decode_batch_options(self, code: int) -> tuple[int, ...]:
        """S6/S7: decode batches on decode option ``code``."""
        cap, grid = self.instance.search.max_decode_batch_size, self.instance.search.batches
        top = lambda: self.cost("decode", code).max_batch(int(units_of(code)))  # noqa: E731
        return self.shared("decode", ("batches", int(code), cap, grid),
                           lambda: batch_grid(min(top(), cap) if cap else top(), grid))

    def weight(self, objective: str, code: int, server: bool = False) -> int:
        """O4/M2: the integer weight of option ``code``: chips count 1 each (servers 0); rent, purchase and power
        are the type's price in micro-USD/h, cents and mW per unit. Hosts (S4) are priced with the chips."""
        n = int(units_of(code))
        if objective == "chips":
            return 0 if server else n
        if server and not self.decides_servers:
            return 0
        res = (self.server_resources if server else self.type_resources)[int(kind_of(code))]
        value = getattr(res, _PRICE_FIELD[objective])
        if value is None:
            what = "retrieval server" if server else "accelerator"
            raise InstanceError(f"{what} {res.name} has no {_PRICE_FIELD[objective]} ({res.source}), needed by "
                                f"objective {objective}. To fix: give it in a price file (cost.prices or --prices)")
        return n * round(value * WEIGHT_SCALE[objective])

    def scale(self, objective: str) -> int:
        """Weight units per reported unit (1 for chips)."""
        return WEIGHT_SCALE.get(objective, 1)


def _type_options(inst: Instance, stage: str, scaled) -> tuple[tuple[int, ...], str]:
    """S1 for one type: chip counts, or () with the reason."""
    sp = inst.search
    low = scaled.min_units()  # fewest chips the cost source can serve (memory, or the profiled counts)
    given = sp.chip_options.get(stage)
    if given is not None:
        if sp.chips == "pow2":
            bad = [n for n in given if n & (n - 1)]
            if bad:
                raise InstanceError(f"search.chip_options.{stage} has {bad}, not powers of two, with search.chips:"
                                    f" pow2. To fix: use powers of two or set search.chips: any")
        opts = tuple(n for n in given if low <= n <= sp.max_chips_per_stage)
        why = (f"search.chip_options.{stage} {given}: none within [{low}, max_chips_per_stage "
               f"{sp.max_chips_per_stage}] ({low} = the fewest chips its cost model serves). To fix: list counts in "
               f"that range or raise max_chips_per_stage")
    elif sp.chips == "any":
        opts = tuple(range(low, sp.max_chips_per_stage + 1))
    elif scaled.every_pow2:
        opts = pow2_upto(sp.max_chips_per_stage)  # the artifact's rule for profiled encode/rerank
    else:
        opts = tuple(n for n in scaled.unit_counts() if n <= sp.max_chips_per_stage)
    if given is None:
        why = (f"stage {stage}: its cost source serves {low} or more chips but search.max_chips_per_stage is "
               f"{sp.max_chips_per_stage}. To fix: raise search.max_chips_per_stage to at least {low}")
    return opts, why


def _chip_options(inst: Instance, costs: dict[str, tuple], types: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for stage in inst.pipeline.stage_names:
        if stage not in ACCELERATOR_STAGES:
            continue
        codes, reasons = [], []
        for k, cost in enumerate(costs[stage]):
            if cost is None:
                continue
            try:
                opts, why = _type_options(inst, stage, cost.scaled_to(inst.search.max_chips_per_stage))
            except ModelError as exc:
                if len(types) == 1:
                    raise
                opts, why = (), str(exc)
            codes += [k * STRIDE + n for n in opts]
            if not opts:
                reasons.append(why if len(types) == 1 else f"on {types[k]}: {why}")
        if not codes:
            raise InstanceError("; ".join(reasons))
        out[stage] = tuple(sorted(codes))
    return out


def _collocated_options(inst: Instance, costs: dict[str, tuple]) -> dict[str, tuple[int, ...]]:
    """S1: the codes of ``search.collocated_chip_options`` each type can serve (within the per-stage max)."""
    sp, out = inst.search, {}
    for stage, extra in sp.collocated_chip_options.items():
        if sp.chips == "pow2" and any(n & (n - 1) for n in extra):
            raise InstanceError(f"search.collocated_chip_options.{stage} has {[n for n in extra if n & (n - 1)]}, not "
                                f"powers of two, with search.chips: pow2. To fix: use powers of two or chips: any")
        codes = []
        for k, cost in enumerate(costs[stage]):
            if cost is not None:
                low = cost.scaled_to(sp.max_chips_per_stage).min_units()
                codes += [k * STRIDE + n for n in extra if low <= n <= sp.max_chips_per_stage]
        out[stage] = tuple(sorted(codes))
    return out


def _retrieval(inst: Instance, raw: tuple, max_chips: int, any_mode: bool) -> tuple[tuple, tuple[int, ...], int]:
    """S4/S9: retrieval's scaled costs per server type, its option codes (decision) and its fewest servers."""
    sp = inst.search
    if sp.retrieval_servers == "hosts":
        if len(raw) > 1:
            raise InstanceError(f"cost.cpu_server offers {len(raw)} types, but retrieval runs on the accelerators' "
                                f"hosts (search.retrieval_servers: hosts). To fix: offer one type, or set "
                                f"search.retrieval_servers: decision")
        cost = raw[0].scaled_to(max(1, max_chips // sp.chips_per_server))
        cost = any_count_cost(raw[0], cost) if any_mode else cost
        return (cost,), (), raw[0].min_servers()
    scaled, codes = [], []
    for k, cost in enumerate(raw):
        top = sp.max_retrieval_servers or 4 * cost.min_servers()
        if top < cost.min_servers():
            raise InstanceError(f"search.max_retrieval_servers {top} is below the {cost.min_servers()} servers the "
                                f"database needs ({cost.description}). To fix: raise it to >= {cost.min_servers()}")
        c = cost.scaled_to(top)
        scaled.append(any_count_cost(cost, c) if any_mode else c)
        codes += [k * STRIDE + r for r in c.server_counts() if r <= top]
    return tuple(scaled), tuple(sorted(codes)), 0


def build_space(inst: Instance) -> Space:
    """Derive the search space (S1-S9) of an instance and scale its cost tables to it."""
    sp = inst.search
    any_mode = sp.chips == "any" or sp.batches == "any"
    types = accelerator_types(inst)
    unknown = sorted(set(sp.max_chips_per_type) - set(types))
    if unknown:
        raise InstanceError(f"search.max_chips_per_type names {unknown}, not offered (cost offers {list(types)}). "
                            f"To fix: budget offered types only")
    raw = stage_costs(inst)
    options = _chip_options(inst, raw, types)
    dag = build_dag(inst.pipeline)
    draft = Space(inst, inst.pipeline.stage_names, {}, tuple(placements(dag, sp.placement)), options, 0, 0,
                  batch_grid(sp.max_batch_size, sp.batches), types,
                  collocated_options=_collocated_options(inst, raw))

    def usable(g, p) -> bool:  # S2: an accelerator group needs an option common to its members
        return bool(draft.group_chip_options(g, p)) or not any(s in ACCELERATOR_STAGES for s in g)

    apart = inst.pipeline.overlap is None or (lambda p: not any({"retrieval", "prefill"} <= set(g) for g in p))  # AP1
    allowed = tuple(p for p in draft.placements if all(usable(g, p) for g in p) and (apart is True or apart(p)))
    if not allowed:
        raise EmptySpaceError(f"placement policy {sp.placement!r} allows no placement of stages "
                              f"{list(inst.pipeline.stage_names)} whose collocated stages share a chip option. "
                              f"To fix: set search.placement: all, or give collocated stages common chip_options")
    most = max(sum(int(units_of(np.asarray(draft.group_chip_options(g, p) or (0,))).max()) for g in p)
               for p in allowed)  # S3
    min_chips, max_chips = sp.total_chips.min, min(sp.total_chips.max, most)
    if max_chips < max(min_chips, 1):
        raise EmptySpaceError(f"the most chips any placement can use is {most} (the per-stage options, at most "
                              f"search.max_chips_per_stage = {sp.max_chips_per_stage} per group), below "
                              f"search.total_chips.min = {min_chips}. To fix: lower search.total_chips.min or raise "
                              f"search.max_chips_per_stage")
    costs: dict[str, tuple] = {}
    ret_codes: tuple[int, ...] = ()
    for stage, per_type in raw.items():
        if stage == "retrieval":
            costs[stage], ret_codes, low = _retrieval(inst, per_type, max_chips, any_mode)
            min_chips = max(min_chips, sp.chips_per_server * low)
            continue
        scaled = []
        for k, cost in enumerate(per_type):
            mine = [units_of(o) for o in draft.stage_options(stage) if kind_of(o) == k]
            if cost is None or not mine:
                scaled.append(None)
                continue
            c = cost.scaled_to(int(max(mine)))
            scaled.append(any_count_cost(cost, c, memory_bound=stage == "decode") if any_mode else c)
        costs[stage] = tuple(scaled)
    if min_chips > max_chips:
        fix = (f"raise search.total_chips.max to >= {min_chips}" if max_chips == sp.total_chips.max else
               f"raise search.max_chips_per_stage (placements use at most {max_chips} chips)")
        raise EmptySpaceError(f"retrieval needs >= {min_chips} chips in total ({min_chips // sp.chips_per_server} "
                              f"servers x {sp.chips_per_server} chips) but the space allows at most {max_chips}. "
                              f"To fix: {fix}")
    acc_res, srv_res = resources(inst)
    budget = tuple(min(sp.max_chips_per_type.get(t, max_chips), max_chips) for t in types)
    return replace(draft, costs=costs, placements=allowed, min_chips=min_chips, max_chips=max_chips,
                   server_types=server_types(inst), type_resources=acc_res, server_resources=srv_res,
                   type_budget=budget, retrieval_options=ret_codes)
