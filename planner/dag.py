"""RAGSchema pipeline -> networkx DAG, and the placements (collocation groups) it allows.

Nodes are stages (attributes: ``kind``, ``accelerator`` and the stage's parameters); edges carry the data
that flows between them. Placement rules (RAGO section 6, ``docs/model.md`` section "Placement"):

- G1 a group is a run of consecutive stages along the pipeline;
- G2 decode is always alone (the main LLM's prefix and decode are disaggregated);
- G3 a multi-stage group never starts or ends with retrieval (its accelerators may wait for a retrieval
  inside it, but a group is bounded by accelerator stages);
- a placement is a split of the whole pipeline into allowed groups; "disaggregated" is the split into
  singletons, "collocated" every other split, "all" both; "llm-extension" (the RAGO paper's baseline) the one
  split with every pre-decode stage in one group with the prefix.
"""

from __future__ import annotations

from functools import lru_cache

import networkx as nx

from planner.schema import ACCELERATOR_STAGES, Pipeline

__all__ = ["Group", "Placement", "allowed_groups", "build_dag", "placements", "stage_chain"]

Group = tuple[str, ...]
Placement = tuple[Group, ...]

_EDGE_DATA = {
    "encode": "context chunk embeddings",
    "rewrite_prefill": "rewriter KV cache",
    "rewrite_decode": "rewritten query",
    "retrieval": "retrieved passages",
    "rerank": "top passages",
    "prefill": "prompt KV cache",
}


def build_dag(pipeline: Pipeline) -> nx.DiGraph:
    """The pipeline as a DAG: one node per stage, an edge per hand-off, in RAGSchema order."""
    g = nx.DiGraph(name="ragschema")
    for stage in pipeline.stages:
        params = stage.model_dump(exclude={"kind"})
        g.add_node(stage.kind, kind=stage.kind, accelerator=stage.kind in ACCELERATOR_STAGES, **params)
    names = pipeline.stage_names
    for a, b in zip(names, names[1:]):
        g.add_edge(a, b, data=_EDGE_DATA[a])
    return g


def stage_chain(dag: nx.DiGraph) -> tuple[str, ...]:
    """Stages in execution order (the DAG is a path; its unique topological order)."""
    order = tuple(nx.topological_sort(dag))
    if not nx.is_directed_acyclic_graph(dag) or any(not dag.has_edge(a, b) for a, b in zip(order, order[1:])):
        raise ValueError(f"pipeline DAG is not a chain: {order}")
    return order


def _group_ok(group: Group) -> bool:
    if len(group) == 1:
        return True
    return "decode" not in group and group[0] != "retrieval" and group[-1] != "retrieval"


def allowed_groups(dag: nx.DiGraph) -> list[Group]:
    """Every group G1-G3 allow: contiguous runs, decode alone, retrieval never at a multi-stage edge."""
    chain = stage_chain(dag)
    return [chain[i:j] for i in range(len(chain)) for j in range(i + 1, len(chain) + 1) if _group_ok(chain[i:j])]


@lru_cache(maxsize=64)
def _splits(chain: tuple[str, ...]) -> tuple[Placement, ...]:
    if not chain:
        return ((),)
    out = []
    for j in range(1, len(chain) + 1):
        head = chain[:j]
        if _group_ok(head):
            out.extend((head,) + rest for rest in _splits(chain[j:]))
    return tuple(out)


def placements(dag: nx.DiGraph, policy: str = "all") -> list[Placement]:
    """Placements of the pipeline under ``policy`` ('all', 'disaggregated', 'collocated' or 'llm-extension')."""
    chain = stage_chain(dag)
    disagg: Placement = tuple((s,) for s in chain)
    if policy == "disaggregated":
        return [disagg]
    every = list(_splits(chain))
    if policy == "collocated":
        return [p for p in every if p != disagg]
    if policy == "all":
        return every
    if policy == "llm-extension":
        one: Placement = (chain[:-1], chain[-1:])
        return [one] if one in every else []
    raise ValueError(f"unknown placement policy {policy!r}")
