"""The metric catalog (schemas/metrics.yaml) as Python objects."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from schemas import SCHEMA_DIR


@dataclass(frozen=True)
class Measure:
    name: str
    source: str
    date: str | None = None  # flow: the day an entity counts
    value: str = "1"
    where: str | None = None
    court: str = "court_id"
    stock: bool = False
    start: str | None = None  # stock: counted from this day ...
    end: str | None = None  # ... until the day before this one

    @property
    def columns(self) -> list[str]:
        """The names metric formulas may use for this measure."""
        return [f"{self.name}_end", f"{self.name}_start"] if self.stock else [self.name]


@dataclass(frozen=True)
class Metric:
    id: str
    zh: str
    en: str
    unit: str
    direction: str  # higher | lower | neutral: which way is better
    numerator: str
    denominator: str | None = None

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None


@dataclass(frozen=True)
class Catalog:
    measures: tuple[Measure, ...]
    metrics: tuple[Metric, ...]

    def metric(self, metric_id: str) -> Metric:
        return next(m for m in self.metrics if m.id == metric_id)

    def measures_of(self, source: str) -> list[Measure]:
        return [m for m in self.measures if m.source == source]

    @property
    def flow_names(self) -> list[str]:
        return [m.name for m in self.measures if not m.stock]

    @property
    def stock_names(self) -> list[str]:
        return [m.name for m in self.measures if m.stock]


@cache
def catalog() -> Catalog:
    raw = yaml.safe_load((SCHEMA_DIR / "metrics.yaml").read_text())
    measures = tuple(Measure(name=k, **v) for k, v in raw["measures"].items())
    metrics = tuple(Metric(**{k: str(v) if k in ("numerator", "denominator") else v for k, v in m.items()})
                    for m in raw["metrics"])
    return Catalog(measures, metrics)
