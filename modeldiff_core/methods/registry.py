"""Every analysis beside the run's pipeline, one line each. The CLI, the jobs, the dashboard's
navigation and the report loop over this list; a new analysis is its folder (the face below),
its page and one line here.

A method's folder has the same face: `settings.Params` (a dataclass: the only place its
defaults live; `to_dict`/`from_dict` are what a job stores and reads back), `run.run(store,
params, ctx) -> dict`, `cli.HELP`, `cli.add_arguments(parser)` and `cli.params_from_args(args)`,
`show.summary(result) -> str` (what the terminal prints) and `show.to_json(result) -> str`
(what --out writes)."""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from . import features, ground_truth, layers, plant, probe, quant, token_diff

FACE = ("settings", "run", "cli", "show")


@dataclass(frozen=True)
class Method:
    name: str  # the CLI command and the job kind
    face: ModuleType  # its folder
    title: str  # its page's title in the dashboard's navigation
    page: str  # its page, under views/
    section: str  # where the navigation lists it
    job: bool = True  # long work, run as a job (else it answers while the page waits)
    stores: bool = True  # it keeps what it computes in the database

    @property
    def Params(self) -> type:  # noqa: N802 - a class
        return self.face.settings.Params

    def run(self, store, params, ctx) -> dict:
        return self.face.run.run(store, params, ctx)

    def read(self, stored: dict):
        """A job's stored params, as this method's Params (earlier versions' included)."""
        return self.Params.from_dict(stored)


METHODS = (
    Method("token-diff", token_diff, "Token diff", "token_diff.py", "Analyses", job=False,
           stores=False),
    Method("quant", quant, "Quantization", "quantization.py", "Analyses"),
    Method("layers", layers, "Layers", "layers.py", "Analyses"),
    Method("probe", probe, "Probe", "probe.py", "Analyses"),
    Method("features", features, "Features", "features.py", "Analyses"),
    Method("plant", plant, "Plant and score", "ground_truth.py", "Ground truth"),
    Method("truth-bench", ground_truth, "Plant and score", "ground_truth.py",
           "Ground truth"),
)
BY_NAME = {m.name: m for m in METHODS}


def method(name: str) -> Method:
    return BY_NAME[name]
