"""Safe model files: skops, with an explicit allow-list of the types a model may contain.

On disk a model is a dict ``{"format", "version", "metadata", "features", "vocabularies",
"category", "severity", "escalation"}``: the feature unions once each (the tasks usually share
one), their vocabularies as compact string arrays (a dict of 40,000 terms takes skops tens of
seconds to load), and per task the index of its union plus the fitted classifier
(``escalation`` may be ``None``: a model without one escalates on severity and rules alone).

Loading first asks skops which types in the file are not trusted by default and refuses the file
if any of them is outside ``TRUSTED_TYPES``; nothing in it is executed before that check.
"""

import copy
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.pipeline import FeatureUnion, Pipeline

FORMAT = 2
TASKS = ("category", "severity", "escalation")
REQUIRED_KEYS = ("format", "version", "features", "vocabularies", *TASKS)

# Types skops does not trust by default that a triage model may contain. A model is TF-IDF and
# logistic regressions, all trusted by default; extend deliberately, one named type at a time.
TRUSTED_TYPES: frozenset[str] = frozenset()


class UntrustedModelError(ValueError):
    """The model file contains types outside the allow-list; it was not loaded."""


class ModelFormatError(ValueError):
    """The file is a valid skops file but not an ingestd triage model."""


@dataclass(frozen=True)
class LoadedModel:
    """What a model file holds, with the pipelines rebuilt."""

    category: Pipeline
    severity: Pipeline
    escalation: Pipeline | None
    version: str
    metadata: dict[str, Any]


def check_trusted(path: Path) -> list[str]:
    """The file's non-default types, all of which are allowed; raise otherwise."""
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ModelFormatError(f"{path} is not a skops model file: {exc}") from exc
    refused = sorted(set(untrusted) - TRUSTED_TYPES)
    if refused:
        raise UntrustedModelError(
            f"refusing to load {path}: it contains types that are not on the trusted list "
            f"({', '.join(refused)}); retrain the model with 'ingestd train' instead"
        )
    return list(untrusted)


def _strip_vocabularies(union: FeatureUnion) -> tuple[FeatureUnion, list[Any]]:
    """A shallow copy of ``union`` without vocabularies, and the vocabularies as arrays."""
    stripped, arrays = copy.copy(union), []
    vectorizers = []
    for name, vectorizer in union.transformer_list:
        clone = copy.copy(vectorizer)
        terms = sorted(clone.vocabulary_, key=clone.vocabulary_.__getitem__)
        arrays.append(np.array(terms, dtype=str))
        del clone.vocabulary_
        vectorizers.append((name, clone))
    stripped.transformer_list = vectorizers
    return stripped, arrays


def _restore_vocabularies(union: FeatureUnion, arrays: list[Any]) -> FeatureUnion:
    for (_, vectorizer), terms in zip(union.transformer_list, arrays, strict=True):
        vectorizer.vocabulary_ = {str(t): i for i, t in enumerate(terms.tolist())}
    return union


def pack(
    pipelines: dict[str, Pipeline | None], version: str, metadata: dict[str, Any],
) -> dict[str, Any]:
    """The on-disk dict for the task pipelines, storing a shared feature union once."""
    unions: list[FeatureUnion] = []
    bundle: dict[str, Any] = {"format": FORMAT, "version": version, "metadata": metadata}
    for task in TASKS:
        pipeline = pipelines.get(task)
        if pipeline is None:
            bundle[task] = None
            continue
        union = pipeline.steps[0][1]
        if not any(u is union for u in unions):
            unions.append(union)
        index = next(i for i, u in enumerate(unions) if u is union)
        bundle[task] = {"features": index, "classifier": pipeline.steps[-1][1]}
    stripped = [_strip_vocabularies(u) for u in unions]
    bundle["features"] = [u for u, _ in stripped]
    bundle["vocabularies"] = [arrays for _, arrays in stripped]
    return bundle


def unpack(bundle: dict[str, Any]) -> LoadedModel:
    """Rebuild the pipelines from the on-disk dict."""
    unions = [
        _restore_vocabularies(u, arrays)
        for u, arrays in zip(bundle["features"], bundle["vocabularies"], strict=True)
    ]
    pipes = {
        task: Pipeline([
            ("features", unions[bundle[task]["features"]]),
            ("classifier", bundle[task]["classifier"]),
        ])
        for task in TASKS if bundle[task] is not None
    }
    metadata = dict(bundle.get("metadata") or {})
    return LoadedModel(pipes["category"], pipes["severity"], pipes.get("escalation"),
                       str(bundle["version"]), metadata)


def load_model(path: Path) -> LoadedModel:
    """Load and validate a model file."""
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist; run 'ingestd train' first")
    bundle = sio.load(path, trusted=check_trusted(path))
    if not isinstance(bundle, dict) or "format" not in bundle:
        raise ModelFormatError(f"{path} is not an ingestd triage model")
    if bundle["format"] != FORMAT:
        raise ModelFormatError(f"{path} has model format {bundle['format']}, expected {FORMAT}; "
                               "retrain it with 'ingestd train'")
    if any(k not in bundle for k in REQUIRED_KEYS):
        raise ModelFormatError(f"{path} is not an ingestd triage model")
    return unpack(bundle)


def save_model(bundle: dict[str, Any], path: Path) -> None:
    """Dump to a temporary file beside ``path`` and move it into place atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        sio.dump(bundle, tmp, compression=zipfile.ZIP_DEFLATED)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
