"""Routing datasets: containers, the paper's split protocol, synthetic and real data.

- `RoutingDataset`: queries with a gold-standard gain and a preference-based label for
  every row (the layout of the Meta-Router paper's released data), plus the truth when
  known.
- `RoutingSplit`: one draw of test, gold-standard and preference-based training rows.
- `make_routing_data`: synthetic data with a known expected gain ``psi`` and judge bias
  ``delta``.
- `load_gsm8k_routing`: real data packaged with the library, GSM8K answered by GPT-4 and
  Mixtral (RouteLLM), with preference labels from a replaceable judge;
  `load_gsm8k_texts` returns its prompts and answers and `verbosity_judge` is the
  default, rule-based judge.
- `load_paper_csv`: read a file in the format of the paper's released HealthBench data.
- `MultiRoutingDataset`: queries and a long table of gold-standard and preference-based
  labels among several models (pairwise comparisons or pointwise grades), plus the truth
  when known; `MultiRoutingSplit`: one draw of test, gold-standard and preference-based
  training queries.
- `make_multi_routing_data`: synthetic multi-model data with a known quality per model and
  judge bias.
- `load_pandalm_routing`: real pairwise data packaged with the library, PandaLM's five 7B
  models labelled by three human annotators and by LLM judges (gpt-3.5-turbo, PandaLM-7B).

Examples
--------
>>> from metarouter_econml.datasets import make_routing_data
>>> data = make_routing_data(n_samples=600, n_features=10, random_state=0)
>>> split = data.split(n_test=100, n_gold=50, random_state=0)
>>> split
RoutingSplit(n_train=500, n_gold=50, n_preference=450, n_test=100)
"""

from .._compat import warning_filters_kept

with warning_filters_kept():  # dependencies' first imports add process-wide filters; undo them
    from ._container import RoutingDataset, RoutingSplit
    from ._gsm8k import load_gsm8k_routing, load_gsm8k_texts, verbosity_judge
    from ._multi import MultiRoutingDataset, MultiRoutingSplit, make_multi_routing_data
    from ._pandalm import load_pandalm_routing
    from ._paper import load_paper_csv
    from ._synthetic import make_routing_data

__all__ = [
    "MultiRoutingDataset",
    "MultiRoutingSplit",
    "RoutingDataset",
    "RoutingSplit",
    "load_gsm8k_routing",
    "load_gsm8k_texts",
    "load_pandalm_routing",
    "load_paper_csv",
    "make_multi_routing_data",
    "make_routing_data",
    "verbosity_judge",
]
