"""The solver rows of a search space (``planner.space.Space`` inherits them): Q1 latencies in whole picoseconds per
stage, option and batch, computed once per space (and once per cost model across a design's variants, K5), and
values derived from a stage's rows alone (``shared``)."""

from __future__ import annotations

import numpy as np

from planner.exact import to_ps

__all__ = ["STRIDE", "SolverRows", "kind_of", "units_of"]

#: Option codes: o = k * STRIDE + n stands for n units (chips, or servers) of the k-th offered type.
STRIDE = 1 << 20


def units_of(code):
    """Chips (or servers) of an option code (scalar or array)."""
    return code % STRIDE


def kind_of(code):
    """Type index of an option code (scalar or array)."""
    return code // STRIDE


class SolverRows:
    """Methods over a space's ``costs`` and its caches ``_row_cache``, ``_point_cache``, ``_row_links``, ``_shared``."""

    def latency_ps(self, stage: str, code: int, batch: np.ndarray | float) -> np.ndarray:
        """Q1: the latency of one batch of ``stage`` on option ``code`` (chips, or retrieval servers, of one type),
        in whole picoseconds (an int64 array, 0-d for a scalar batch); every solver and the evaluator use these."""
        return to_ps(self.cost(stage, code).latency_s(int(units_of(code)), batch))

    def latency_row(self, stage: str, code: int, batches: tuple[int, ...]) -> np.ndarray:
        """``latency_ps`` over a tuple of batches, computed once per space (solvers re-planning under other SLOs,
        e.g. a purchase search, reuse it); a read-only int64 array."""
        if stage in self._row_links:
            return self._row_links[stage].latency_row(stage, code, batches)
        key = (stage, int(code), batches)
        if key not in self._row_cache:
            row = np.asarray(self.latency_ps(stage, code, np.asarray(batches, dtype=np.float64)),
                             dtype=np.int64).reshape(-1)
            row.setflags(write=False)
            self._row_cache[key] = row
        return self._row_cache[key]

    def share_rows(self, other: "Space") -> None:
        """K5: take ``other``'s solver rows of every stage whose cost models equal this space's (a design's variants
        differ in a few stages); the evaluator's ``latency_at`` stays each space's own."""
        self._row_links.update({s: other for s in self.costs if s not in self._row_links and s in other.costs
                                and self.costs[s] == other.costs[s]})

    def shared(self, stage: str, key: tuple, make):
        """``make()``, a value of ``stage``'s cost model and ``key`` alone, once per cost model: kept by the space
        computing the stage's rows (``share_rows``: a design's variants share e.g. the decode book, K5)."""
        if stage in self._row_links:
            return self._row_links[stage].shared(stage, key, make)
        if (stage, key) not in self._shared:
            self._shared[(stage, key)] = make()
        return self._shared[(stage, key)]

    def latency_at(self, stage: str, code: int, batch: int) -> int:
        """``latency_ps`` of one batch size, remembered per space (the evaluator's path: scalar batches, computed
        apart from the solvers' rows)."""
        key = (stage, int(code), int(batch))
        if key not in self._point_cache:
            self._point_cache[key] = int(self.latency_ps(stage, code, batch))
        return self._point_cache[key]

    def latency_rows(self, stage: str, codes, batches: tuple[int, ...], progress=None) -> np.ndarray:
        """``latency_row`` of several options, stacked (len(codes), len(batches)): where the cost model computes
        several chip counts at once (``latency_rows_s``) one pass serves a type's options (the same integers);
        a row that does not fit is left to ``latency_row`` (its cost model's error), and so is every row where the
        model does not (``progress`` then hears of each option)."""
        if stage in self._row_links:
            return self._row_links[stage].latency_rows(stage, codes, batches, progress)
        codes = [int(c) for c in codes]
        todo = [c for c in dict.fromkeys(codes) if (stage, c, batches) not in self._row_cache]
        for kind in sorted({int(kind_of(c)) for c in todo}):
            mine = [c for c in todo if kind_of(c) == kind]
            many = getattr(self.cost(stage, mine[0]), "latency_rows_s", None)
            lat = many([units_of(c) for c in mine], np.asarray(batches, dtype=np.float64)) \
                if many is not None and len(mine) > 1 else None
            for c, row in zip(mine, lat if lat is not None else []):
                if np.all(np.isfinite(row)):
                    got = np.asarray(to_ps(row), dtype=np.int64).reshape(-1)
                    got.setflags(write=False)
                    self._row_cache[(stage, c, batches)] = got
        rows = []
        for i, c in enumerate(codes):
            if progress and (stage, c, batches) not in self._row_cache:
                progress(f"stage costs: {stage}, option {i + 1}/{len(codes)}")
            rows.append(self.latency_row(stage, c, batches))
        return np.stack(rows) if rows else np.zeros((0, len(batches)), dtype=np.int64)
