"""Real multi-model routing data packaged with the library: PandaLM's human-labelled test set.

999 pairwise comparisons of the answers of five instruction-tuned 7B models (llama-7b,
bloom-7b, cerebras-gpt-6.7B, opt-7b, pythia-6.9b) on 170 distinct instructions, each labelled
by three human annotators (the gold standard) and by two LLM judges, gpt-3.5-turbo and
PandaLM-7B (preference-based labels), from the PandaLM project (WeOpenML/PandaLM, Apache-2.0;
see ``data/PROVENANCE_pandalm.md``).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from .._validation import Options
from ._multi import MultiRoutingDataset
from ._packaged import damaged, packaged_file, read_packaged_array

__all__ = ["load_pandalm_routing"]

_CSV_NAME = "pandalm_pairs.csv.gz"
_EMBEDDINGS_NAME = "pandalm_minilm_l6_v2_query_embeddings.npy"
_N_ROWS = 999
_N_QUERIES = 170
_EMBEDDING_DIM = 384
_ANNOTATORS = ("annotator1", "annotator2", "annotator3")
_COLUMNS = (
    "idx",
    "motivation_app",
    "cmp_key",
    "model_1",
    "model_2",
    "instruction",
    "input",
    *_ANNOTATORS,
    "judge_gpt35",
    "judge_pandalm7b",
)
#: Model names (sorted) and their published parameter counts in billions: the nominal costs.
_COSTS = {
    "bloom-7b": 7.1,
    "cerebras-gpt-6.7B": 6.7,
    "llama-7b": 6.7,
    "opt-7b": 6.7,
    "pythia-6.9b": 6.9,
}
#: Verdict "1": response1 (``model_1``) is better; "2": response2 (``model_2``) is better.
_HUMAN_VOTES = {"1": 1.0, "2": -1.0, "0": 0.0}
#: Judge name -> (column, verdict -> label); verdicts not in the map are dropped.
_JUDGES = {
    "gpt-3.5-turbo": ("judge_gpt35", {"1": 1.0, "2": -1.0, "Tie": 0.0}),
    "pandalm-7b": ("judge_pandalm7b", {"1": 1.0, "2": -1.0, "0": 0.0}),
}
_JUDGE_CHOICES = (*_JUDGES, "both")
_MAPPING_CAVEAT = (
    "response1 is taken as model_1's answer (the first name of cmp_key), as PandaLM's README "
    "says; the files do not record it per row (of the 611 (query, model) groups seen in several "
    "comparisons, 594 have one answer text under this reading, 32 under the reverse)."
)


_data_file = packaged_file  # module-level, so that tests can point it elsewhere


def _read_table() -> pd.DataFrame:
    """Read the packaged comparisons (every cell as a string, empty inputs kept as '')."""
    with _data_file(_CSV_NAME).open("rb") as handle:
        table = pd.read_csv(handle, compression="gzip", dtype=str, keep_default_na=False)
    missing = [column for column in _COLUMNS if column not in table.columns]
    if missing or len(table) != _N_ROWS:
        raise damaged(
            _CSV_NAME,
            f"expected {_N_ROWS} rows with columns {list(_COLUMNS)}; got {len(table)} rows and "
            f"columns {list(table.columns)}",
        )
    if not np.array_equal(table["idx"].astype(np.int64), np.arange(_N_ROWS)):
        raise damaged(_CSV_NAME, f"expected idx 0..{_N_ROWS - 1} in order")
    unknown = sorted((set(table["model_1"]) | set(table["model_2"])) - set(_COSTS))
    if unknown:
        raise damaged(_CSV_NAME, f"unknown model names {unknown}")
    for column in _ANNOTATORS:
        odd = sorted(set(table[column]) - set(_HUMAN_VOTES))
        if odd:
            raise damaged(_CSV_NAME, f"unexpected votes {odd} in {column}")
    return table


def _read_embeddings() -> np.ndarray:
    """Read the packaged query embeddings as a float64 array of shape (170, 384)."""
    return read_packaged_array(_EMBEDDINGS_NAME, (_N_QUERIES, _EMBEDDING_DIM), _data_file)


def _query_codes(table: pd.DataFrame) -> np.ndarray:
    """Query position of every row: distinct (instruction, input), in order of appearance."""
    codes, uniques = pd.factorize(table["instruction"] + "\x00" + table["input"], sort=False)
    if len(uniques) != _N_QUERIES:
        raise damaged(_CSV_NAME, f"expected {_N_QUERIES} distinct queries; got {len(uniques)}")
    return codes.astype(np.int64)


def load_pandalm_routing(
    judge: str = "gpt-3.5-turbo",
    n_components: int | None = None,
    *,
    random_state: Any = None,
) -> MultiRoutingDataset:
    """Load PandaLM's human-labelled comparisons of five 7B models as a `MultiRoutingDataset`.

    PandaLM's test set (WeOpenML/PandaLM, Apache-2.0): 999 comparisons of the answers of two
    of five instruction-tuned 7B models (llama-7b, bloom-7b, cerebras-gpt-6.7B, opt-7b,
    pythia-6.9b, fine-tuned by the PandaLM authors on the same data) to one of 170 distinct
    user-oriented instructions (from self-instruct's human evaluation set), 89 to 111
    comparisons per pair of models. Each comparison was labelled by three human annotators
    (the gold standard) and by the LLM judges gpt-3.5-turbo and PandaLM-7B (preference-based
    labels). Read from files packaged with the library, without network access.

    Parameters
    ----------
    judge : {"gpt-3.5-turbo", "pandalm-7b", "both"}, default="gpt-3.5-turbo"
        Which judge's verdicts are the preference-based (PB) rows. gpt-3.5-turbo gave
        "1", "2", "Tie" or an unparseable answer ("garbage", 25 comparisons), which is
        dropped; PandaLM-7B gave "1", "2" or "0" (tie) on all 999. ``"both"`` keeps the
        verdicts of both judges as separate PB rows (told apart by ``source``).
    n_components : int or None, default=None
        If given, replace the 384 embedding columns by this many principal components
        (``sklearn.decomposition.PCA``), between 1 and 170. PCA is fitted on the 170 query
        embeddings (one row per query, test queries included); it is unsupervised (no
        labels), as in the Meta-Router paper and `load_gsm8k_routing`.
    random_state : int, numpy.random.RandomState or None, default=None
        Passed to PCA (its randomized solver depends on it). Unused without
        ``n_components``.

    Returns
    -------
    MultiRoutingDataset
        ``kind="pairwise"``, ``name="pandalm"``:

        - ``X``: one row per distinct query (instruction and input; index ``query``, in order
          of first appearance in the upstream file), the query embeddings ``emb1`` ..
          ``emb384`` (all-MiniLM-L6-v2 of ``instruction`` + blank line + ``input``, unit norm)
          or the components ``pc1`` .. ``pc{n_components}``;
        - ``models``: ``("bloom-7b", "cerebras-gpt-6.7B", "llama-7b", "opt-7b",
          "pythia-6.9b")``;
        - ``comparisons``: per comparison, three gold rows (``source`` ``"annotator1"`` ..
          ``"annotator3"``) and one PB row per judge verdict kept (``source`` the judge's
          name); ``model`` is ``model_1``, ``opponent`` ``model_2`` (the two names of the
          upstream ``cmp_key``), ``label`` +1 if ``model`` answered better, -1 if
          ``opponent`` did, 0 for a tie; extra column ``comparison`` (the upstream ``idx``,
          0..998) links the rows of one comparison. 2,997 gold rows; 974 PB rows for
          gpt-3.5-turbo, 999 for PandaLM-7B, 1,973 for both;
        - ``costs``: nominal, the published parameter counts in billions (bloom-7b 7.1,
          cerebras-gpt-6.7B 6.7, llama-7b 6.7, opt-7b 6.7, pythia-6.9b 6.9): the five models
          cost about the same to serve;
        - ``quality`` and ``bias``: None (unknown);
        - ``metadata``: ``"n_comparisons"`` (999), ``"judges"``, ``"n_dropped"`` (verdicts
          dropped per judge, e.g. ``{"gpt-3.5-turbo": 25}``), ``"response_mapping"``.

    Raises
    ------
    TypeError
        If ``judge`` is not a str or ``n_components`` is not an int or None.
    ValueError
        If ``judge`` is not an allowed value or ``n_components`` is outside 1..170.

    See Also
    --------
    MultiRoutingDataset.split : Draw test, gold and preference-based queries.
    load_gsm8k_routing : Two-model real data.

    Notes
    -----
    Which model answered as ``response1``: upstream ``cmp_key`` names the two models and
    PandaLM's README says ``response1`` is from the first one; the files do not say so per
    row. Of the 611 (query, model) groups that appear in several comparisons, 594 have a
    single answer text when ``response1`` is taken as ``model_1``'s and 32 under the reverse,
    so this loader uses that mapping. A vote for "1" is a vote for ``model_1``.

    The queries repeat across comparisons (1 to 10 comparisons each): ``X`` has one row per
    distinct (instruction, input). The upstream embeddings of a query's rows agree to
    2e-7; the packaged file keeps the first row's (float32). The costs are nominal: all five
    models have about 7 billion parameters, so a cost-quality trade-off on these data is
    about which model to pick, not about saving money. gpt-3.5-turbo agrees with the human
    majority on 71.6% of its parseable verdicts, PandaLM-7B on 66.8%. Provenance, licence
    and file details are in ``metarouter_econml/datasets/data/PROVENANCE_pandalm.md``.

    Examples
    --------
    >>> from metarouter_econml.datasets import load_pandalm_routing
    >>> data = load_pandalm_routing(n_components=20, random_state=0)
    >>> data
    MultiRoutingDataset(name='pandalm', kind='pairwise', n_queries=170, n_features=20, \
n_models=5, n_labels=3971, truth=unknown)
    >>> data.metadata["n_dropped"]
    {'gpt-3.5-turbo': 25}
    >>> data.comparisons["source"].value_counts().sort_index().to_dict()
    {'annotator1': 999, 'annotator2': 999, 'annotator3': 999, 'gpt-3.5-turbo': 974}
    >>> split = data.split(50, 30, random_state=0)
    >>> split.n_gold, split.n_preference
    (30, 90)
    """
    judge = Options(_JUDGE_CHOICES).check(judge, "judge")
    if n_components is not None:
        if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
            raise TypeError(
                f"`n_components` must be an int or None; got {type(n_components).__name__} "
                f"{n_components!r}."
            )
        if not 1 <= n_components <= _N_QUERIES:
            raise ValueError(
                f"`n_components` must be between 1 and {_N_QUERIES} (the number of distinct "
                f"queries); got {n_components}."
            )

    table = _read_table()
    query = _query_codes(table)
    embeddings = _read_embeddings()
    if n_components is None:
        X = pd.DataFrame(embeddings, columns=[f"emb{j}" for j in range(1, _EMBEDDING_DIM + 1)])
    else:
        pca = PCA(n_components=int(n_components), random_state=random_state)
        X = pd.DataFrame(
            pca.fit_transform(embeddings), columns=[f"pc{j}" for j in range(1, n_components + 1)]
        )
    X.index = pd.RangeIndex(_N_QUERIES, name="query")

    comparison = np.arange(_N_ROWS)
    blocks = []  # (rank within a comparison, rows): gold rows first, then the judges
    for rank, annotator in enumerate(_ANNOTATORS):
        blocks.append((rank, annotator, table[annotator].map(_HUMAN_VOTES), True))
    judges = list(_JUDGES) if judge == "both" else [judge]
    n_dropped = {}
    for rank, name in enumerate(judges, start=len(_ANNOTATORS)):
        column, verdicts = _JUDGES[name]
        labels = table[column].map(verdicts)
        n_dropped[name] = int(labels.isna().sum())
        blocks.append((rank, name, labels, False))
    frames = []
    for rank, source, labels, gold in blocks:
        kept = labels.notna().to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "query": query[kept],
                    "model": table["model_1"].to_numpy(dtype=object)[kept],
                    "opponent": table["model_2"].to_numpy(dtype=object)[kept],
                    "label": labels.to_numpy(dtype=np.float64)[kept],
                    "gold": np.full(int(kept.sum()), gold),
                    "source": np.full(int(kept.sum()), source, dtype=object),
                    "comparison": comparison[kept],
                    "_rank": np.full(int(kept.sum()), rank),
                }
            )
        )
    comparisons = (
        pd.concat(frames, ignore_index=True)
        .sort_values(["comparison", "_rank"], kind="stable")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )

    features = (
        f"{_EMBEDDING_DIM}-d all-MiniLM-L6-v2 query embeddings (emb1..emb{_EMBEDDING_DIM})"
        if n_components is None
        else f"{n_components} principal components (pc1..pc{n_components}) of the "
        f"{_EMBEDDING_DIM}-d all-MiniLM-L6-v2 query embeddings, PCA fitted on the "
        f"{_N_QUERIES} queries"
    )
    dropped = "; ".join(
        f"{count} {name} verdict(s) dropped (unparseable)" for name, count in n_dropped.items()
    )
    description = (
        f"PandaLM test set (WeOpenML/PandaLM, Apache-2.0): {_N_ROWS} pairwise comparisons of 5 "
        f"instruction-tuned 7B models on {_N_QUERIES} distinct queries. Gold rows: the votes "
        "of 3 human annotators (+1 model better, -1 opponent better, 0 tie). Preference rows: "
        f"{' and '.join(judges)} ({dropped}). model = model_1, opponent = model_2 of cmp_key; "
        f"{_MAPPING_CAVEAT} Features: {features}. Costs are nominal (parameter counts in "
        "billions; all about 7B). Quality and bias unknown."
    )
    return MultiRoutingDataset(
        X=X,
        comparisons=comparisons,
        models=tuple(_COSTS),
        costs=dict(_COSTS),
        kind="pairwise",
        name="pandalm",
        description=description,
        metadata={
            "n_comparisons": _N_ROWS,
            "judges": tuple(judges),
            "n_dropped": n_dropped,
            "response_mapping": _MAPPING_CAVEAT,
        },
    )
