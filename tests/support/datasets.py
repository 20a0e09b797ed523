"""Where the research answer sets are: ``CROWD_DATASETS``, else ``shared/datasets``
beside the checkout. Tests that read them skip when neither exists."""

from __future__ import annotations

import os
from pathlib import Path

DATASETS = Path(os.environ.get("CROWD_DATASETS") or Path(__file__).resolve().parents[3] / "shared" / "datasets")
