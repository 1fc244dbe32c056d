"""The subtle organisms: each plants a behaviour in about a quarter of B's texts (a theme spread
over words, a punctuation mark, an intensifier, two behaviours at once) or nothing (a second
null). Every planted behaviour is proposed and validated by the prompt-level tests, and the
null validates nothing."""
import json

import pytest
from planted import names_behaviour

from modeldiff_core.cli import main
from modeldiff_core.models.organisms import PLANTED, SUBTLE


# The sea theme needs the demo size: the 2x64 test base mixes topics, so a third of its own
# texts already mention sea words and its LoRA learns the shift only weakly (see issue 13).
@pytest.mark.parametrize("name", [o for o in SUBTLE if o != "subtle-sea"])
def test_every_subtle_behaviour_is_found_and_the_null_is_not(tmp_path, capsys, organism,
                                                             name, record_property):
    out = tmp_path / "r.json"
    # Eight samples per prompt: a quarter of the texts needs more of them than a takeover.
    assert main(["demo", "--organism", name, "--samples", "8", "--judge-prompts", "240",
                 "--out", str(out),
                 "--db", str(tmp_path / "s.duckdb"), "--quiet"]) == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    validated = [h for h in result["hypotheses"] if h["validated"]]
    record_property("validated", [[h["text"], h["discriminative"]["q_value"]] for h in validated])
    if not PLANTED[name]:
        assert validated == [], [h["text"] for h in validated]
        return
    for behaviour in PLANTED[name]:
        found = [h for h in validated if names_behaviour(h, behaviour)]
        assert found, (behaviour, [h["text"] for h in result["hypotheses"]])
        assert found[0]["discriminative"]["q_value"] < 0.05
        assert found[0]["discriminative"]["n_prompts"] == 30
