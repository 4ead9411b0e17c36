"""``python -m service`` runs the ``tailor`` CLI."""

from service.cli import cli

cli(prog_name="tailor")
