"""Text encoders: MiniLM offline, TF-IDF, E5 prefixes, path validation, embed_unique."""
from __future__ import annotations

import json

import numpy as np
import pytest

from selfsynth.metrics.encoders import (E5_PREFIXES, EncoderError, MiniLMEncoder, SentenceTransformerEncoder,
                                TextEncoder, TfidfEncoder, embed_unique, looks_like_e5, make_encoder,
                                minilm_model_dir)


@pytest.fixture(scope="module")
def minilm():
    return make_encoder("minilm", device="cpu")


def test_minilm_offline_unit_384(minilm):
    assert isinstance(minilm, MiniLMEncoder) and isinstance(minilm, TextEncoder)
    assert (minilm_model_dir() / "modules.json").is_file()
    x = minilm.encode(["bright crimson plumage", "the bird is red", "the tail is forked"])
    assert x.shape == (3, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert x[0] @ x[1] > x[0] @ x[2]


def test_minilm_is_deterministic_and_ignores_role(minilm):
    texts = ["a small brown bird", "white wing bars"]
    a = minilm.encode(texts, role="query")
    b = minilm.encode(texts, role="passage")
    np.testing.assert_array_equal(a, b)
    assert minilm.encode([]).shape == (0, 384)


def test_tfidf():
    texts = ["the bird is red", "a red crown", "the tail is forked", "forked tail and long wings"]
    enc = make_encoder("tfidf")
    assert isinstance(enc, TfidfEncoder)
    with pytest.raises(EncoderError, match="not fitted"):
        enc.encode(texts)
    enc.fit(texts)
    x = enc.encode(["red bird", "forked tail"], role="passage")
    assert x.dtype == np.float32 and x.shape[0] == 2
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-6)
    y = enc.encode(texts)
    assert y[0] @ x[0] > y[0] @ x[1] and y[3] @ x[1] > y[3] @ x[0]
    np.testing.assert_array_equal(enc.encode(["red bird"], role="query"), x[:1])
    assert not enc.encode(["zebra"]).any()      # no known term: a zero row, not NaN


def _fake_model_dir(path, name_or_path=None):
    path.mkdir(parents=True)
    cfg = {"model_type": "bert"}
    if name_or_path:
        cfg["_name_or_path"] = name_or_path
    (path / "config.json").write_text(json.dumps(cfg))
    return path


class _RecordingModel:
    """Stands in for a SentenceTransformer: records what it was asked to encode."""

    def __init__(self):
        self.seen = []

    def get_embedding_dimension(self):
        return 4

    def encode(self, texts, **kw):
        self.seen.extend(texts)
        return np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)


def test_e5_prefix_detection(tmp_path):
    assert looks_like_e5(_fake_model_dir(tmp_path / "e5-large-v2"))
    assert looks_like_e5(_fake_model_dir(tmp_path / "retriever", "intfloat/multilingual-e5-base"))
    assert not looks_like_e5(_fake_model_dir(tmp_path / "bert-base", "bert-base-uncased"))
    assert not looks_like_e5(_fake_model_dir(tmp_path / "bge5-small"))
    enc = SentenceTransformerEncoder(tmp_path / "e5-large-v2")
    assert enc.prefixes == E5_PREFIXES
    enc._model = _RecordingModel()
    x = enc.encode(["the bird is red"], role="query")
    enc.encode(["red crown"], role="passage")
    assert enc._model.seen == ["query: the bird is red", "passage: red crown"]
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-6)
    plain = SentenceTransformerEncoder(tmp_path / "bert-base")
    assert plain.prefixes == {}
    plain._model = _RecordingModel()
    plain.encode(["red crown"], role="passage")
    assert plain._model.seen == ["red crown"]
    with pytest.raises(EncoderError, match="role"):
        plain.encode(["x"], role="document")


def test_bad_encoder_path_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(EncoderError, match=rf"{missing}: not a sentence-transformers model directory"):
        make_encoder(str(missing))
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    with pytest.raises(EncoderError, match=rf"{empty}: .*no config.json or modules.json"):
        SentenceTransformerEncoder(empty)
    afile = tmp_path / "weights.bin"
    afile.write_text("x")
    with pytest.raises(EncoderError, match=rf"{afile}: .*not a directory"):
        make_encoder(str(afile))


def test_embed_unique_encodes_each_text_once(tmp_path):
    enc = SentenceTransformerEncoder(_fake_model_dir(tmp_path / "plain"))
    enc._model = _RecordingModel()
    texts = ["aa", "b", "aa", "cccc", "b", "aa"]
    x = embed_unique(enc, texts, role="query")
    assert enc._model.seen == ["aa", "b", "cccc"]
    assert x.shape == (6, 4)
    np.testing.assert_array_equal(x, enc.encode(texts))
    assert embed_unique(enc, [], role="query").shape == (0, 4)


@pytest.fixture
def one_thread():
    """As in a stage (params.threads): one torch thread here and in the workers forked from here."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_an_encode_shared_among_workers_gives_the_bits_of_one_process(one_thread):
    """The select stage splits its ~7,600 descriptions over two processes: the same batches, each
    padded as in one process, so selection cannot tell how many processes encoded."""
    words = ["red", "crest", "wing", "bar", "bill", "hooked", "tail", "forked", "eye", "ring", "spotted"]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in range(90)]
    one = MiniLMEncoder(batch_size=8).encode(texts)
    shared = MiniLMEncoder(batch_size=8, workers=2)
    assert np.array_equal(shared.encode(texts), one)
    assert shared._model is None  # the workers loaded their own copies; none was pickled here
    # One batch: no split, so the same computation as one process on the same five texts. (Compared
    # with one[:5] it would differ in its padding, and some CPUs round that 1e-7 apart.)
    five = MiniLMEncoder(batch_size=8).encode(texts[:5])
    assert np.array_equal(MiniLMEncoder(batch_size=8, workers=2).encode(texts[:5]), five)
