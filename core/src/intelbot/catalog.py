"""The model catalog: which models exist, who serves them, what they cost.

Read from ``[default.models.<name>]`` in settings.toml. Costs are in USD per
million tokens, so a response's cost is exact arithmetic on its usage.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from intelbot.contract import Usage
from intelbot.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One catalog entry. ``api_model`` is the name sent to the provider's API."""

    name: str
    provider: str
    api_model: str
    input_per_mtok: float
    output_per_mtok: float
    context_window: int
    tier: str

    def cost(self, usage: Usage) -> float:
        """USD cost of ``usage`` at this model's prices."""
        return (usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok) / 1_000_000


ECHO = ModelSpec(
    name="echo",
    provider="echo",
    api_model="echo",
    input_per_mtok=0.0,
    output_per_mtok=0.0,
    context_window=1_000_000,
    tier="offline",
)
"""The offline model, always in the catalog so the bot can answer with no settings and no keys."""


class ModelCatalog(Mapping[str, ModelSpec]):
    """Read-only mapping of model name to :class:`ModelSpec`."""

    def __init__(self, models: Mapping[str, ModelSpec]) -> None:
        self._models = dict(models)

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any]) -> ModelCatalog:
        """Build from the ``models`` settings table, plus ``echo`` when absent.

        Raises ConfigurationError naming the key of the first invalid entry.
        """
        models: dict[str, ModelSpec] = {}
        for name, entry in raw.items():
            key = f"models.{name}"
            if not isinstance(entry, Mapping):
                raise ConfigurationError("a model entry must be a table", key=key)
            provider = entry.get("provider")
            if not isinstance(provider, str) or not provider:
                raise ConfigurationError("provider must be a non-empty string", key=f"{key}.provider")
            prices: dict[str, float] = {}
            for price in ("input_per_mtok", "output_per_mtok"):
                value = entry.get(price, 0.0)
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigurationError(f"{price} must be a number >= 0, got {value!r}", key=f"{key}.{price}")
                prices[price] = float(value)
            window = entry.get("context_window", 8192)
            if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
                raise ConfigurationError(
                    f"context_window must be a positive integer, got {window!r}", key=f"{key}.context_window"
                )
            tier = entry.get("tier", "standard")
            if not isinstance(tier, str):
                raise ConfigurationError(f"tier must be a string, got {tier!r}", key=f"{key}.tier")
            api_model = entry.get("api_model", name)
            if not isinstance(api_model, str):
                raise ConfigurationError(f"api_model must be a string, got {api_model!r}", key=f"{key}.api_model")
            models[str(name)] = ModelSpec(
                name=str(name),
                provider=provider,
                api_model=api_model,
                input_per_mtok=prices["input_per_mtok"],
                output_per_mtok=prices["output_per_mtok"],
                context_window=window,
                tier=tier,
            )
        models.setdefault(ECHO.name, ECHO)
        return cls(models)

    def __getitem__(self, name: str) -> ModelSpec:
        return self._models[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def in_tier(self, tier: str) -> list[ModelSpec]:
        """Models of ``tier``, cheapest first."""
        return sorted(
            (spec for spec in self._models.values() if spec.tier == tier),
            key=lambda spec: spec.input_per_mtok + spec.output_per_mtok,
        )
