"""Feature lens (issue 18, begun): sparse dictionaries over one layer's MLP — a top-k
transcoder (MLP input -> MLP output) fitted to model A, a delta dictionary fitted to what B's
MLP adds with A's frozen, B run with the delta scaled, and the feature table (prompt-level test,
BH, top texts). Not yet: links to hypotheses, the CLI, the job kind, the page and the report.
Entry points: `activations.mlp_io`, `dictionary.fit_pair`, `scaling.delta_scaled`,
`table.feature_table`."""
