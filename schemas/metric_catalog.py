"""The metric catalog (schemas/metrics.yaml) as Python objects."""
from __future__ import annotations

import re
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
class Breakdown:
    """Flow measures of one source split by the value of one of its columns."""

    by: str
    source: str
    measures: tuple[Measure, ...]


@dataclass(frozen=True)
class Catalog:
    measures: tuple[Measure, ...]
    metrics: tuple[Metric, ...]
    breakdowns: tuple[Breakdown, ...] = ()

    def metric(self, metric_id: str) -> Metric:
        return next(m for m in self.metrics if m.id == metric_id)

    def sources_of(self, metric_id: str) -> frozenset[str]:
        """The sources whose records a metric counts: those of the measures its formula names."""
        m = self.metric(metric_id)
        words = set(re.findall(r"[a-z_0-9]+", f"{m.numerator} {m.denominator or ''}"))
        return frozenset(x.source for x in self.measures if words & set(x.columns))

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
    return Catalog(measures, metrics, tuple(_breakdown(by, names, measures) for by, names in
                                            (raw.get("breakdowns") or {}).items()))


def _breakdown(by: str, names: list[str], measures: tuple[Measure, ...]) -> Breakdown:
    from schemas import contract

    known = {m.name: m for m in measures}
    chosen = tuple(known[n] for n in names if n in known)
    sources = {m.source for m in chosen}
    if len(chosen) != len(names) or len(sources) != 1 or any(m.stock for m in chosen):
        raise ValueError(f"schemas/metrics.yaml: breakdown {by}: give flow measures of one source ({names})")
    source = sources.pop()
    if by not in {f.name for f in contract(source).fields if not f.personal}:
        raise ValueError(f"schemas/metrics.yaml: breakdown {by}: not a column of {source}")
    return Breakdown(by, source, chosen)


@dataclass(frozen=True)
class ReferenceInterval:
    """A key indicator's reasonable range (合理区间), schemas/reference_intervals.yaml."""

    metric_id: str
    low: float
    high: float
    min_denominator: float = 0


@cache
def reference_intervals() -> tuple[ReferenceInterval, ...]:
    path = SCHEMA_DIR / "reference_intervals.yaml"
    out = []
    for metric_id, spec in (yaml.safe_load(path.read_text()) or {}).items():
        spec = {"interval": spec} if isinstance(spec, list) else spec
        if metric_id not in {m.id for m in catalog().metrics}:
            raise ValueError(f"{path}: {metric_id}: not a metric of schemas/metrics.yaml")
        if set(spec) - {"interval", "min_denominator"} or len(spec.get("interval") or ()) != 2:
            raise ValueError(f"{path}: {metric_id}: give interval: [low, high] and optionally min_denominator")
        low, high = (float(v) for v in spec["interval"])
        if not low <= high:
            raise ValueError(f"{path}: {metric_id}: interval low {low} is above high {high}")
        out.append(ReferenceInterval(metric_id, low, high, float(spec.get("min_denominator", 0))))
    return tuple(out)
