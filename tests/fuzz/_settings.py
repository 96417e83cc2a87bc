"""How long the fuzz suite runs: about a minute by default, as long as asked for locally.

* default (CI, ``pytest``): ``EXAMPLES`` = 150 inputs per reader, derandomized, so every run
  tries the same inputs and a failure reproduces;
* ``REGADVISOR_FUZZ=long``: 10,000 inputs per reader, random, for a run in the background
  (``REGADVISOR_FUZZ=long nice -n 10 python -m pytest tests/fuzz -p no:cacheprovider
  --hypothesis-show-statistics``);
* ``REGADVISOR_FUZZ_EXAMPLES=N`` sets the count directly (either mode).

No example database is written: a failure prints the input that caused it, shrunk, and the
``@reproduce_failure`` blob to replay it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("REGADVISOR_FUZZ", "").strip().lower() == "long"
EXAMPLES = int(os.environ.get("REGADVISOR_FUZZ_EXAMPLES") or (10_000 if LONG else 150))


def fuzz(share: float = 1.0) -> settings:
    """Settings for one fuzz test; ``share`` scales ``EXAMPLES`` for a test whose inputs cost more."""
    return settings(max_examples=max(1, int(EXAMPLES * share)), deadline=None, database=None,
                    derandomize=not LONG, print_blob=True, suppress_health_check=list(HealthCheck))
