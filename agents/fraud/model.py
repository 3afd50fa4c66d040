"""Versioned fraud models on disk: load, verify, score batches, name the features behind a score.

A model lives in `<models dir>/fraud-vNNNN/`: `model.joblib` (the fitted scikit-learn
estimator) and `manifest.json` (feature list, thresholds, training-data hash, metrics, the
SHA-256 of model.joblib). Training writes the folder under a temporary name and renames it, so
a reader sees a whole model or none. joblib files are pickles: load models only from a folder
you trust, as you would code; the checksum catches a truncated or swapped file, not an attacker.

The registry picks up a newer version without a restart: it lists the folder at most every
`check_every_s` seconds, and loads a new version between batches. Which version is active when
the settings say `latest`: the one `paystream model promote` named last (PROMOTED_FILE, written
atomically, every promotion also appended to PROMOTIONS_LOG with who and when), else the newest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from agents.fraud.features import FEATURES
from agents.fraud.trees import CompiledTrees
from streams.errors import ConfigError, PaystreamError

log = logging.getLogger(__name__)

VERSION_PATTERN = re.compile(r"^fraud-v(\d{4,})$")
MODEL_FILE, MANIFEST_FILE = "model.joblib", "manifest.json"
PROMOTED_FILE, PROMOTIONS_LOG = "promoted.json", "promotions.jsonl"
LATEST = "latest"
#: How many features to name as the drivers of a flagged score.
DRIVERS_MAX = 3


class ModelError(PaystreamError):
    """A model folder is incomplete, corrupt or built for other features."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    review: float
    decline: float


@dataclass
class Model:
    version: str
    estimator: Any
    thresholds: Thresholds
    #: Per feature, a typical legitimate value: a driver is a feature whose own value, put back
    #: to this, lowers the score the most.
    baseline: np.ndarray
    manifest: dict[str, Any]
    #: The same trees in one compiled loop (agents/fraud/trees.py), when it scores them exactly.
    compiled: CompiledTrees | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.compiled = CompiledTrees.of(self.estimator)

    def score(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        if self.compiled is not None:
            return self.compiled.fraud_probability(rows)
        return self.estimator.predict_proba(rows)[:, 1]

    def drivers(self, rows: np.ndarray, scores: np.ndarray) -> list[list[str]]:
        """The features that drove each row's score up, most first: for each feature, the score
        with that feature alone put back to its typical legitimate value (one batched predict;
        compiled trees walk only where such a probe leaves the row's own path, ~5x less)."""
        if len(rows) == 0:
            return []
        if self.compiled is not None:
            lowered = self.compiled.probe_probability(rows, self.baseline)
        else:
            n, f = rows.shape
            probes = np.repeat(rows, f, axis=0).reshape(n, f, f)
            probes[:, np.arange(f), np.arange(f)] = self.baseline  # probe j resets feature j
            lowered = self.score(probes.reshape(n * f, f)).reshape(n, f)
        drop = scores[:, None] - lowered
        order = np.argsort(-drop, axis=1)[:, :DRIVERS_MAX]
        return [[f"feature:{FEATURES[j]}" for j in row if drop[i, j] > 0.01]
                for i, row in enumerate(order)]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_model(folder: Path) -> Model:
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder}: no readable {MANIFEST_FILE}: {exc}") from exc
    trained_on = tuple(manifest.get("features", ()))
    if trained_on != FEATURES:
        added = [f for f in FEATURES if f not in trained_on]
        dropped = [f for f in trained_on if f not in FEATURES]
        raise ModelError(f"{folder}: trained on {len(trained_on)} features, this build computes "
                         f"{len(FEATURES)} (new: {', '.join(added) or 'none'}; gone: "
                         f"{', '.join(dropped) or 'none'}{'' if added or dropped else '; order differs'})"
                         f"; retrain with `paystream train`")
    model_path = folder / MODEL_FILE
    if not model_path.exists() or file_sha256(model_path) != manifest.get("model_sha256"):
        raise ModelError(f"{folder}: {MODEL_FILE} is missing or does not match the manifest's "
                         f"checksum")
    thresholds = Thresholds(**manifest["thresholds"])
    baseline = np.asarray(manifest["baseline"], dtype=np.float32)
    return Model(manifest["version"], joblib.load(model_path), thresholds, baseline, manifest)


def versions(directory: Path) -> list[str]:
    """Complete model folders in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(m[1]), entry.name) for entry in directory.iterdir()
             if (m := VERSION_PATTERN.match(entry.name)) and (entry / MANIFEST_FILE).exists()]
    return [name for _, name in sorted(found)]


def promoted(directory: Path) -> str | None:
    """The version last promoted in `directory`, if any (and still there)."""
    try:
        version = json.loads((directory / PROMOTED_FILE).read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if (directory / version / MANIFEST_FILE).exists() else None


def resolve_latest(directory: Path, role: str = "active") -> str | None:
    """The version `latest` names in `directory`: for the active model the promoted one when
    there is one, else the newest; for the shadow always the newest (the candidate watched)."""
    found = versions(directory)
    chosen = promoted(directory) if role == "active" else None
    return chosen or (found[-1] if found else None)


def promote(directory: Path, version: str, by: str, now_s: float | None = None) -> dict[str, Any]:
    """Make `version` the active one for every registry following `latest` (they pick it up at
    their next check, without a restart); record who and when. The model is loaded first, so a
    broken or incompatible version is refused rather than promoted."""
    if not VERSION_PATTERN.match(version):
        raise ConfigError(f"{version!r}: expected a version such as fraud-v0003")
    load_model(directory / version)  # raises ModelError naming what is wrong
    record = {"version": version, "previous": resolve_latest(directory),
              "promoted_by": by,
              "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_s))}
    staging = directory / f".{PROMOTED_FILE}.tmp"
    staging.write_text(json.dumps(record) + "\n")
    staging.replace(directory / PROMOTED_FILE)
    with (directory / PROMOTIONS_LOG).open("a") as log_file:
        log_file.write(json.dumps(record) + "\n")
    return record


def next_version(directory: Path) -> str:
    existing = versions(directory)
    number = int(VERSION_PATTERN.match(existing[-1])[1]) + 1 if existing else 1  # type: ignore[index]
    return f"fraud-v{number:04d}"


class _Slot:
    """One configured model (a version name, or the latest), reloaded when a newer one lands."""

    def __init__(self, directory: Path, wanted: str, role: str) -> None:
        self.directory, self.wanted, self.role = directory, wanted, role
        self.model: Model | None = None

    def refresh(self) -> None:
        name = resolve_latest(self.directory, self.role) if self.wanted == LATEST else self.wanted
        if name is None or (self.model is not None and self.model.version == name):
            return
        try:
            model = load_model(self.directory / name)
        except ModelError as exc:
            if self.model is None and self.wanted != LATEST:
                raise
            log.error("%s model %s not loaded, keeping %s: %s", self.role, name,
                      self.model.version if self.model else "none", exc)
            return
        log.info("%s model %s loaded (%s; review at score >= %.4f, decline >= %.4f)", self.role,
                 model.version, type(model.estimator).__name__, model.thresholds.review,
                 model.thresholds.decline)
        self.model = model


class ModelRegistry:
    """The active model (acts on decisions) and an optional shadow (scored, recorded, inert)."""

    def __init__(self, directory: Path, active: str = LATEST, shadow: str | None = None,
                 check_every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        for wanted in (active, shadow):
            if wanted is not None and wanted != LATEST and not VERSION_PATTERN.match(wanted):
                raise ConfigError(f"model {wanted!r}: expected '{LATEST}' or a folder name like "
                                  f"fraud-v0001")
        self._slots = [_Slot(directory, active, "active")]
        if shadow:
            self._slots.append(_Slot(directory, shadow, "shadow"))
        self._check_every_s = check_every_s
        self._clock = clock
        self._checked_at = clock()
        try:
            for slot in self._slots:
                slot.refresh()
        except ModelError as exc:
            raise ConfigError(f"{exc} (set PAYSTREAM_MODEL / PAYSTREAM_SHADOW_MODEL to a "
                              f"version in {directory})") from exc

    def _maybe_refresh(self) -> None:
        now = self._clock()
        if now - self._checked_at >= self._check_every_s:
            self._checked_at = now
            for slot in self._slots:
                slot.refresh()

    def active(self) -> Model | None:
        self._maybe_refresh()
        return self._slots[0].model

    def shadow(self) -> Model | None:
        return self._slots[1].model if len(self._slots) > 1 else None


class FixedModels:
    """A registry of given models (offline replays, tests)."""

    def __init__(self, active: Model | None, shadow: Model | None = None) -> None:
        self._active, self._shadow = active, shadow

    def active(self) -> Model | None:
        return self._active

    def shadow(self) -> Model | None:
        return self._shadow
