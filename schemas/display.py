"""How coded values are shown: their Chinese names (schemas/labels.yaml), one mapping for every dashboard."""
from __future__ import annotations

from functools import cache

import yaml

from schemas import SCHEMA_DIR


@cache
def labels() -> dict[str, dict[str, str]]:
    """kind -> code -> Chinese name (province_iso: province code -> the map's ISO code)."""
    raw = yaml.safe_load((SCHEMA_DIR / "labels.yaml").read_text())
    return {kind: {str(code): str(name) for code, name in names.items()} for kind, names in raw.items()}


def label_rows() -> list[tuple[str, str, str]]:
    """(kind, code, name) of every label: the serving store's queries join them."""
    return [(kind, code, name) for kind, names in labels().items() for code, name in names.items()]
