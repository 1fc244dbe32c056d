"""The layer lens: which transformer layers carry the difference between two models of one
architecture (a finetune, an adapter, a quantization). It needs the local weights of both
models, with the same architecture (tensor by tensor) and the same tokenizer.

Three views, from cheap to causal:
- weight deltas (deltas.py): ||W_B - W_A|| / ||W_A|| per layer and module type;
- activation differences (activations.py): how far B's residual stream is from A's on the
  same tokens;
- delta scaling (interventions.py, scaling.py, attribution.py): A's weights plus a scale
  times B's change, on every layer or one window of layers, and how much of a validated
  hypothesis' effect (evidence log-prob gap, behaviour rate in fresh generations) that
  restores.

Entry points: lens.layer_lens (a pair and its inputs) and lens.layer_lens_for_run (a stored
run), both configured by settings.LensSettings; settings.parse_scales reads a typed grid.
"""
from . import cli, run, settings, show  # noqa: F401,E402 - the face the registry reads
