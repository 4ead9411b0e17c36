"""Values declared once: C3PO's adapter options (API, training, CLI, README) and the version."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import re
from pathlib import Path

from click.testing import CliRunner

from learners.c3po.dataset import build_dataset
from learners.c3po.jobs import AdapterRequest
from learners.c3po.options import NEAR_THRESHOLD, AdapterOptions, TrainingFields
from learners.c3po.train import TrainOptions
from service.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"
FIELDS = AdapterOptions.model_fields


def readme_adapter_defaults() -> dict[str, str]:
    """``option -> default`` from the README's table of adapter options."""
    text = README.read_text()
    section = text[text.index("## Per-user adapters (C3PO)") :]
    section = section[: section.index("\n## ", 1)]
    table = section[section.index("| option | default |") :].split("\n\n")[0]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", table, flags=re.M)
    assert rows, "no adapter options table in the README's C3PO section"
    return dict(rows)


def test_the_readme_lists_every_adapter_option_with_its_default() -> None:
    documented = readme_adapter_defaults()
    assert set(documented) == set(FIELDS)
    for name, field in FIELDS.items():
        assert documented[name] == json.dumps(field.default), name
    # The prose of the section agrees too.
    text = README.read_text()
    prose = re.search(r"cosine >= `threshold`,\s+default ([\d.]+)\)", text)
    assert prose is not None and float(prose.group(1)) == FIELDS["threshold"].default


def test_the_cli_help_shows_every_option_with_its_default() -> None:
    result = CliRunner().invoke(cli, ["adapters", "train", "--help"])
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())  # help text is wrapped at any space
    for name, field in FIELDS.items():
        flag = f"--{name.replace('_', '-')}"
        assert flag in shown, flag
        assert field.description and " ".join(field.description.split()[:4]) in shown, name
        if field.default is not None:
            assert re.search(rf"{flag} .*?\[default: {field.default}[;\]]", shown), flag


def test_the_cli_passes_its_options_through_the_model(tmp_path: Path) -> None:
    # Out of bounds: refused by click with the model's bounds, before anything loads.
    result = CliRunner().invoke(
        cli, ["adapters", "train", "--user", "u", "--rank", "65", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "1<=x<=64" in result.output


def test_every_declaration_derives_from_adapter_options() -> None:
    assert issubclass(AdapterRequest, AdapterOptions)
    assert issubclass(TrainOptions, TrainingFields) and issubclass(AdapterOptions, TrainingFields)
    request = AdapterRequest(feedback_id="fb_1")
    for name, field in FIELDS.items():
        assert getattr(request, name) == field.default
    train = TrainOptions(**request.training())
    for name in TrainingFields.model_fields:
        assert repr(TrainOptions.model_fields[name]) == repr(TrainingFields.model_fields[name])
        assert getattr(train, name) == FIELDS[name].default
    parameters = inspect.signature(build_dataset).parameters
    assert parameters["threshold"].default == FIELDS["threshold"].default
    assert parameters["near_threshold"].default == NEAR_THRESHOLD
    for name, field in FIELDS.items():
        assert field.description, f"{name} has no help text"


def test_the_version_comes_from_the_package_metadata() -> None:
    from service.app import VERSION

    version = importlib.metadata.version("tailor")
    assert version == VERSION
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"tailor, version {version}"
