"""The data section of an experiment's configuration (``DataConfig``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import check_fields, positive_int
from ..errors import ConfigError


@dataclass
class DataConfig:
    """Which data set, and how much of it.

    Each data set reads some of these options (``Entry.reads`` in ``warprnn.data.registry``); a run that
    sets another away from its default is refused, naming the data sets that read it.

    Attributes:
        name: a data set of ``warprnn.data.registry`` (``warprnn list`` shows them): a synthetic task, a
            real benchmark (``uea-NAME`` for any set of the UEA/UCR archive), or a file of your own:
            ``csv``, ``array`` or ``ts`` (``warprnn.data.user``), read from ``path``.
        path: the file of the ``csv``, ``array`` and ``ts`` data sets (for ``ts``, the ``NAME_TRAIN.ts``
            file; its ``NAME_TEST.ts`` beside it is the test part).
        target: the one column that the ``csv`` data set forecasts (univariate, the Time-Series-Library
            ``S`` setting); None: every column but ``date`` (``M``).
        covariates: columns of the ``csv`` data set that the model reads but does not forecast, known in
            advance (calendar features, prices, controls; ``WarpConfig.covariate_channels``): fed from the
            data at every step, and given for the steps to forecast (``warprnn predict --future``). The
            forecast channels are ``target`` or every other column but ``date``.
        split_rows: rows of the training, validation and test parts of the ``csv`` data set, taken in
            time order from the first row (later rows unused); None: 70%, 10% and 20% of the rows, as the
            Time-Series-Library ``custom`` loader cuts them. ``[8640, 2880, 2880]`` is the ETTh1 protocol
            (12, 4 and 4 months of 30 days).
        root: directory of downloaded files for real data sets (default: ``$WARPRNN_DATA``, else
            ``~/.cache/warprnn``), laid out as ``warprnn.data.files`` describes (``mnist/``, ``ett/``,
            ``uea/NAME/``, ``pems08/``); synthetic sets cache their generated splits in ``synthetic/``
            there (``warprnn.data.cache``).
        num_train, num_val, num_test: sizes of the splits. Synthetic sets generate that many (None: the
            data set's default); real sets keep a random subset of that many, drawn with ``seed`` (None: all).
        seq_len: sequence length of synthetic data sets (None: the data set's default).
        dim: D, the dimension of the keys of the ``icl`` data set (None: its default, 1).
        context: L, the steps fed the truth when forecasting (None: the data set's default); for the
            windowed forecasting sets (ETT, PEMS08) the input length of each window.
        horizon: H, the steps forecast after the context by the windowed forecasting sets (ETT: 96, 192,
            336 or 720, default 96; PEMS08: default 12); each window is one sequence of L + H steps.
        scaling: how the windowed forecasting sets are normalised, with statistics of the training
            part: ``standard`` (zero mean, unit variance per channel, the usual protocol) or ``minmax``
            (the training range mapped to [-1, 1] per channel, as in the WARP authors' code).
        split: how UEA sets are split: ``archive`` (the archive's TRAIN part, less a random ``val_fraction``
            kept for validation, and its TEST part) or ``resplit`` (all cases pooled and split 70:15:15 at
            random).
        val_fraction: the part of the training cases kept for validation by sets that have no validation
            split of their own (MNIST, UEA with ``split=archive``).
        stratify: draw that validation part class by class (each class gives ``val_fraction`` of its cases,
            at least one), so that a small set's validation split holds every class; False: a plain random
            draw (the protocol of runs made before this option).
        seed: seed of the synthetic generator, and of the random subsets, validation carve-outs and
            re-splits of real sets (independent of the training seed).
    """

    name: str = "msd-small"
    path: str | None = None
    target: str | None = None
    covariates: list[str] | None = None
    split_rows: list[int] | None = None
    root: str | None = None
    num_train: int | None = None
    num_val: int | None = None
    num_test: int | None = None
    seq_len: int | None = None
    dim: int | None = None
    context: int | None = None
    horizon: int | None = None
    scaling: Literal["standard", "minmax"] = "standard"
    split: Literal["archive", "resplit"] = "archive"
    val_fraction: float = 0.1
    stratify: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("num_train", "num_val", "num_test", "seq_len", "dim", "context", "horizon"):
            if getattr(self, key) is not None:
                positive_int(f"data.{key}", getattr(self, key))
        check_fields(self, "data")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"data.val_fraction: expected a number in (0, 1), got {self.val_fraction!r}")
        if self.split_rows is not None:
            if not isinstance(self.split_rows, list) or len(self.split_rows) != 3:
                raise ValueError(f"data.split_rows: expected [train, val, test] row counts, got {self.split_rows!r}")
            for count in self.split_rows:
                positive_int("data.split_rows", count)
