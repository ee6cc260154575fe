"""Real routing data packaged with the library: GSM8K answered by GPT-4 and Mixtral.

The 1,319 GSM8K test questions, each answered by a primary model (gpt-4-1106-preview) and an
alternative model (Mixtral-8x7B-Instruct-v0.1), with the answer-key correctness of both
answers, from the RouteLLM project (Apache-2.0; see ``data/PROVENANCE_gsm8k.md``). The
gold-standard (GS) gain is the difference of the two correctness flags. The data hold no
preference-based (PB) labels: a judge that never sees the answer key makes them, by default
`verbosity_judge`, a rule that mimics the verbosity bias of LLM judges.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from ._container import RoutingDataset
from ._packaged import packaged_file, read_packaged_array

__all__ = ["load_gsm8k_routing", "load_gsm8k_texts", "verbosity_judge"]

_CSV_NAME = "gsm8k_routing.csv.gz"
_EMBEDDINGS_NAME = "gsm8k_minilm_l6_v2_embeddings.npy"
_N_ROWS = 1319
_EMBEDDING_DIM = 384
_TEXT_COLUMNS = [
    "query_id",
    "prompt",
    "primary_response",
    "alternative_response",
    "primary_correct",
    "alternative_correct",
    "primary_model",
    "alternative_model",
]
_EXTRA_FEATURES = ["prompt_log_chars", "prompt_n_numbers", "prompt_n_sentences"]

#: A comma between digits followed by exactly three digits is a thousands separator.
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
#: A number: optional sign glued to it (not a subtraction such as "16-7" or "5 - 3"),
#: optional dollar sign, digits with an optional decimal part (or a bare ".5").
_NUMBER = re.compile(r"(?<![\d.])(?P<sign>[-\u2212])?\$?(?P<value>\d+(?:\.\d+)?|\.\d+)")
#: End of a sentence: terminal punctuation followed by whitespace or the end of the text.
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


# ------------------------------------------------------------------------------ the judge


def _normalise_numbers(text: str) -> str:
    """Drop thousands separators and move a sign written after ``$`` before it."""
    return _THOUSANDS_COMMA.sub("", text).replace("$-", "-$").replace("$\u2212", "-$")


def _extract_final_answer(text: str) -> float | None:
    """Return the last number in ``text``, or None if it has none.

    Thousands separators (``1,000``), a dollar sign (``$5``, ``-$5``, ``$-5``), a minus sign
    glued to the number and a decimal part are understood; a trailing full stop is not a
    decimal point. Fractions are not evaluated (``2/3`` gives 3).

    Examples
    --------
    >>> _extract_final_answer("So she makes 9 * $2 = $18 every day.")
    18.0
    >>> _extract_final_answer("The total is $1,234.50.")
    1234.5
    >>> _extract_final_answer("It drops to -3 degrees.")
    -3.0
    >>> _extract_final_answer("16-7 leaves 9") == 9.0
    True
    >>> _extract_final_answer("No idea.") is None
    True
    """
    matches = _NUMBER.findall(_normalise_numbers(text))
    if not matches:
        return None
    sign, value = matches[-1]
    number = float(value)
    return -number if sign else number


def _count_numbers(text: str) -> int:
    """Count the numbers in ``text``, read as `_extract_final_answer` reads them."""
    return len(_NUMBER.findall(_normalise_numbers(text)))


def _count_sentences(text: str) -> int:
    """Count the non-empty pieces of ``text`` between sentence-ending punctuation."""
    return sum(1 for piece in _SENTENCE_END.split(text) if piece.strip())


def _as_texts(name: str, value: Any) -> np.ndarray:
    """Return ``value`` (a str or a 1-D sequence of str) as a 1-D object array."""
    array = np.array([value], dtype=object) if isinstance(value, str) else None
    if array is None:
        try:
            array = np.asarray(value, dtype=object)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"`{name}` must be a string or a 1-D sequence of strings; got "
                f"{type(value).__name__}."
            ) from exc
        if array.ndim == 0:
            raise TypeError(
                f"`{name}` must be a string or a 1-D sequence of strings; got "
                f"{type(value).__name__} {value!r}."
            )
        if array.ndim != 1:
            raise ValueError(
                f"`{name}` must be a string or a 1-D sequence of strings; got an array of "
                f"shape {array.shape}."
            )
    for position, item in enumerate(array):
        if not isinstance(item, str):
            raise TypeError(
                f"`{name}` must hold strings; got {type(item).__name__} {item!r} at "
                f"position {position}."
            )
    return array


def verbosity_judge(
    prompt: Any, primary_response: Any, alternative_response: Any
) -> float | np.ndarray:
    """Prefer the longer answer unless both answers agree: a rule-based preference judge.

    A cheap, documented stand-in for an LLM judge that compares two answers without the
    answer key. It reads the final answer of each response (its last number) and

    - returns ``0.0`` (a tie) if both final answers exist and are numerically equal: the
      judge sees the two models agree;
    - otherwise prefers the longer response, counted in whitespace-separated tokens:
      ``+1.0`` if the primary's is longer, ``-1.0`` if the alternative's is longer, ``0.0``
      if they have the same length.

    The rule mimics the known verbosity bias of LLM judges (they favour longer answers) and
    never looks at the answer key or at correctness flags. It is a rule, not a human and not
    an LLM. Any callable with the same signature can replace it as the ``judge`` of
    `load_gsm8k_routing`.

    Parameters
    ----------
    prompt : str or 1-D sequence of str
        The question(s). Unused by this rule (part of the judge signature); validated
        like the responses.
    primary_response : str or 1-D sequence of str
        Answer(s) of the primary model.
    alternative_response : str or 1-D sequence of str
        Answer(s) of the alternative model.

    Returns
    -------
    float or numpy.ndarray of shape (n,)
        A float when all three arguments are strings, otherwise one label in
        ``{-1.0, 0.0, 1.0}`` per row. A single string is repeated to the length of the
        sequences.

    Raises
    ------
    TypeError
        If an argument is neither a string nor a 1-D sequence of strings, or holds
        something other than strings (e.g. None or NaN).
    ValueError
        If the sequences have different lengths.

    Notes
    -----
    The final answer is the last number of the response after removing thousands
    separators (``1,000`` reads as 1000); a dollar sign, a minus sign glued to the number
    and a decimal part are understood (``$5`` equals ``5.00``); a response without a number
    has no final answer, and then the longer response wins. Fractions are not evaluated.

    Examples
    --------
    >>> from metarouter_econml.datasets import verbosity_judge
    >>> verbosity_judge("Q?", "The total is $1,000.", "Answer: 1000")
    0.0
    >>> verbosity_judge("Q?", "So the answer is 12 apples.", "12 - 5 = 7")
    1.0
    >>> verbosity_judge(["Q1?", "Q2?"], ["5", "It is 5"], ["$5.00", "I think it is 6"])
    array([ 0., -1.])
    """
    names = ("prompt", "primary_response", "alternative_response")
    values = (prompt, primary_response, alternative_response)
    scalar = all(isinstance(value, str) for value in values)
    arrays = [_as_texts(name, value) for name, value in zip(names, values, strict=True)]
    lengths = {
        name: len(array)
        for name, value, array in zip(names, values, arrays, strict=True)
        if not isinstance(value, str)
    }
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "`prompt`, `primary_response` and `alternative_response` must have the same "
            f"length (or be single strings); got lengths {lengths}."
        )
    n_rows = next(iter(lengths.values()), 1)
    primary, alternative = (
        np.repeat(array, n_rows) if isinstance(value, str) else array
        for value, array in zip(values[1:], arrays[1:], strict=True)
    )
    labels = np.empty(n_rows, dtype=np.float64)
    for i in range(n_rows):
        answer_p = _extract_final_answer(primary[i])
        answer_a = _extract_final_answer(alternative[i])
        if answer_p is not None and answer_a is not None and answer_p == answer_a:
            labels[i] = 0.0
            continue
        labels[i] = np.sign(len(primary[i].split()) - len(alternative[i].split()))
    return float(labels[0]) if scalar else labels


# ------------------------------------------------------------------------------ loaders


_data_file = packaged_file


def _read_table() -> pd.DataFrame:
    """Read the packaged CSV and check its layout."""
    with _data_file(_CSV_NAME).open("rb") as handle:
        table = pd.read_csv(handle, compression="gzip")
    missing = [column for column in _TEXT_COLUMNS if column not in table.columns]
    if missing or len(table) != _N_ROWS or not np.array_equal(table["query_id"], range(_N_ROWS)):
        raise RuntimeError(
            f"The packaged file {_CSV_NAME} is damaged: expected {_N_ROWS} rows with "
            f"query_id 0..{_N_ROWS - 1} and columns {_TEXT_COLUMNS}; got {len(table)} rows "
            f"and columns {list(table.columns)}. Reinstall metarouter_econml."
        )
    return table


def _read_embeddings() -> np.ndarray:
    """Read the packaged prompt embeddings as a float64 array of shape (1319, 384)."""
    return read_packaged_array(_EMBEDDINGS_NAME, (_N_ROWS, _EMBEDDING_DIM), _data_file)


def load_gsm8k_texts() -> pd.DataFrame:
    """Return the prompts, answers and correctness flags of the packaged GSM8K data.

    Rows are aligned with `load_gsm8k_routing`: row ``i`` of this frame is row ``i`` of the
    dataset (``query_id == i``). Read from files packaged with the library, without network
    access; each call returns a new frame.

    Returns
    -------
    pandas.DataFrame of shape (1319, 8)
        Columns ``query_id`` (0..1318, GSM8K test order), ``prompt``,
        ``primary_response``, ``alternative_response``, ``primary_correct``,
        ``alternative_correct`` (bool, answer-key grading by RouteLLM: last number of the
        answer equals the reference), ``primary_model`` (gpt-4-1106-preview) and
        ``alternative_model`` (mistralai/Mixtral-8x7B-Instruct-v0.1).

    See Also
    --------
    load_gsm8k_routing : The same rows as a `RoutingDataset`.

    Examples
    --------
    >>> from metarouter_econml.datasets import load_gsm8k_texts
    >>> texts = load_gsm8k_texts()
    >>> texts.shape
    (1319, 8)
    >>> float(texts["primary_correct"].mean().round(3))
    0.857
    """
    table = _read_table()[_TEXT_COLUMNS].copy()
    table["query_id"] = table["query_id"].astype(np.int64)
    for column in ("primary_correct", "alternative_correct"):
        table[column] = table[column].astype(bool)
    return table.reset_index(drop=True)


def _prompt_features(prompts: pd.Series) -> pd.DataFrame:
    """Cheap features of the prompt text (see `load_gsm8k_routing`)."""
    texts = prompts.tolist()
    return pd.DataFrame(
        {
            "prompt_log_chars": np.log1p([len(text) for text in texts]),
            "prompt_n_numbers": np.array([_count_numbers(text) for text in texts], float),
            "prompt_n_sentences": np.array([_count_sentences(text) for text in texts], float),
        }
    )


def _apply_judge(judge: Callable[..., Any], table: pd.DataFrame) -> np.ndarray:
    """Call the judge once on all rows and validate its labels."""
    result = judge(
        table["prompt"].copy(),
        table["primary_response"].copy(),
        table["alternative_response"].copy(),
    )
    try:
        labels = np.asarray(result, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"`judge` must return numbers; got {type(result).__name__} that cannot be "
            "converted to float."
        ) from exc
    if labels.shape != (len(table),):
        raise ValueError(
            f"`judge` must return one label per row, an array of shape ({len(table)},); "
            f"got shape {labels.shape}."
        )
    n_bad = int(np.count_nonzero(~np.isfinite(labels)))
    if n_bad:
        raise ValueError(
            f"`judge` must return finite labels; got {n_bad} NaN or infinite value(s)."
        )
    return labels


def load_gsm8k_routing(
    *,
    judge: Callable[..., Any] | None = None,
    n_components: int | None = None,
    extra_features: bool = False,
    random_state: Any = None,
) -> RoutingDataset:
    """Load the packaged GSM8K routing data (GPT-4 vs Mixtral) as a `RoutingDataset`.

    The 1,319 GSM8K test questions (grade-school maths), each answered by the primary model
    gpt-4-1106-preview (correct on 85.7%) and the alternative model Mixtral-8x7B-Instruct-v0.1
    (correct on 63.8%), from the RouteLLM project (Apache-2.0). Read from files packaged
    with the library, without network access. The prompts and answers are not in the
    dataset: `load_gsm8k_texts` returns them, row-aligned with it.

    Parameters
    ----------
    judge : callable or None, default=None
        Makes the preference-based (PB) labels: called once as
        ``judge(prompt, primary_response, alternative_response)`` with three pandas Series
        of strings (one entry per row), it must return one finite number per row, larger
        when the primary answer is preferred. None means `verbosity_judge`. A judge should
        not use the answer key.
    n_components : int or None, default=None
        If given, replace the 384 embedding columns by this many principal components
        (``sklearn.decomposition.PCA``), between 1 and 384. PCA is fitted on all 1,319 rows,
        test rows included; it is unsupervised (no labels), as in the Meta-Router paper.
    extra_features : bool, default=False
        If True, append three cheap prompt features: ``prompt_log_chars`` (log1p of the
        length in characters), ``prompt_n_numbers`` (how many numbers the question holds)
        and ``prompt_n_sentences`` (how many sentences).
    random_state : int, numpy.random.RandomState or None, default=None
        Passed to PCA (its randomized solver, which scikit-learn picks for most
        ``n_components`` here, depends on it). Unused without ``n_components``.

    Returns
    -------
    RoutingDataset
        ``X``: the prompt embeddings ``emb1``..``emb384`` (all-MiniLM-L6-v2, unit norm) or
        the components ``pc1``..``pc{n_components}``, then the prompt features if asked,
        with index ``query_id``; ``gold_gain = primary_correct - alternative_correct`` in
        ``{-1.0, 0.0, 1.0}`` (383 × +1, 841 × 0, 95 × -1); ``preference_label`` from the
        judge; ``psi`` and ``delta`` None (the truth is unknown); ``name="gsm8k"``.

    Raises
    ------
    TypeError
        If ``judge`` is not callable or returns something that is not numeric,
        ``n_components`` is not an int or ``extra_features`` not a bool.
    ValueError
        If ``n_components`` is outside 1..384 or the judge's labels have the wrong shape or
        are not finite.

    See Also
    --------
    load_gsm8k_texts : Prompts, answers and correctness flags, row-aligned.
    verbosity_judge : The default judge.

    Notes
    -----
    The default PB label is a rule (`verbosity_judge`), not a human or an LLM: it ties when
    both answers end in the same number and otherwise prefers the longer answer. It is
    biased the way LLM judges are known to be (towards verbose answers), which is what the
    Meta-Router corrects with a few GS labels. The GS gain comes from RouteLLM's grading
    against the GSM8K answer key. Provenance, licence and file details are in
    ``metarouter_econml/datasets/data/PROVENANCE_gsm8k.md``.

    Examples
    --------
    >>> from metarouter_econml.datasets import load_gsm8k_routing
    >>> data = load_gsm8k_routing(n_components=20, random_state=0)
    >>> data
    RoutingDataset(name='gsm8k', n_samples=1319, n_features=20, psi=unknown, delta=unknown)
    >>> sorted(set(data.gold_gain.tolist()))
    [-1.0, 0.0, 1.0]
    >>> split = data.split(n_test=300, n_gold=100, random_state=0)
    """
    if judge is None:
        judge = verbosity_judge
    if not callable(judge):
        raise TypeError(
            "`judge` must be a callable judge(prompt, primary_response, alternative_response); "
            f"got {type(judge).__name__} {judge!r}."
        )
    if n_components is not None:
        if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
            raise TypeError(
                f"`n_components` must be an int or None; got {type(n_components).__name__} "
                f"{n_components!r}."
            )
        if not 1 <= n_components <= _EMBEDDING_DIM:
            raise ValueError(
                f"`n_components` must be between 1 and {_EMBEDDING_DIM}; got {n_components}."
            )
    if not isinstance(extra_features, bool | np.bool_):
        raise TypeError(
            f"`extra_features` must be a bool; got {type(extra_features).__name__} "
            f"{extra_features!r}."
        )

    table = _read_table()
    embeddings = _read_embeddings()
    if n_components is None:
        X = pd.DataFrame(embeddings, columns=[f"emb{j}" for j in range(1, _EMBEDDING_DIM + 1)])
    else:
        pca = PCA(n_components=int(n_components), random_state=random_state)
        X = pd.DataFrame(
            pca.fit_transform(embeddings), columns=[f"pc{j}" for j in range(1, n_components + 1)]
        )
    if extra_features:
        X = pd.concat([X, _prompt_features(table["prompt"])], axis=1)
    X.index = pd.RangeIndex(len(X), name="query_id")

    gold_gain = table["primary_correct"].astype(float) - table["alternative_correct"].astype(float)
    preference_label = _apply_judge(judge, table)
    judge_name = getattr(judge, "__qualname__", type(judge).__name__)
    features = (
        f"{_EMBEDDING_DIM}-d all-MiniLM-L6-v2 prompt embeddings (emb1..emb{_EMBEDDING_DIM})"
        if n_components is None
        else f"{n_components} principal components (pc1..pc{n_components}) of the "
        f"{_EMBEDDING_DIM}-d all-MiniLM-L6-v2 prompt embeddings, PCA fitted on all rows"
    )
    if extra_features:
        features += " plus " + ", ".join(_EXTRA_FEATURES)
    description = (
        "GSM8K test questions (1,319) answered by gpt-4-1106-preview (primary) and "
        "Mixtral-8x7B-Instruct-v0.1 (alternative), from RouteLLM (Apache-2.0). "
        "gold_gain = primary_correct - alternative_correct in {-1, 0, 1}, graded against the "
        f"GSM8K answer key. preference_label = {judge_name}(prompt, primary_response, "
        "alternative_response)"
        + (
            ": a rule-based judge (not a human, not an LLM) that never sees the answer key; "
            "0 when both final answers agree, otherwise +1/-1 for the longer answer "
            "(verbosity bias)"
            if judge is verbosity_judge
            else ": a user-supplied judge"
        )
        + f". Features: {features}. psi and delta unknown."
    )
    return RoutingDataset(
        X=X,
        gold_gain=gold_gain.to_numpy(),
        preference_label=preference_label,
        name="gsm8k",
        description=description,
    )
