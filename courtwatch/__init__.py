"""courtwatch: the litigation service guidance center's warehouse."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
