"""The exceptions warprnn raises for the errors a user can cause.

Each message is one line naming the thing at fault (option, file, line, case, channel, argument) and
what was expected against what was found. Each class also derives from the built-in exception that
code written before it existed already catches (``ValueError``, ``FileNotFoundError``, ``OSError``,
``MemoryError``), so ``except ValueError`` keeps working. The ``warprnn`` command turns every
``WarprnnError`` into one line on stderr and exit code 2 (``warprnn.cli.main``).
"""

from __future__ import annotations


class WarprnnError(Exception):
    """Base class of every error warprnn raises on purpose."""


class ConfigError(WarprnnError, ValueError):
    """An option, a config file or an override is invalid."""


class InputError(WarprnnError, ValueError):
    """An argument of the model, or an input file, has the wrong type, shape, dtype or values."""


class MissingDataError(WarprnnError, FileNotFoundError):
    """Files of a data set are not under the data root (or could not be downloaded)."""


class CorruptDataError(WarprnnError, ValueError):
    """A data file does not match its checksum or its format, or holds non-finite values."""


class RunFolderError(WarprnnError, ValueError):
    """A run folder, its ``config.yaml`` or a checkpoint is missing, damaged, or does not match the model."""


class StorageError(WarprnnError, OSError):
    """A file or folder cannot be created or written: read-only, disk full, a file where a folder is due."""


class TooLargeError(WarprnnError, MemoryError):
    """Sizes known before allocating need more memory than is available."""


class ProcessGroupError(WarprnnError, RuntimeError):
    """Another process of a ``torchrun`` run failed, or did not answer in time (``training.distributed``)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``run_dir`` is the run folder to resume (None: it was not created yet)."""

    def __init__(self, run_dir=None):
        super().__init__(run_dir)
        self.run_dir = run_dir


def one_line(text: object, limit: int = 300) -> str:
    """``text`` (an exception's, say) on one line, at most ``limit`` characters."""
    flat = "; ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
