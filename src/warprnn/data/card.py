"""What a trained model needs to know of its data, kept in its run folder (``data.json``), so that
``warprnn predict`` and the estimators never read the training data again.

A ``DataCard`` holds the task, the sequence length and context the model was trained on (and so the time
scale of its root, ``WarpConfig.time_scale``), the channels and their names, the classes, and the scaler
that maps the original scale to the model's.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..atomic import write_text
from ..errors import InputError
from .types import SequenceData, StandardScaler

FILE = "data.json"


@dataclass(frozen=True)
class DataCard:
    """The data a model was trained on, without the data.

    Attributes:
        task: ``forecast``, ``sequence`` or ``classification`` (``SequenceData.task``).
        context: L, the steps fed the truth before forecasting; a forecast reads the last L steps of a
            history (all of them when it has fewer).
        seq_len: the length of the training sequences: the trained horizon is ``seq_len - context``.
        channels: how many channels the model reads (and, forecasting, predicts).
        channel_names: a name per channel, in the model's order (empty: unnamed).
        num_classes, class_names: classification only.
        key_channels: the last channels that hold a key for WARP's root.
        covariate_channels: the last channels are covariates, read but not forecast; a forecast needs their
            future values.
        scaler_mean, scaler_std: the per-channel standardisation of the training split (None: none).
        frequency: seconds between the rows of a dated, evenly spaced CSV (``SequenceData.frequency``); None
            where the data had no dates or they were not evenly spaced.
        bin_width, value_range: ``SequenceData``'s, for the metrics of quantised data.
    """

    task: str
    context: int
    seq_len: int
    channels: int
    channel_names: tuple[str, ...] = ()
    num_classes: int | None = None
    class_names: tuple[str, ...] = ()
    key_channels: int = 0
    covariate_channels: int = 0
    scaler_mean: tuple[float, ...] | None = None
    scaler_std: tuple[float, ...] | None = None
    frequency: float | None = None
    bin_width: float | None = None
    value_range: tuple[float, float] | None = None

    @classmethod
    def of(cls, data: SequenceData) -> DataCard:
        """The card of a data set ready for training."""
        scaler = data.scaler
        return cls(
            task=data.task,
            context=data.context,
            seq_len=int(data.train.x.shape[1]),
            channels=data.channels,
            channel_names=tuple(data.channel_names),
            num_classes=data.num_classes,
            class_names=tuple(data.class_names),
            key_channels=data.key_channels,
            covariate_channels=data.covariate_channels,
            scaler_mean=None if scaler is None else tuple(scaler.mean.flatten().tolist()),
            scaler_std=None if scaler is None else tuple(scaler.std.flatten().tolist()),
            frequency=data.frequency,
            bin_width=data.bin_width,
            value_range=None if data.value_range is None else tuple(data.value_range),
        )

    @property
    def scaler(self) -> StandardScaler | None:
        """The training split's scaler (None: the model runs on the original scale)."""
        if self.scaler_mean is None:
            return None
        return StandardScaler(torch.tensor(self.scaler_mean), torch.tensor(self.scaler_std))

    @property
    def forecast_context(self) -> int | None:
        """``SequenceData.forecast_context``: L for forecasting, None for sequence tasks."""
        return self.context if self.task == "forecast" else None

    @property
    def horizon(self) -> int:
        """The horizon the model was trained to forecast: ``seq_len - context``."""
        return self.seq_len - self.context


def write_card(run_dir: Path, card: DataCard) -> None:
    """Writes ``card`` to ``run_dir/data.json``."""
    write_text(Path(run_dir) / FILE, json.dumps(asdict(card), indent=1) + "\n")


def read_card(run_dir: Path) -> DataCard | None:
    """The card of ``run_dir`` (None: the run was trained before cards were kept).

    Raises:
        InputError: ``data.json`` is there but damaged.
    """
    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    try:
        fields = json.loads(path.read_text())
        for key in ("channel_names", "class_names", "scaler_mean", "scaler_std", "value_range"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        card = DataCard(**fields)
    except (ValueError, TypeError) as error:
        raise InputError(f"{path}: not a data card written by warprnn ({error})") from None
    if card.scaler_std is not None and not all(math.isfinite(v) and v > 0 for v in card.scaler_std):
        raise InputError(f"{path}: scaler_std must be positive and finite")
    return card
