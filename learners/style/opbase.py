"""The base of every executable style operation (``learners.style.operations``).

Kept apart so that operation kinds defined in other modules (the context and
draft templates of ``learners.style.templates``) share it without an import
cycle. ``apply_in`` and ``holds_in`` see the request's context too; kinds that
do not read it fall back to ``apply`` and ``holds``.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, ClassVar, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

#: the stored form of an operation: a JSON object with its kind under "op"
StoredOperation: TypeAlias = dict[str, Any]

Text = Annotated[str, StringConstraints(strict=True, min_length=1)]
AnyText = Annotated[str, Strict()]
Count = Annotated[int, Strict(), Field(ge=1)]


class BaseOperation(BaseModel):
    """What every kind of operation has; the kinds below fill it in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: str
    phase: ClassVar[int]

    def apply(self, text: str) -> str:
        raise NotImplementedError

    def apply_in(self, text: str, context: str) -> str:
        """``apply`` for a draft written for ``context`` (templates read values from it)."""
        return self.apply(text)

    def holds_in(self, text: str, context: str) -> bool:
        return self.holds(text)

    def reverts(self, draft: str, final: str, context: str) -> bool:
        """The user undid this rule, which ``draft`` follows: ``final`` no longer does and
        nothing of the rule's change is left (a corrected line is not an undone one)."""
        return not self.holds_in(final, context)

    def holds(self, text: str) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def slot(self) -> str:
        raise NotImplementedError

    def dump(self) -> StoredOperation:
        """The stored form: ``op`` and the parameters it was given (defaults left out)."""
        return {"op": self.op, **self.model_dump(mode="json", exclude_unset=True, exclude={"op"})}

    def key(self) -> str:
        """A stable identity: the slot and the canonical parameters."""
        return self._key

    @functools.cached_property
    def _key(self) -> str:
        data = self.dump()
        params = ",".join(f"{k}={data[k]!r}" for k in sorted(data) if k != "op")
        return f"{self.slot()}={self.op}({params})"
