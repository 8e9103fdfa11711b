"""Data sets: synthetic tasks and real benchmarks, split into train / validation / test.

- ``config.py``: ``DataConfig``, the data section of an experiment.
- ``types.py``: the containers (``SequenceData``, ``Split``, ``StandardScaler``).
- ``card.py``: ``DataCard``, what a trained model needs of its data, kept in its run folder.
- ``synthetic.py``: seeded generators and the synthetic data sets.
- ``benchmarks.py``: the real benchmarks and their protocols.
- ``user.py``: data sets of your own files: ``csv``, ``array``, ``ts``.
- ``files.py``: real data files: where they live, checksums, readers, download.
- ``cache.py``: the on-disk cache of generated data sets.
- ``registry.py``: every data set by name, and ``build_dataset``.
"""

from .card import DataCard, read_card, write_card
from .config import DataConfig
from .registry import DATASETS, build_dataset
from .types import SequenceData, Split, StandardScaler

__all__ = [
    "DataCard",
    "read_card",
    "write_card",
    "DataConfig",
    "DATASETS",
    "build_dataset",
    "SequenceData",
    "Split",
    "StandardScaler",
]
