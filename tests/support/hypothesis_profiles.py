"""Hypothesis budgets for the fuzz modules: a few hundred examples by default, 10,000 deep.

``HYPOTHESIS_PROFILE=deep`` (set by ``make test-deep``) selects the deep profile. The
fuzz tests take their settings from ``FUZZ`` and set no example count of their own, so
the profile alone decides how long they run.
"""

import os

from hypothesis import HealthCheck, settings

DEFAULT_EXAMPLES = 250
DEEP_EXAMPLES = 10_000

_SHARED = {
    "deadline": None,  # a shared 2-core machine: time limits per example would only flake
    # fixtures that reach a server are set up once per test on purpose; each example
    # overwrites what it reads, so sharing them across examples is safe
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
}
settings.register_profile("fuzz", max_examples=DEFAULT_EXAMPLES, **_SHARED)
settings.register_profile("deep", max_examples=DEEP_EXAMPLES, **_SHARED)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fuzz")
FUZZ = settings.get_profile(PROFILE if PROFILE in ("fuzz", "deep") else "fuzz")


def scaled(default_examples: int) -> settings:
    """``FUZZ`` with a smaller default count for costly tests; the deep count stays 10,000."""
    if PROFILE == "deep":
        return FUZZ
    return settings(FUZZ, max_examples=default_examples)
