"""Routing datasets: containers, the paper's split protocol and a synthetic generator.

- `RoutingDataset`: queries with a gold-standard gain and a preference-based label for
  every row (the layout of the Meta-Router paper's released data), plus the truth when
  known.
- `RoutingSplit`: one draw of test, gold-standard and preference-based training rows.
- `make_routing_data`: synthetic data with a known expected gain ``psi`` and judge bias
  ``delta``.

Examples
--------
>>> from metarouter_econml.datasets import make_routing_data
>>> data = make_routing_data(n_samples=600, n_features=10, random_state=0)
>>> split = data.split(n_test=100, n_gold=50, random_state=0)
>>> split
RoutingSplit(n_train=500, n_gold=50, n_preference=450, n_test=100)
"""

from ._container import RoutingDataset, RoutingSplit
from ._synthetic import make_routing_data

__all__ = ["RoutingDataset", "RoutingSplit", "make_routing_data"]
