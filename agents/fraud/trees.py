"""A fitted gradient-boosted tree ensemble scored by one compiled loop, as scikit-learn scores it.

scikit-learn's HistGradientBoostingClassifier.predict_proba validates its input and then calls
its compiled predictor once per tree: ~5 µs of Python per tree, so ~2 ms per call for our 300
trees however few rows a batch has, and a worker calls it twice per batch (scores, then the
drivers' probes). Measured 2026-11-30 (one thread): 27.5 µs/row at 100 rows, 12.7 at 500.
Here every tree's nodes sit in flat arrays and one numba-compiled loop walks all trees for
all rows, with the same results to the last bit (same float64 comparisons, same missing-value
rule, leaf values summed per row in the same tree order, the same sigmoid).

The loop walks each tree for six rows at once. A walk is a chain of dependent loads (node,
its feature's value, the comparison, the child) with a branch the CPU cannot predict; six
independent chains keep the core busy while one waits. 2026-12-02, Intel Xeon, our 300 trees of
31 leaves on generated traffic: 7.2 -> 3.9 µs/row at 1000 rows per call, 4.7 -> 3.3 at 20
(loadtest/results/fraud-trees-2026-12-02/; in the probes before it, four rows at a time gained
less and eight no more).

numba (PyPI, Anaconda's LLVM JIT) compiles the loop once per machine (cached next to this
file); scikit-learn stays the trainer and the reference. Models this cannot reproduce exactly
(categorical splits, more than two classes) keep scikit-learn's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _walk(rows: np.ndarray, starts: np.ndarray, feature: np.ndarray, threshold: np.ndarray,
          children: np.ndarray, missing_right: np.ndarray,
          baseline: float) -> np.ndarray:  # pragma: no cover - compiled
    """A leaf's feature is -1 and its threshold slot holds its value; children[node] is (left,
    right) as node numbers; a missing value (NaN) goes right where missing_right says so."""
    n = rows.shape[0]
    out = np.full(n, baseline)
    for t in range(starts.shape[0]):
        root = starts[t]
        i = 0
        # The six lanes are written out: the same step as an inlined helper function, or the
        # lanes as an array, compiled to loops 1.3-10x slower in the probes.
        while i + 6 <= n:
            a, b, c, d, e, f = root, root, root, root, root, root
            fa = feature[root]
            fb, fc, fd, fe, ff = fa, fa, fa, fa, fa
            while fa >= 0 or fb >= 0 or fc >= 0 or fd >= 0 or fe >= 0 or ff >= 0:
                if fa >= 0:
                    x = rows[i, fa]
                    a = children[a, missing_right[a] if np.isnan(x) else np.int64(x > threshold[a])]
                    fa = feature[a]
                if fb >= 0:
                    x = rows[i + 1, fb]
                    b = children[b, missing_right[b] if np.isnan(x) else np.int64(x > threshold[b])]
                    fb = feature[b]
                if fc >= 0:
                    x = rows[i + 2, fc]
                    c = children[c, missing_right[c] if np.isnan(x) else np.int64(x > threshold[c])]
                    fc = feature[c]
                if fd >= 0:
                    x = rows[i + 3, fd]
                    d = children[d, missing_right[d] if np.isnan(x) else np.int64(x > threshold[d])]
                    fd = feature[d]
                if fe >= 0:
                    x = rows[i + 4, fe]
                    e = children[e, missing_right[e] if np.isnan(x) else np.int64(x > threshold[e])]
                    fe = feature[e]
                if ff >= 0:
                    x = rows[i + 5, ff]
                    f = children[f, missing_right[f] if np.isnan(x) else np.int64(x > threshold[f])]
                    ff = feature[f]
            out[i] += threshold[a]
            out[i + 1] += threshold[b]
            out[i + 2] += threshold[c]
            out[i + 3] += threshold[d]
            out[i + 4] += threshold[e]
            out[i + 5] += threshold[f]
            i += 6
        while i < n:  # the last rows, one at a time
            a = root
            while feature[a] >= 0:
                x = rows[i, feature[a]]
                a = children[a, missing_right[a] if np.isnan(x) else np.int64(x > threshold[a])]
            out[i] += threshold[a]
            i += 1
    for i in range(n):
        out[i] = 1.0 / (1.0 + np.exp(-out[i]))
    return out


@numba.njit(cache=True, nogil=True)
def _walk_probes(rows: np.ndarray, values: np.ndarray, starts: np.ndarray, feature: np.ndarray,
                 threshold: np.ndarray, children: np.ndarray, missing_right: np.ndarray,
                 baseline: float) -> np.ndarray:  # pragma: no cover - compiled
    """out[i, j]: what _walk gives row i with feature j set to values[j], for every j at once.

    A probe's walk leaves the row's own path only at a node that splits on its feature and
    sends the new value the other way: each tree is walked once per row, and a probe is walked
    on from where its path turns off, if it does; every other probe takes the row's leaf. Each
    probe's sum still adds its trees' leaves in tree order: the numbers are _walk's to the bit.
    """
    n, f = rows.shape
    out = np.full((n, f), baseline)
    # the nodes of a path, no longer than the deepest tree
    path = np.empty(feature.shape[0], dtype=np.int64)
    turned = np.zeros(f, dtype=np.bool_)  # the probe of feature j left this path already
    leaves = np.empty(f)
    for t in range(starts.shape[0]):
        root = starts[t]
        for i in range(n):
            a, depth = root, 0
            while feature[a] >= 0:
                path[depth] = a
                depth += 1
                x = rows[i, feature[a]]
                a = children[a, missing_right[a] if np.isnan(x) else np.int64(x > threshold[a])]
            leaves[:] = threshold[a]
            for m in range(depth):
                node = path[m]
                j = feature[node]
                if turned[j]:
                    continue
                x, v = rows[i, j], values[j]
                went = missing_right[node] if np.isnan(x) else np.int64(x > threshold[node])
                goes = missing_right[node] if np.isnan(v) else np.int64(v > threshold[node])
                if goes == went:
                    continue
                turned[j] = True
                b = children[node, goes]
                while feature[b] >= 0:
                    x = v if feature[b] == j else rows[i, feature[b]]
                    b = children[b, missing_right[b] if np.isnan(x) else np.int64(x > threshold[b])]
                leaves[j] = threshold[b]
            for m in range(depth):
                turned[feature[path[m]]] = False
            for j in range(f):
                out[i, j] += leaves[j]
    for i in range(n):
        for j in range(f):
            out[i, j] = 1.0 / (1.0 + np.exp(-out[i, j]))
    return out


@dataclass(frozen=True)
class CompiledTrees:
    """The ensemble's nodes, every tree's back to back (as _walk reads them)."""

    starts: np.ndarray  # first node of each tree
    feature: np.ndarray  # -1 at a leaf
    threshold: np.ndarray  # a leaf's value at a leaf
    children: np.ndarray  # (left, right) node numbers
    missing_right: np.ndarray
    baseline: float

    @classmethod
    def of(cls, estimator: Any) -> CompiledTrees | None:
        """The estimator's trees, or None when this loop would not score it exactly as it does."""
        predictors = getattr(estimator, "_predictors", None)
        if (type(estimator).__name__ != "HistGradientBoostingClassifier" or not predictors
                or len(getattr(estimator, "classes_", ())) != 2
                or any(len(per_iteration) != 1 for per_iteration in predictors)):
            return None
        nodes = [per_iteration[0].nodes for per_iteration in predictors]
        if any(tree["is_categorical"].any() for tree in nodes):
            return None
        sizes = np.array([len(tree) for tree in nodes], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        every = np.concatenate(nodes)
        leaf = every["is_leaf"].astype(np.bool_)
        offset = np.repeat(starts, sizes)  # scikit-learn numbers a child within its tree
        trees = cls(
            starts=starts,
            feature=np.where(leaf, -1, every["feature_idx"]).astype(np.int64),
            threshold=np.where(leaf, every["value"], every["num_threshold"]).astype(np.float64),
            children=np.stack([every["left"] + offset, every["right"] + offset],
                              axis=1).astype(np.int64),
            missing_right=(~every["missing_go_to_left"].astype(np.bool_)).astype(np.int64),
            baseline=float(np.asarray(estimator._baseline_prediction).ravel()[0]),
        )
        trees.compile(int(estimator.n_features_in_))
        return trees

    def compile(self, features: int) -> None:
        """Compile both loops now (or load them from numba's cache), for the argument types the
        hot path passes (every array is converted to them first). Left to the first batch, a
        machine's first compile took ~1.7 s of each worker's CPU inside a bench's max-rate phase
        (py-spy, 2026-12-03), and held that batch back as long."""
        row = np.zeros((1, features))
        self.fraud_probability(row)
        self.probe_probability(row, np.zeros(features))

    def fraud_probability(self, rows: np.ndarray) -> np.ndarray:
        """What predict_proba(rows)[:, 1] returns."""
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        return _walk(rows, self.starts, self.feature, self.threshold, self.children,
                     self.missing_right, self.baseline)

    def probe_probability(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """(rows, features): fraud_probability of each row with feature j put back to
        values[j], for every j; the same numbers as scoring every such probe row."""
        # a value as a probe row would hold it: in the rows' own type first
        values = np.asarray(values).astype(rows.dtype).astype(np.float64)
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        return _walk_probes(rows, values, self.starts, self.feature, self.threshold,
                            self.children, self.missing_right, self.baseline)
