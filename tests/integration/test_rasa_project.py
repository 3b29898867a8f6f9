"""The Rasa project's own checks, with the real Rasa in .venv-rasa."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}


def test_rasa_data_validate_is_clean(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(RASA),
            "data",
            "validate",
            "--domain",
            "domain",
            "--data",
            "data",
            "--config",
            "config.yml",
            "--fail-on-warnings",
        ],
        cwd=ROOT / "assistant",
        env=ENV | {"RASA_CACHE_DIRECTORY": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_conversation_stories_pass(tmp_path: Path) -> None:
    from channels.launcher import ensure_model

    model = ensure_model()  # `make test` has trained it already; this only finds it
    result = subprocess.run(
        [
            str(RASA),
            "test",
            "core",
            "--model",
            str(model),
            "--stories",
            "tests/test_stories.yml",
            "--fail-on-prediction-errors",
            "--out",
            str(tmp_path / "results"),
        ],
        cwd=ROOT / "assistant",
        env=ENV | {"RASA_CACHE_DIRECTORY": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
