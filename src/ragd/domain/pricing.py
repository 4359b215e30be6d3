"""What tokens cost: a per-model price table (US dollars per million tokens)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ragd.errors import ConfigError


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float


class PriceTable:
    """Models not in the table cost nothing (local models, the extractive answerer)."""

    def __init__(self, prices: dict[str, Price] | None = None) -> None:
        self.prices = dict(prices or {})

    @classmethod
    def parse(cls, raw: str) -> PriceTable:
        """``{"model": {"input": 0.15, "output": 0.60}, ...}`` (dollars per 1M tokens)."""
        if not raw.strip():
            return cls()
        try:
            data = json.loads(raw)
            prices = {
                str(model): Price(float(p["input"]), float(p["output"]))
                for model, p in data.items()
            }
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(
                'RAGD_LLM_PRICES must be JSON like {"model": {"input": 0.15, "output": 0.6}}'
            ) from exc
        if any(p.input_per_million < 0 or p.output_per_million < 0 for p in prices.values()):
            raise ConfigError("RAGD_LLM_PRICES cannot be negative")
        return cls(prices)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.prices.get(model)
        if price is None:
            return 0.0
        return (
            prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million
        ) / 1_000_000
