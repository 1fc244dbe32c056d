"""The feature lens for a stored run, as its list of stages: pick the layer, fit (or reuse) the
dictionaries on the run's discovery texts, measure their quality on its held-out texts, build
the feature table there, link features to the validated hypotheses, and scale the delta inside
B (every setting stored as it finishes, so an interrupted lens resumes)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ...config import ModelDiffError, cache_dir
from ...hypotheses.validation import TEXT_KEY, heldout_texts, judged_texts, paired_heldout
from ...models.spec import ModelSpec, needs_weights
from ...progress import ProgressCallback, StageProgress
from ...models.generation import GenerationSettings
from ..common.inputs import LensInputs, measured_on, run_generation, scaling_inputs
from ..common.runner import RunnerSettings, SettingRunner, behaviour_rate
from ...models.tensors import transformer_blocks
from ...models.hooks import mlp_of
from .activations import mlp_io
from .dictionary import fit_pair, quality, transcoder
from .settings import DICTIONARY_FORMAT, DictionarySettings, FeatureSettings
from .scaling import delta_scaled, reconstructed
from .table import (feature_table, hypothesis_links, promoted_tokens, text_values,
                    token_activations, top_texts)

CONDITIONS = ("A", "raw", "no delta", "full")  # besides the alpha grids
# ---------------------------------------------------------------------------- stages

def choose_layer(store, run_id: str, hypothesis_set: str, n_layers: int,
                 given: Optional[int]) -> tuple[int, str]:
    """(layer, why): the one given; else the layer whose B change alone restores most of the
    validated behaviours in the stored layer lens (mean of its log-prob and behaviour-rate
    fractions over hypotheses); else the middle layer."""
    if given is not None:
        if given >= n_layers:
            raise ModelDiffError(f"the models have layers 0 to {n_layers - 1}, not {given}")
        return given, "given"
    lens = store.method_result(run_id, "layers", hypothesis_set)
    scores: dict[int, list[float]] = {}
    for row in (lens or {}).get("restoration", []):
        if isinstance(row.get("layer"), int) and len(row.get("layers", [])) == 1:
            vals = [v for v in (row.get("logprob_fraction"), row.get("predicate_fraction"))
                    if v is not None]
            scores.setdefault(row["layer"], []).extend(vals)
    ranked = {layer: float(np.mean(v)) for layer, v in scores.items() if v}
    if ranked:
        return max(ranked, key=ranked.get), "the layer lens ranks it first"
    return n_layers // 2, ("the middle layer: no layer lens with single-layer restorations is "
                           "stored for this run")


def _texts_digest(texts: list[str]) -> str:
    return hashlib.sha256(json.dumps(texts).encode()).hexdigest()


def _weights_digest(*dictionaries) -> str:
    """What the fitted weights are: the scaling settings' outcomes are stored under it, so a
    dictionary fitted anew (elsewhere, or after its file was deleted) never meets them."""
    h = hashlib.sha256()
    for d in dictionaries:
        for name, tensor in sorted(d.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def dictionaries(lm_a, lm_b, layer: int, texts: list[str], settings: FeatureSettings,
                 folder=None, progress: Optional[ProgressCallback] = None):
    """(base, delta, info): the pair's dictionaries at `layer`, fitted on `texts` run through
    both models — or read back from `folder` (cache/features) when these models, layer, texts
    and settings were fitted before."""
    import torch

    folder = folder or cache_dir() / "features"
    key = json.dumps([DICTIONARY_FORMAT, lm_a.fingerprint, lm_b.fingerprint, layer,
                      dataclasses.asdict(settings.dictionary), settings.max_tokens,
                      _texts_digest(texts)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    path = folder / f"{digest}.pt"
    bar = StageProgress(progress, "feature dictionaries", 3, unit="steps")
    if path.exists():
        saved = torch.load(path, weights_only=True)
        base, delta = (_rebuilt(saved[name], saved["settings"], name == "delta", saved["shape"])
                       for name in ("base", "delta"))
        bar.advance(3, "reused")
        return base, delta, {"path": str(path), "digest": digest, "reused": True,
                             "n_tokens": saved["n_tokens"], "n_texts": saved["n_texts"],
                             "weights": _weights_digest(base, delta)}
    acts_a = mlp_io(lm_a, layer, texts, max_tokens=settings.max_tokens)
    acts_b = mlp_io(lm_b, layer, texts, max_tokens=settings.max_tokens)
    if min(acts_a.n_texts, acts_b.n_texts) < 2:
        raise ModelDiffError(f"--max-tokens {settings.max_tokens} holds fewer than two whole "
                             "texts: raise it")
    (x_a, y_a, _), (x_b, y_b, _) = acts_a, acts_b
    mlp = mlp_of(lm_a, layer)
    weight = next(mlp.parameters())
    # A's MLP on B's inputs, in the dtype it computes in (8-bit and 4-bit weights: the model's).
    dtype = weight.dtype if weight.is_floating_point() else lm_a.model.dtype
    with torch.no_grad():
        a_on_b = torch.cat([mlp(x_b[i:i + 4096].to(weight.device, dtype)).float().cpu()
                            for i in range(0, len(x_b), 4096)])
    bar.advance(1, "activations")
    base, delta = fit_pair(x_a, y_a, x_b, y_b, a_on_b, settings.dictionary)
    bar.advance(2, "fitted")
    folder.mkdir(parents=True, exist_ok=True)
    # A name of this process's own: two processes fitting the same pair never share a file.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    n_texts = min(acts_a.n_texts, acts_b.n_texts)
    torch.save({"base": base.state_dict(), "delta": delta.state_dict(),
                "settings": dataclasses.asdict(settings.dictionary),
                "shape": [x_a.shape[1], y_a.shape[1]], "n_tokens": [len(x_a), len(x_b)],
                "n_texts": n_texts}, tmp)
    tmp.replace(path)  # a half-written file is never read back
    return base, delta, {"path": str(path), "digest": digest, "reused": False,
                         "n_tokens": [len(x_a), len(x_b)], "n_texts": n_texts,
                         "weights": _weights_digest(base, delta)}


def _rebuilt(state: dict, s: dict, is_delta: bool, shape: list[int]):
    s = DictionarySettings(**s)
    n = (s.delta_width if is_delta else s.width) * shape[0]
    tc = transcoder(shape[0], shape[1], n, s.delta_k if is_delta else s.k, s.seed)
    tc.load_state_dict(state)
    return tc.eval()


def _loss(lm, texts: list[str]) -> float:
    """Next-token loss in nats per token over all the texts' tokens (each read as plain
    text)."""
    from ...models.scoring import token_logprobs

    per_token = token_logprobs(lm, texts, None, 16, False)
    return float(-np.concatenate([lp for lp in per_token if len(lp)]).mean())


def quality_rows(lm_a, lm_b, layer: int, base, delta, acts_a, acts_b,
                 loss_texts: list[str]) -> list[dict]:
    """Per dictionary, on the held-out texts: fraction of variance explained, L0, dead
    latents, and the LM loss increase when the reconstruction (error term dropped) replaces
    the MLP's output."""
    loss_a, loss_b = _loss(lm_a, loss_texts), _loss(lm_b, loss_texts)
    with reconstructed(lm_a, layer, base):
        base_a = _loss(lm_a, loss_texts)
    with reconstructed(lm_b, layer, base):
        base_b = _loss(lm_b, loss_texts)
    with reconstructed(lm_b, layer, base, delta):
        full_b = _loss(lm_b, loss_texts)
    rows = [("base", "A", "base", quality(base, acts_a.x, acts_a.y), base_a - loss_a),
            ("base (no delta)", "B", "base", quality(base, acts_b.x, acts_b.y), base_b - loss_b),
            ("base + delta", "B", "delta", quality(base, acts_b.x, acts_b.y, extra=delta),
             full_b - loss_b)]
    # `code`: whose sparse code L0 and dead latents describe (for base + delta, the delta's).
    return [{"dictionary": name, "model": side, "code": code, **q, "loss_increase": float(inc)}
            for name, side, code, q, inc in rows]


def hypothesis_labels(h: dict, sample, disc: Optional[dict]) -> Optional[np.ndarray]:
    """Per held-out text, whether it shows what the hypothesis says B does: its predicate
    (oriented to B) or else the stored discriminative scores (> 0.5: B-like; NaN for a text the
    test did not score). None when neither says anything."""
    from ...hypotheses.predicates import predicate_fires

    pred = h.get("predicate")
    if pred:
        b_fires = pred.get("favours", "B") == "B"
        return np.array([predicate_fires(pred, t) == b_fires for t in sample["text"]])
    scored = judged_texts(sample, disc)
    if scored is None or scored.empty:
        return None
    by_key = {tuple(k): s for k, s in zip(scored[TEXT_KEY].itertuples(index=False),
                                          scored["score"])}
    scores = np.array([by_key.get((s, int(p), int(i)), np.nan) for s, p, i in
                       sample[TEXT_KEY].itertuples(index=False)], dtype=float)
    return np.where(np.isnan(scores), np.nan, scores > 0.5)


class FeatureScaler:
    """What SettingRunner runs a setting on (the layer lens's scaler has the same face): a
    setting is (alpha, what) — what is "A", "raw", "no delta", "full", "all" (every delta
    latent) or a list of latents."""
    strategy = "features"

    def __init__(self, lm_a, lm_b, layer: int, base, delta, digest: str):
        self.lm_a, self.model, self.layer, self.base, self.delta = lm_a, lm_b, layer, base, delta
        self.fingerprints = (lm_a.fingerprint, lm_b.fingerprint, digest, layer)  # digest: weights

    @contextmanager
    def scaled(self, alpha: float, what):
        b, layer = self.model, self.layer
        if what == "A":
            yield self.lm_a
        elif what == "raw":
            yield b
        elif what in ("no delta", "full"):
            with reconstructed(b, layer, self.base, self.delta if what == "full" else None):
                yield b
        else:
            with delta_scaled(b, layer, self.delta, alpha, None if what == "all" else list(what)):
                yield b


def scaling_rows(runner: SettingRunner, hyps: list[dict], links: dict, alphas, judge, saved,
                 progress: Optional[ProgressCallback]) -> list[dict]:
    """Per hypothesis and setting: the evidence texts' mean log-prob gap to A and the behaviour
    rate in fresh generations. Settings: A, raw B, the reconstructions alone, every delta latent
    scaled by each alpha, and the hypothesis' linked latents scaled by each alpha."""
    alphas = sorted(set(float(a) for a in alphas) - {1.0})
    settings = [(None, c) for c in CONDITIONS] + [(a, "all") for a in alphas]
    for h in hyps:
        latents = [link["latent"] for link in links.get(h["hypothesis_id"], [])]
        if latents:
            settings += [(a, tuple(latents)) for a in alphas]
    settings = list(dict.fromkeys(settings))
    bar = StageProgress(progress, "feature scaling", len(settings), unit="settings")
    results = {}
    for alpha, what in settings:
        where = what if isinstance(what, str) else list(what)
        results[(alpha, what)] = runner.stored_run(saved, 1.0 if alpha is None else alpha, where)
        bar.advance(1)
    base_lp = results[(None, "A")][0]
    rows = []
    for h in hyps:
        linked = tuple(link["latent"] for link in links.get(h["hypothesis_id"], []))
        chosen = [(c, None, (None, c)) for c in CONDITIONS]
        for name, what in (("all delta latents", "all"), ("linked latents", linked)):
            if what:
                chosen += [(name, a, (a, what)) for a in alphas] + [(name, 1.0, (None, "raw"))]
        for condition, alpha, key in chosen:
            lp, texts = results[key]
            rows.append({"hypothesis_id": h["hypothesis_id"], "condition": condition,
                         "alpha": alpha, "logprob_gap": runner.gap(h["hypothesis_id"], lp, base_lp),
                         "behaviour_rate": behaviour_rate(h, texts, judge)})
    return rows


# ---------------------------------------------------------------------------- the lens

def check_pair(lm_a, lm_b) -> int:
    """The pair's number of layers, after refusing pairs whose MLPs do not line up (another
    tokenizer, width or depth)."""
    if lm_a.tokenizer.get_vocab() != lm_b.tokenizer.get_vocab():
        raise ModelDiffError("the feature lens needs models that share a tokenizer")
    shapes = [(len(transformer_blocks(lm)), lm.model.get_input_embeddings().weight.shape[1])
              for lm in (lm_a, lm_b)]
    if shapes[0] != shapes[1]:
        raise ModelDiffError(f"the feature lens needs two models of one shape; (layers, width) "
                             f"are {shapes[0]} and {shapes[1]}")
    return shapes[0][0]


@dataclass
class RunTexts:
    """What the lens reads from a stored run: its sampling settings, the discovery texts the
    dictionaries are fitted on (A's and B's alternating), the held-out texts paired by prompt,
    and what the scaling view measures on (validated hypotheses, evidence, held-out prompts)."""
    generation: GenerationSettings
    fit_texts: list[str]
    sample: object  # DataFrame: side, prompt_id, sample_idx, text, prompt
    scaling: LensInputs

    @property
    def hypotheses(self) -> list[dict]:
        return self.scaling.hypotheses


def run_texts(store, run: dict, hypothesis_set: str, settings: FeatureSettings) -> RunTexts:
    run_id, gen = run["run_id"], run_generation(run)
    disc = store.generations(run_id, split="discovery")
    val = store.generations(run_id, split="validation")
    if disc.empty or val.empty:
        raise ModelDiffError(f"run {run_id} has no discovery or held-out texts yet: let its "
                             "generation finish")
    by_side = [disc[disc["side"] == side].sort_values(["prompt_id", "sample_idx"])["text"]
               .tolist()[:settings.n_fit_texts] for side in "AB"]
    # A's and B's texts alternate, so that a token cap cuts both sides alike.
    fit = [t for pair in zip(*by_side) for t in pair]
    sample = heldout_texts(val, paired_heldout(val, settings.n_texts, gen.seed), gen.seed)
    if sample["prompt_id"].nunique() < 2:
        raise ModelDiffError(f"the feature table needs held-out texts of at least two prompts "
                             f"on both sides; run {run_id} has {sample['prompt_id'].nunique()} "
                             f"with --texts {settings.n_texts}")
    return RunTexts(gen, fit, sample.reset_index(drop=True),
                    scaling_inputs(store, run_id, hypothesis_set, settings.n_evidence))


def top_features(table, values, sample, acts_b, delta, lm_b, settings: FeatureSettings
                 ) -> list[dict]:
    """For the first n_top rows of the table: the highest-activating texts with their tokens'
    activations, and the tokens the feature promotes."""
    unembedding = lm_b.model.get_output_embeddings().weight
    texts, out = sample["text"].tolist(), []
    for latent in (int(j) for j in table["latent"].head(settings.n_top)):
        shown = top_texts(values, texts, latent, settings.n_examples)
        for t in shown:
            t["side"] = sample["side"].iloc[t["index"]]
            t["tokens"] = token_activations(delta, acts_b, t["index"], latent, lm_b.tokenizer)
        out.append({"latent": latent, "texts": shown,
                    "promoted": promoted_tokens(unembedding, delta, latent, lm_b.tokenizer)})
    return out


def linked_features(store, run_id: str, hypothesis_set: str, hyps: list[dict], sample, values,
                    n: int, notes: list[str]) -> dict:
    """hypothesis_id -> the n features that best predict it on the held-out texts: chosen on
    half of the held-out prompts, their AUC reported on the other half."""
    val = store.validations(run_id, hypothesis_set)
    links = {}
    for h in hyps:
        d = val[(val["hypothesis_id"] == h["hypothesis_id"]) & (val["test"] == "discriminative")]
        labels = hypothesis_labels(h, sample, d.iloc[0]["result"] if not d.empty else None)
        if labels is None:
            notes.append(f"{h['hypothesis_id']}: no predicate and no stored judge scores on "
                         "these texts: no features linked")
            continue
        scored = ~np.isnan(labels.astype(float))  # an LLM's test may have scored a subset
        links[h["hypothesis_id"]] = hypothesis_links(values[scored], labels[scored] == 1, n,
                                                     sample["prompt_id"].to_numpy()[scored])
    return links


def scaled_behaviour(store, texts: RunTexts, scaler, links: dict, settings: FeatureSettings,
                     judge, progress) -> list[dict]:
    """The scaling rows (see scaling_rows) on each hypothesis' evidence texts and on fresh
    generations of the run's held-out prompts; stored in `store` setting by setting."""
    if not texts.hypotheses:
        return []
    runner = SettingRunner(scaler, texts.scaling,
                           RunnerSettings(texts.generation, settings.n_generations))
    return scaling_rows(runner, texts.hypotheses, links, settings.alphas, judge, store, progress)


def heldout_activations(lm_a, lm_b, layer: int, sample, max_tokens: int, notes: list[str]):
    """(sample, A's activations, B's): the held-out texts both models' token cap holds whole."""
    acts_a, acts_b = (mlp_io(lm, layer, sample["text"].tolist(), max_tokens=max_tokens)
                      for lm in (lm_a, lm_b))
    covered = min(acts_a.n_texts, acts_b.n_texts)
    if covered < len(sample):
        notes.append(f"the token cap ({max_tokens}) covers {covered} of the {len(sample)} "
                     "held-out texts: the table is on those")
        sample = sample.iloc[:covered]
        if sample["prompt_id"].nunique() < 2:
            raise ModelDiffError(f"--max-tokens {max_tokens} holds held-out texts of fewer "
                                 "than two prompts: raise it")
    return sample, acts_a, acts_b


def feature_lens_for_run(store, run_id: str, cache, hypothesis_set: str = "offline",
                         settings: Optional[FeatureSettings] = None, *,
                         judge: Optional[Callable] = None,
                         progress: Optional[ProgressCallback] = None, folder=None) -> dict:
    """The feature lens on a stored run, as plain data (the CLI's JSON and what is stored):
    {layer, layer_from, dictionary, quality, features, top_features, links, hypotheses,
    scaling, notes, n_fit_texts, n_texts, seconds}."""
    started, settings, notes = time.perf_counter(), settings or FeatureSettings(), []
    settings.check()
    run = store.get_run(run_id)
    if run is None:
        raise ModelDiffError(f"no run {run_id} in the database")
    specs = [ModelSpec.from_dict(run[f"spec_{side}"]) for side in "ab"]
    for spec in specs:
        needs_weights(spec, "the feature lens")
    texts = run_texts(store, run, hypothesis_set, settings)

    lm_a, lm_b = cache.get(specs[0]), cache.get(specs[1])
    n_layers = check_pair(lm_a, lm_b)
    layer, layer_from = choose_layer(store, run_id, hypothesis_set, n_layers, settings.layer)
    base, delta, info = dictionaries(lm_a, lm_b, layer, texts.fit_texts, settings, folder,
                                     progress)
    if info["n_texts"] < len(texts.fit_texts):
        notes.append(f"the token cap ({settings.max_tokens}) held {info['n_texts']} of the "
                     f"{len(texts.fit_texts)} discovery texts the dictionaries were fitted on")

    bar = StageProgress(progress, "feature table", 3, unit="steps")
    sample, acts_a, acts_b = heldout_activations(lm_a, lm_b, layer, texts.sample,
                                                 settings.max_tokens, notes)
    bar.advance(1, "held-out activations")
    quality = quality_rows(lm_a, lm_b, layer, base, delta, acts_a, acts_b,
                           sample["text"].tolist()[:settings.n_loss_texts])
    bar.advance(1, "quality")
    values = text_values(delta, acts_b.x, acts_b.text, len(sample))
    peaks = text_values(delta, acts_b.x, acts_b.text, len(sample), reduce="max")
    table = feature_table(values, sample["side"].tolist(), sample["prompt_id"].tolist(),
                          settings.fdr)
    links = linked_features(store, run_id, hypothesis_set, texts.hypotheses, sample, values,
                            settings.n_linked, notes)
    bar.advance(1, "tested and linked")
    if not texts.hypotheses:
        notes.append("no validated hypotheses in this run: no links and no scaling curves")
    scaler = FeatureScaler(lm_a, lm_b, layer, base, delta, info["weights"])
    scaling = scaled_behaviour(store, texts, scaler, links, settings, judge, progress)
    return {"run_id": run_id, "hypothesis_set": hypothesis_set, "layer": layer,
            "layer_from": layer_from, "n_layers": n_layers, "settings": settings.to_dict(),
            "dictionary": info, "quality": quality,
            "features": table.replace({np.nan: None}).to_dict("records"),
            "top_features": top_features(table, peaks, sample, acts_b, delta, lm_b, settings),
            "links": [{"hypothesis_id": hid, **link} for hid, rows in links.items()
                      for link in rows],
            "hypotheses": [{"hypothesis_id": h["hypothesis_id"], "text": h["text"]}
                           for h in texts.hypotheses],
            "scaling": scaling, "measured_on": measured_on(texts.scaling), "notes": notes,
            "n_fit_texts": info["n_texts"],
            "n_texts": len(sample), "seconds": time.perf_counter() - started}
