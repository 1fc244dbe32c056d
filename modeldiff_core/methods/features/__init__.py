"""Feature lens: sparse dictionaries over one layer's MLP — a top-k transcoder (MLP input -> MLP
output) fitted to model A, a delta dictionary fitted to what B's MLP adds with A's frozen, the
feature table (prompt-level test, BH, top texts, promoted tokens), links to hypotheses (AUC),
and B run with the delta scaled. Entry point: `lens.feature_lens_for_run`; the parts:
`activations.mlp_io`, `dictionary.fit_pair`, `table.feature_table`, `scaling.delta_scaled`."""
from . import cli, run, settings, show  # noqa: F401,E402 - the face the registry reads
