"""Data sets: synthetic tasks and real benchmarks, split into train / validation / test.

- ``config.py``: ``DataConfig``, the data section of an experiment.
- ``types.py``: the containers (``SequenceData``, ``Split``, ``StandardScaler``).
- ``synthetic.py``: seeded generators and the synthetic data sets.
- ``benchmarks.py``: the real benchmarks and their protocols.
- ``user.py``: data sets of your own files: ``csv``, ``array``, ``ts``.
- ``files.py``: real data files: where they live, checksums, readers, download.
- ``cache.py``: the on-disk cache of generated data sets.
- ``registry.py``: every data set by name, and ``build_dataset``.
"""

from .config import DataConfig
from .registry import DATASETS, build_dataset
from .types import SequenceData, Split, StandardScaler

__all__ = ["DataConfig", "DATASETS", "build_dataset", "SequenceData", "Split", "StandardScaler"]
