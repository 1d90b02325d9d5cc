"""What every spec model shares: strictness about unknown fields, and text written as YAML writes it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


class Model(BaseModel):
    """Strict about unknown fields, so a typo is an error with a suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _scalar_text(value: Any) -> Any:
    """Numbers and booleans given where text is expected, as YAML users write them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_scalar_text)]
