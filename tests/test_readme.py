"""The README's curl examples, run in order against a real server: they stay true."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import METRICS_KEY
from tests.live import Server

README = Path(__file__).resolve().parents[1] / "README.md"


def api_examples() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Using the API") : text.index("### Errors")]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [b for b in blocks if "curl" in b]


@pytest.fixture
def server(live_server: Server) -> tuple[Server, str]:
    """The session's shared server, with a key of a tenant of this test's own."""
    return live_server, live_server.key_for("readme")


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_readme_curl_examples_run(server: tuple[Server, str], tmp_path: Path) -> None:
    live, key = server
    examples = api_examples()
    assert len(examples) >= 8
    env = os.environ | {"TAILOR": live.url, "KEY": key, "TAILOR_METRICS_KEY": METRICS_KEY}
    for block in examples:
        lines = [ln for ln in block.splitlines() if not ln.startswith("export ")]
        script = "set -euo pipefail\n" + "\n".join(lines)
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{block}\n{result.stdout}\n{result.stderr}"
    exported = (tmp_path / "dana.jsonl").read_text()
    assert '"type": "interaction"' in exported and "budget review" in exported
