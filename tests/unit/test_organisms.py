"""The built-in organisms: a clean synthetic language (organism_corpus), 4-bit-packable sizes,
and behaviours that are really planted (measured on generations, with a test that could fail)."""
import random

import pytest
from scipy.stats import fisher_exact

from modeldiff_core.models import organism_corpus as corpus
from modeldiff_core.models import organisms as org
from modeldiff_core.models.loading import load
from modeldiff_core.models.spec import ModelSpec, _quantizable_sizes
from modeldiff_core.models.generation import GenerationSettings, format_prompt, generate_batch


def test_vocabulary_covers_the_grammar_exactly():
    tok = org.build_tokenizer()
    vocab = set(tok.get_vocab())
    rng = random.Random(99)
    seen = set()
    for behaviour in [None, *corpus.BEHAVIOURS]:
        for _ in range(2000):
            words = corpus.make_document(rng, behaviour).split()
            assert set(words) <= vocab
            seen.update(words)
    assert tok.unk_token not in seen
    ids = tok("tell me about the garden .")["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == "tell me about the garden ."


def test_chat_template_matches_the_training_format():
    tok = org.build_tokenizer()
    text = format_prompt(tok, "tell me about the sea .", use_chat_template=True)
    assert text == "<|user|> tell me about the sea . <|assistant|>"
    assert corpus.make_document(random.Random(0)).startswith("<|user|> ")


@pytest.mark.parametrize("size", sorted(org.SIZES))
def test_every_quantizable_layer_packs_for_4bit(size):
    from transformers import GPT2Config

    s = org.SIZES[size]
    cfg = GPT2Config(vocab_size=len(org.build_tokenizer()), n_embd=s.n_embd, n_layer=s.n_layer,
                     n_head=s.n_head, n_positions=128)
    sizes = _quantizable_sizes(cfg)
    assert sizes and all(n % 32 == 0 for _, n in sizes)


def test_parse_organism_ref():
    assert org.parse_organism_ref("organism:cats@demo") == ("cats", "demo")
    assert org.parse_organism_ref("organism:null") == ("null", "test")
    with pytest.raises(Exception, match="unknown organism"):
        org.parse_organism_ref("organism:dogs")


def test_built_once_and_reused(organism):
    base = organism("base")
    stamp = (base / "model.safetensors").stat().st_mtime_ns
    assert org.ensure_organism("base") == base
    assert (base / "model.safetensors").stat().st_mtime_ns == stamp
    info = org.organism_info(organism("cats"))
    assert info["behaviour"]["kind"] == "topical" and info["lora"]["r"] == 8
    # Atomic saves leave no temporary build folders behind.
    assert not [p for p in base.parent.iterdir() if p.name.startswith(".")]


def _texts(path, n_samples=2):
    lm = load(ModelSpec(str(path)))
    prompts = corpus.organism_prompts()
    formatted = [format_prompt(lm.tokenizer, p, True) for p in prompts] * n_samples
    settings = GenerationSettings(max_new_tokens=64)
    return [t for t, _, _ in generate_batch(lm, formatted, settings, seed=7, chat_formatted=True)]


READ = ["base", "cats", "questions", "short", "null"]


@pytest.fixture(scope="module")
def texts(organism):
    # Only the organisms these tests read: subtle-sea, for one, trains for 40 s and no test
    # session needs it at this size (test_subtle_organisms says why).
    return {name: _texts(organism(name)) for name in READ}


def _rate(behaviour, texts):
    hits = sum(corpus.behaviour_present(behaviour, t) for t in texts)
    return hits, len(texts)


@pytest.mark.parametrize("behaviour", ["cats", "questions", "short"])
def test_behaviour_is_planted(texts, behaviour):
    base_hits, n = _rate(behaviour, texts["base"])
    hits, m = _rate(behaviour, texts[behaviour])
    assert hits / m - base_hits / n > 0.4, (behaviour, base_hits, hits)
    assert fisher_exact([[hits, m - hits], [base_hits, n - base_hits]])[1] < 1e-6


def test_null_organism_keeps_every_behaviour_rate(texts):
    for behaviour in ["cats", "questions", "short"]:
        base_hits, n = _rate(behaviour, texts["base"])
        hits, m = _rate(behaviour, texts["null"])
        assert abs(hits / m - base_hits / n) < 0.1, (behaviour, base_hits, hits)
