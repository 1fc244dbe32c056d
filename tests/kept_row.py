"""A database holding one stored row, to prove that a refused input leaves it untouched."""
from modeldiff_core.store import Store


def make(path):
    with Store(path) as store:
        store.save_result("kept", {"x": 1})
    return path


def untouched(path, no_runs: bool = False):
    """The row is still there (and, with `no_runs`, no run or finetune was added)."""
    with Store(path) as store:
        assert store.result("kept") == {"x": 1}
        if no_runs:
            assert store.list_runs().empty and store.list_finetunes().empty
