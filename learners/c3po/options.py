"""The C3PO hyper-parameters a caller chooses, declared once.

``AdapterOptions`` is the single declaration of every adapter option a client
can set, with its type, bounds, default and help text. Everything else derives
from it:

- the API body (``learners.c3po.jobs.AdapterRequest``) extends it with what to
  train on (a feedback id or preference ids);
- ``learners.c3po.train.TrainOptions`` extends ``TrainingFields`` (the part of
  these options that training itself reads) with the knobs only code sets;
- ``tailor adapters train`` builds one click option per field (name, type,
  bounds, default, help: ``service.cli``);
- ``learners.c3po.dataset.build_dataset`` takes its scope threshold default
  from here, and the README's table of defaults is checked against these
  fields by the tests.

Only pydantic is imported here, so the CLI can read the fields cheaply.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Cosine to the feedback below which a context is out of scope (near scope is from
#: here up to ``threshold``), calibrated like ``threshold`` for all-MiniLM-L6-v2: unrelated
#: contexts score <= 0.12 against an instruction-like feedback. Not a request option.
NEAR_THRESHOLD = 0.12


class TrainingFields(BaseModel):
    """The options that training reads (shared with ``TrainOptions``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    steps: int = Field(20, ge=1, le=5000, description="Optimizer steps.")
    rank: int = Field(8, ge=1, le=64, description="LoRA rank (vLLM serves up to 16 by default).")
    seed: int = Field(
        0,
        ge=0,
        le=2**32 - 1,
        description="Seeds the data split, the LoRA init, the batch order and generation.",
    )

    def training(self) -> dict[str, Any]:
        """Just the ``TrainingFields`` of this object, for ``TrainOptions(**...)``."""
        return {name: getattr(self, name) for name in TrainingFields.model_fields}


class AdapterOptions(TrainingFields):
    """Every adapter option a client may set (API body, CLI), with its default."""

    base_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        # Folder names only: no NUL, no '..' (checked again where the folder is resolved).
        pattern=r"^[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*)*$",
        description="A Hugging Face causal LM folder inside the models directory "
        "(TAILOR_MODELS_DIR); default: SmolLM2-135M-Instruct, converted once from the "
        "packaged GGUF.",
    )
    threshold: float = Field(
        0.25,
        ge=-1,
        le=1,
        description="Cosine to the feedback above which a context is in scope (calibrated "
        "for all-MiniLM-L6-v2: an instruction such as 'use bullet points in emails' scores "
        "0.14-0.48 against email contexts and <= 0.12 against unrelated ones).",
    )


def default_of(name: str) -> Any:
    """The declared default of the ``AdapterOptions`` field ``name``."""
    return AdapterOptions.model_fields[name].default
