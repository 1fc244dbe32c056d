"""The test session's seed. MODELDIFF_TEST_SEED (default 0, what CI runs) moves the organisms'
training (conftest passes it on as MODELDIFF_ORGANISM_SEED, so each seed trains organisms of its
own, and every text they generate changes with them) and the seeds of the tests that draw theirs
through `seeded` or `SEED` (simulated worlds, samplers, fits). Pipeline runs keep their own
generation seed 0. Running the suite at other seeds shows whether a verdict is the seed's luck."""
import os

SEED = int(os.environ.get("MODELDIFF_TEST_SEED", "0"))


def seeded(k: int = 0) -> int:
    """A test's k-th seed: k itself at the session seed 0."""
    return k + 1_000_003 * SEED
