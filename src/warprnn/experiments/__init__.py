"""The paper's experiments, one command each: ``warprnn reproduce NAME --scale cpu|paper``.

``EXPERIMENTS`` maps a name to a function ``(scale, seeds, out, overrides) -> Path`` that trains what the
experiment needs (run folders under ``runs/``) and writes ``out/NAME-SCALE.md`` (figures in
``out/figures/``), returning that markdown file. ``overrides`` (``SECTION.KEY=VALUE``) apply to every
run, e.g. ``train.epochs=1`` for a smoke test.

- ``dsr.py``: dynamical-system reconstruction (paper Table 3), with ``adaptation.py``, gradient-free
  adaptation to out-of-distribution dynamics.
- ``real.py``: MNIST completion and classification, ETTh1, UEA (paper Sec. 4.1, 4.2, 4.5).
- ``icl.py``: in-context linear regression, the trained state extracted as a standalone MLP.
- ``transitions.py``: the structures of A (``warp.transition``) against the dense A at an equal budget.
- ``report.py``: what the experiments share.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .dsr import run_dsr
from .icl import run_icl
from .real import run_real
from .report import SCALES
from .transitions import run_transitions

EXPERIMENTS: dict[str, Callable[..., Path]] = {
    "dsr": run_dsr,
    "real": run_real,
    "icl": run_icl,
    "transitions": run_transitions,
}

__all__ = ["EXPERIMENTS", "SCALES", "run_dsr", "run_real", "run_icl", "run_transitions"]
