"""The probe game: does a hypothesis let an assistant tell the two models apart in live
conversation, on prompts it chooses to test it? Needs both models to answer new prompts (local
weights or endpoints). Entry points: `stage.probe_run` (play and store), `stage.stored_probe`
(the summary of what is stored)."""
from . import cli, run, settings, show  # noqa: F401,E402 - the face the registry reads
