"""The run's stages in order: prompts (and their split), generate, embed, cluster (with the
map), and scoring (log-probs of texts, which validation and the methods share)."""
