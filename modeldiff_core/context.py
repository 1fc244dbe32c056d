"""What a command runs with, beside its parameters (a neutral module: the run, every method and
both adapters, the CLI and the jobs, import it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .models.loading import ModelCache
from .progress import ProgressCallback


@dataclass
class Context:
    """The shared model cache, the embedder (made on first use), where progress goes, a
    session's API key (never stored), and who wants to know the run id as soon as it is known
    (a job's row)."""
    cache: ModelCache = field(default_factory=ModelCache)
    make_embedder: Optional[Callable] = None
    progress: Optional[ProgressCallback] = None
    api_key: Optional[str] = None
    on_run_id: Callable[[str], None] = lambda run_id: None
    model_keys: Optional[dict] = None  # endpoint models' keys by side ("A", "B"), never stored

    def embedder(self, choice: str = "default"):
        """The embedder named `choice` (embedders.EMBEDDERS), one per process."""
        from .embedders import make_embedder

        return (self.make_embedder or make_embedder)(choice)
