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

A node is 16 bytes in one array, its two children side by side: a step reads one cache line,
where four arrays (feature, threshold, children, missing side; 40 bytes a node) read four, and
our 18,300 nodes take 290 KB rather than 730, inside a core's L2. 2026-12-05, AMD EPYC: 4.42 ->
3.61 µs/row at 2000 rows per call, 3.77 -> 2.52 at 20, the drivers' probes 23.7 -> 18.2
(loadtest/results/fraud-trees-2026-12-05/output.txt).

numba (PyPI, Anaconda's LLVM JIT) compiles the loop once per machine (cached next to this
file); scikit-learn stays the trainer and the reference. Models this cannot reproduce exactly
(categorical splits, more than two classes) keep scikit-learn's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

#: A node is two 8-byte words side by side in one array (`nodes`): its meta and its value. The
#: meta of a leaf is -1; of a split, its first child's node number << CHILD_SHIFT, 1 << 16 if a
#: missing value goes right, and the feature's index. The two children sit side by side (left,
#: then right), so a step reads one 16-byte node: one cache line, not one per array.
CHILD_SHIFT = 17
MISSING_SHIFT = 16
MISSING_RIGHT = 1 << MISSING_SHIFT
FEATURE_MASK = MISSING_RIGHT - 1


@numba.njit(cache=True, nogil=True, inline="always")
def _step(meta: np.int64, x: float, value: float) -> np.int64:  # pragma: no cover - compiled
    """The child a split sends `x` to."""
    if np.isnan(x):
        return (meta >> CHILD_SHIFT) + ((meta >> MISSING_SHIFT) & 1)
    return (meta >> CHILD_SHIFT) + np.int64(x > value)


@numba.njit(cache=True, nogil=True)
def _walk(rows: np.ndarray, starts: np.ndarray, meta: np.ndarray, value: np.ndarray,
          baseline: float) -> np.ndarray:  # pragma: no cover - compiled
    """`meta` and `value` are the node array seen as int64 and as float64: node k's meta is
    meta[2k], its threshold (a leaf's value at a leaf) value[2k + 1]."""
    n = rows.shape[0]
    out = np.full(n, baseline)
    for t in range(starts.shape[0]):
        root = starts[t]
        i = 0
        # The six lanes are written out: as an array, or as one inlined helper per lane, they
        # compiled to loops 1.3-10x slower in the probes (a helper per step is as fast).
        while i + 6 <= n:
            a, b, c, d, e, f = root, root, root, root, root, root
            ma = meta[2 * root]
            mb, mc, md, me, mf = ma, ma, ma, ma, ma
            while ma >= 0 or mb >= 0 or mc >= 0 or md >= 0 or me >= 0 or mf >= 0:
                if ma >= 0:
                    a = _step(ma, rows[i, ma & FEATURE_MASK], value[2 * a + 1])
                    ma = meta[2 * a]
                if mb >= 0:
                    b = _step(mb, rows[i + 1, mb & FEATURE_MASK], value[2 * b + 1])
                    mb = meta[2 * b]
                if mc >= 0:
                    c = _step(mc, rows[i + 2, mc & FEATURE_MASK], value[2 * c + 1])
                    mc = meta[2 * c]
                if md >= 0:
                    d = _step(md, rows[i + 3, md & FEATURE_MASK], value[2 * d + 1])
                    md = meta[2 * d]
                if me >= 0:
                    e = _step(me, rows[i + 4, me & FEATURE_MASK], value[2 * e + 1])
                    me = meta[2 * e]
                if mf >= 0:
                    f = _step(mf, rows[i + 5, mf & FEATURE_MASK], value[2 * f + 1])
                    mf = meta[2 * f]
            out[i] += value[2 * a + 1]
            out[i + 1] += value[2 * b + 1]
            out[i + 2] += value[2 * c + 1]
            out[i + 3] += value[2 * d + 1]
            out[i + 4] += value[2 * e + 1]
            out[i + 5] += value[2 * f + 1]
            i += 6
        while i < n:  # the last rows, one at a time
            a = root
            m = meta[2 * a]
            while m >= 0:
                a = _step(m, rows[i, m & FEATURE_MASK], value[2 * a + 1])
                m = meta[2 * a]
            out[i] += value[2 * a + 1]
            i += 1
    for i in range(n):
        out[i] = 1.0 / (1.0 + np.exp(-out[i]))
    return out


@numba.njit(cache=True, nogil=True)
def _walk_probes(rows: np.ndarray, values: np.ndarray, starts: np.ndarray, meta: np.ndarray,
                 value: np.ndarray, depth_max: int,
                 baseline: float) -> np.ndarray:  # pragma: no cover - compiled
    """out[i, j]: what _walk gives row i with feature j set to values[j], for every j at once.

    A probe's walk leaves the row's own path only at a node that splits on its feature and
    sends the new value the other way: each tree is walked once per row, and a probe is walked
    on from where its path turns off, if it does; every other probe takes the row's leaf. Each
    probe's sum still adds its trees' leaves in tree order: the numbers are _walk's to the bit.
    """
    n, f = rows.shape
    out = np.full((n, f), baseline)
    path = np.empty(depth_max, dtype=np.int64)  # the nodes of a path
    turned = np.zeros(f, dtype=np.bool_)  # the probe of feature j left this path already
    leaves = np.empty(f)
    for t in range(starts.shape[0]):
        root = starts[t]
        for i in range(n):
            a, depth = root, 0
            m = meta[2 * a]
            while m >= 0:
                path[depth] = a
                depth += 1
                a = _step(m, rows[i, m & FEATURE_MASK], value[2 * a + 1])
                m = meta[2 * a]
            leaves[:] = value[2 * a + 1]
            for k in range(depth):
                node = path[k]
                m = meta[2 * node]
                j = m & FEATURE_MASK
                if turned[j]:
                    continue
                went = _step(m, rows[i, j], value[2 * node + 1])
                goes = _step(m, values[j], value[2 * node + 1])
                if goes == went:
                    continue
                turned[j] = True
                b = goes
                mb = meta[2 * b]
                while mb >= 0:
                    jb = mb & FEATURE_MASK
                    b = _step(mb, values[j] if jb == j else rows[i, jb], value[2 * b + 1])
                    mb = meta[2 * b]
                leaves[j] = value[2 * b + 1]
            for k in range(depth):
                turned[meta[2 * path[k]] & FEATURE_MASK] = False
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
    nodes: np.ndarray  # int64, two words per node: its meta and its value's bits (CHILD_SHIFT)
    depth: int  # of the deepest tree: the longest path a probe walk keeps
    baseline: float

    @classmethod
    def of(cls, estimator: Any) -> CompiledTrees | None:
        """The estimator's trees, or None when this loop would not score it exactly as it does."""
        predictors = getattr(estimator, "_predictors", None)
        if (type(estimator).__name__ != "HistGradientBoostingClassifier" or not predictors
                or len(getattr(estimator, "classes_", ())) != 2
                or any(len(per_iteration) != 1 for per_iteration in predictors)):
            return None
        trees = [per_iteration[0].nodes for per_iteration in predictors]
        if any(tree["is_categorical"].any() for tree in trees):
            return None
        metas: list[int] = []
        values: list[float] = []
        starts: list[int] = []
        depth = 0
        for tree in trees:
            # Breadth first from the root, each split's two children given adjacent numbers.
            starts.append(len(metas))
            order, levels = [0], [0]
            number = {0: len(metas)}
            for position, at in enumerate(order):  # grows as it goes
                node = tree[at]
                if not node["is_leaf"]:
                    for child in (int(node["left"]), int(node["right"])):
                        number[child] = number[0] + len(order)
                        order.append(child)
                        levels.append(levels[position] + 1)
            for at in order:
                node = tree[at]
                if node["is_leaf"]:
                    metas.append(-1)
                    values.append(float(node["value"]))
                else:
                    missing = 0 if node["missing_go_to_left"] else MISSING_RIGHT
                    metas.append((number[int(node["left"])] << CHILD_SHIFT) | missing
                                 | int(node["feature_idx"]))
                    values.append(float(node["num_threshold"]))
            depth = max(depth, *levels)
        nodes = np.empty(2 * len(metas), dtype=np.int64)
        nodes[0::2] = metas
        nodes.view(np.float64)[1::2] = values
        compiled = cls(np.array(starts, dtype=np.int64), nodes, depth,
                       float(np.asarray(estimator._baseline_prediction).ravel()[0]))
        compiled.compile(int(estimator.n_features_in_))
        return compiled

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
        return _walk(rows, self.starts, self.nodes, self.nodes.view(np.float64), self.baseline)

    def probe_probability(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """(rows, features): fraud_probability of each row with feature j put back to
        values[j], for every j; the same numbers as scoring every such probe row."""
        # a value as a probe row would hold it: in the rows' own type first
        values = np.asarray(values).astype(rows.dtype).astype(np.float64)
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        return _walk_probes(rows, values, self.starts, self.nodes, self.nodes.view(np.float64),
                            self.depth, self.baseline)
