"""A promoted model is used without a restart (the daemon checks the file and reloads on SIGHUP)."""

from __future__ import annotations

import os
import shutil

import pytest

from ingestd.errors import ConfigError
from ingestd.services import ModelHolder
from tests.support import REPO
from triage import Classifier


def test_holder_swaps_in_a_promoted_model(tmp_path):
    path = tmp_path / "current.skops"
    shutil.copy(REPO / "models" / "current.skops", path)
    holder = ModelHolder(path)
    first = holder.get()
    assert holder.reload_if_changed() is False  # unchanged file: the same model stays

    promoted = Classifier(first.category_model, first.severity_model, "promoted-version")
    promoted.save(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    assert holder.reload_if_changed() is True
    assert holder.get().version == "promoted-version"
    result = holder.get().classify("Charged twice", "You took my payment twice, refund it.")
    assert result.model_version == "promoted-version"


def test_a_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="train one with: ingestd train --promote"):
        ModelHolder(tmp_path / "nope.skops").get()
