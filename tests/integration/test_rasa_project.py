"""The Rasa project's own checks, with the real Rasa in .venv-rasa."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}


def test_rasa_data_validate_is_clean() -> None:
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
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
