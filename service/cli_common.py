"""What every ``tailor`` command family shares: the data-directory option and the id check.

Only click and the store's id rule are imported, so ``tailor --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from store.db import default_data_dir


def data_dir_of(value: Path | None) -> Path:
    """``--data-dir``, else ``$TAILOR_DATA_DIR``, else the default data directory."""
    if value is not None:
        return value.expanduser().resolve()
    env = os.environ.get("TAILOR_DATA_DIR")
    return Path(env).expanduser().resolve() if env else default_data_dir()


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: $TAILOR_DATA_DIR, else ~/.local/share/tailor).",
)


def check_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A ``--user`` or ``--tenant`` value checked by the one id rule (``store.records``)."""
    from store.records import ID_RULE, valid_id

    if value is not None and not valid_id(value):
        raise click.BadParameter(f"ids are {ID_RULE}")
    return value
