"""Analyses beyond the run's pipeline, one folder each with the same small face: a module named
after what it computes, one entry point that `commands.py` calls with a params dataclass, and
results as plain dicts or dataclasses that the store saves and `render/` shows. Each says in
its docstring what it needs from the two models (local weights, log-probs, new answers)."""
