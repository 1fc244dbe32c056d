"""How the run clusters its texts and how it proposes and tests hypotheses: two parts of a
run's configuration (`pipeline.RunConfig`), each the only place its defaults live, each taken
explicitly by its stage (`cluster.cluster_run`, `hypotheses.hypotheses_run`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..params import Declared


@dataclass
class ClusterSettings(Declared):
    method: str = "kmeans"  # or "hdbscan"
    n_clusters: Optional[int] = None  # KMeans's k; None: chosen from the texts
    min_cluster_size: int = 10  # HDBSCAN's
    embedder: str = "default"  # default / fast / torch (embedders.EMBEDDERS)

    def stored(self, seed: int) -> dict:
        """What a stored clustering was made with (a change makes the run cluster again)."""
        return {"method": self.method, "n_clusters": self.n_clusters,
                "min_cluster_size": self.min_cluster_size, "seed": seed,
                "embedder": self.embedder,
                "umap": {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean",
                         "normalised": True}}


@dataclass
class HypothesisSettings(Declared):
    assistant: str = "offline"  # offline / anthropic / openai: who proposes and judges
    assistant_model: Optional[str] = None
    assistant_base_url: Optional[str] = None
    assistant_key_file: Optional[str] = None
    alpha: float = 0.05  # BH level over the run's ledger
    max_judge_prompts: int = 120  # held-out prompts an LLM judge scores (one A, one B text each)
    n_pairs: int = 60  # generative pairs per hypothesis
    judge_mode: str = "score"  # score: each text scored; pairwise: "which of two is B's?"
    refine_rounds: int = 2  # rounds of refinement on the discovery texts hypotheses misjudge

    def assistant_settings(self):
        from ..assistants.registry import AssistantSettings

        return AssistantSettings(self.assistant, self.assistant_model, self.assistant_base_url,
                                 self.assistant_key_file)
