"""The ``warprnn`` command line: train, evaluate, predict, list, describe, download, reproduce.

Errors: ``main`` is the one place that turns exceptions into messages. An error a user can cause (a
``warprnn.errors`` class, or a ``ValueError``, ``OSError`` or ``MemoryError``) is one line on stderr
and exit code 2; anything else is an internal error, one line and exit code 1; ``--debug`` shows the
traceback instead. Ctrl-C exits 130 and names the run folder to resume.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .allocator import keep_freed_memory
from .atomic import write_atomic, write_text
from .config import WarpConfig
from .errors import InputError, TrainingInterrupted, WarprnnError, one_line
from .training.config import CONFIG_DIR, apply_overrides, config_path, load_experiment
from .training.distributed import end_rank, launched

EPILOG = """examples:
  warprnn train                                   the default job: WARP on a small mass-spring-damper task
  warprnn train msd-small train.epochs=5          a shipped config by name, with an override
  warprnn train my.yaml warp.root_width=64        a config file
  warprnn train --resume runs/msd-small-20261122-101500
  warprnn evaluate runs/msd-small-20261122-101500
  warprnn predict runs/msd-small-20261122-101500 --input series.npy --output forecast.npy
  warprnn train my.yaml data.name=csv data.path=my.csv   your own CSV (also data.name=array or ts)
  warprnn list
  warprnn download mnist --root data               fetch and verify a real data set's files (data.root=data)
  warprnn reproduce dsr --scale cpu                the paper's DSR table (3 seeds) into docs/results/dsr-cpu.md
  warprnn reproduce real data.root=data --seeds 1 --jobs 2 --tasks mnist   real data, two runs at once
  warprnn reproduce transitions --seeds 1 --jobs 2 --tasks msd             A's structures at an equal budget
  warprnn reproduce dsr train.time_budget=30 --jobs 2 --tasks msd          one DSR data set; the others' rows stay
  warprnn reproduce dsr --jobs 2 --tasks msd --continue runs/dsr-msd      the same again after a stop goes on
"""


def cmd_train(args) -> int:
    from .training import train

    if args.resume:
        if args.config or args.overrides:
            raise InputError("--resume continues a run with its saved config; give no config or overrides")
        result = train(None, run_dir=Path(args.resume), progress=True)
    else:
        config = load_experiment(config_path(args.config or "msd-small"), args.overrides)
        result = train(config, progress=True)
    if launched().main and result.test_metrics:  # under torchrun, rank 0 reports for all
        print_report(result)  # also of a run a non-finite loss stopped: its best checkpoint's
    return 0 if result.status == "finished" else 1


def print_report(result) -> None:
    """The test metrics, next to the naive last-value forecast for forecasting runs."""
    metrics = result.test_metrics
    if "test_naive_mse" in metrics:
        print(f"\nheld-out test set ({result.run_dir}):")
        print(f"  {'model':<28}{'MSE':>12}{'MAE':>12}")
        print(f"  {result.model.upper():<28}{metrics['test_mse']:>12.4g}{metrics['test_mae']:>12.4g}")
        print(
            f"  {'naive last-value forecast':<28}{metrics['test_naive_mse']:>12.4g}{metrics['test_naive_mae']:>12.4g}"
        )
    else:
        print(json.dumps(metrics, indent=2))
    print("plots:")
    for path in result.plots:
        print(f"  {path}")


def cmd_evaluate(args) -> int:
    from .training import evaluate_run

    metrics = evaluate_run(Path(args.run_dir), args.overrides)
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_predict(args) -> int:
    from .training.runs import classify, forecast_distribution, load_trained

    path = Path(args.input)
    if not path.is_file():
        raise FileNotFoundError(f"input file {args.input!r} does not exist")
    _, card, model, device = load_trained(Path(args.run_dir))
    values, date_cells = read_input(path, card.channel_names)
    if card.task == "classification":
        if args.quantiles:
            raise InputError("--quantiles: a classification run gives class probabilities, not quantiles")
        cases = list(values) if values.ndim == 3 else [values]
        probabilities = classify(model, card, cases, device).numpy()
        names = card.class_names or tuple(str(k) for k in range(probabilities.shape[1]))
        header = ",".join(["label"] + [f"p_{name}" for name in names])
        rows = [",".join([names[p.argmax()]] + [f"{q:.6g}" for q in p]) for p in probabilities]
        return write_output(args.output, probabilities, "\n".join([header, *rows]) + "\n")
    history = torch.as_tensor(values, dtype=torch.float32)
    future = None
    if args.future:
        k = card.covariate_channels
        if not Path(args.future).is_file():
            raise FileNotFoundError(f"--future file {args.future!r} does not exist")
        future = read_input(Path(args.future), card.channel_names[-k:] if k else ())[0]
        future = torch.as_tensor(future, dtype=torch.float32)
    forecast = forecast_distribution(model, card, history, args.horizon, device, future=future)
    levels = list(args.quantiles or [])
    quantiles = forecast.quantiles(levels).numpy() if levels else None  # (Q, N, H, C)
    mean = forecast.mean.numpy()  # (N, H, C)
    array = mean if quantiles is None else np.concatenate([mean[..., None], quantiles.transpose(1, 2, 3, 0)], -1)
    return write_output(args.output, array, forecast_table(mean, quantiles, levels, card, date_cells, path))


def forecast_table(
    mean: np.ndarray,
    quantiles: np.ndarray | None,
    levels: list[float],
    card,
    date_cells: list[str] | None,
    source: Path,
) -> str:
    """The CSV of a forecast: a header; a ``series`` column when several histories were given; ``date``,
    continuing the input's dates at their step (or the training data's frequency), else ``step`` (1 to
    H); then per channel its mean and its quantiles (``NAME_q0.1``). mean: ``(N, H, C)``; quantiles
    ``(Q, N, H, C)``."""
    from datetime import timedelta

    from .data import dates

    n, horizon, channels = mean.shape
    names = (card.channel_names or tuple(f"dim{c}" for c in range(card.channels)))[:channels]  # no covariates
    when, parsed = None, None
    if date_cells:
        try:
            parsed = dates.parse(date_cells, f"--input {source}")
        except InputError as error:
            say(f"warprnn: warning: {error}; the forecast's steps are numbered instead")
    if parsed:
        every = dates.step(parsed) or (timedelta(seconds=card.frequency) if card.frequency else None)
        if every is None:
            raise InputError(
                f"--input {source}: its dates are not evenly spaced and the run knows no frequency, so the "
                f"forecast's dates are unknown; drop the date column to number the steps"
            )
        when = dates.formatted(dates.following(parsed[-1], every, horizon), date_cells[-1])
    header = (["series"] if n > 1 else []) + ["date" if when else "step"]
    for name in names:
        header += [name] + [f"{name}_q{q:g}" for q in levels]
    lines = [",".join(header)]
    for i in range(n):
        for h in range(horizon):
            cells = ([str(i)] if n > 1 else []) + [when[h] if when else str(h + 1)]
            for c in range(channels):
                cells.append(f"{mean[i, h, c]:.6g}")
                cells += [f"{quantiles[k, i, h, c]:.6g}" for k in range(len(levels))] if quantiles is not None else []
            lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def read_input(path: Path, channel_names: tuple[str, ...]) -> tuple[np.ndarray, list[str] | None]:
    """The values of ``--input`` and the cells of its ``date`` column (None: it has none): a ``.npy`` array,
    a CSV of numbers (the run's channels in its order), or a CSV with a header (an optional ``date``
    column; the run's channels picked by name, other columns ignored).

    Raises:
        InputError: the header lacks one of the run's channels (named), or the values are not numbers.
    """
    from .data.files import read_dated_csv

    date_cells = None
    try:
        if path.suffix == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            with open(path, encoding="utf-8-sig") as f:
                first = f.readline().strip().split(",")
            if all(is_number(cell) for cell in first):
                values = np.loadtxt(path, delimiter=",", ndmin=2)
            else:
                names, values, date_cells = read_dated_csv(path, require_date=False)
                if channel_names and not channel_names[0].startswith("dim"):
                    missing = [name for name in channel_names if name not in names]
                    if missing:
                        raise InputError(
                            f"--input {path}: no column {missing[0]!r} in its header {list(names)}; the run "
                            f"reads {', '.join(channel_names)}"
                        )
                    values = values[:, [names.index(name) for name in channel_names]]
    except (ValueError, EOFError, UnicodeDecodeError) as error:
        if isinstance(error, WarprnnError):
            raise
        kind = "a .npy array" if path.suffix == ".npy" else "a CSV of numbers"
        raise InputError(f"--input {path}: not {kind} ({one_line(error, 120)})") from None
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "biuf":
        raise InputError(f"--input {path}: expected an array of numbers, got dtype {values.dtype}")
    if values.size == 0:
        raise InputError(f"--input {path}: no values, shape {values.shape}")
    if not np.isfinite(values).all():
        raise InputError(f"--input {path}: contains NaN or Inf at index {tuple(np.argwhere(~np.isfinite(values))[0])}")
    if values.ndim == 2 and values.shape[-1] != len(channel_names) and channel_names:
        raise InputError(
            f"--input {path}: {values.shape[-1]} column(s), expected {len(channel_names)} ({', '.join(channel_names)})"
        )
    return values, date_cells


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_output(output: str | None, array: np.ndarray, text: str) -> int:
    """Prints ``text`` (CSV), or writes it to an ``--output`` ending in ``.csv``, else ``array`` as ``.npy``."""
    if output is None:
        sys.stdout.write(text)
    elif output.endswith(".csv"):
        write_text(output, text)
        print(f"wrote {output}")
    else:
        output = output if output.endswith(".npy") else output + ".npy"  # as np.save names it
        write_atomic(output, lambda f: np.save(f, array))
        print(f"wrote {tuple(array.shape)} array to {output}")
    return 0


def cmd_list(args) -> int:
    from .data import DATASETS
    from .data.registry import UEA_ANY

    print("experiments (warprnn train NAME):")
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        print(f"  {path.stem:<24} {first.lstrip('# ') if first.startswith('#') else ''}")
    print("data sets (data.name=...):")
    for name, entry in sorted(DATASETS.items()):
        print(f"  {name:<24} {entry.description}")
    print(f"  {UEA_ANY[0]:<24} {UEA_ANY[1]}")
    return 0


def cmd_describe(args) -> int:
    from .model import WARP
    from .training.build import check_tensor_sizes

    options = apply_overrides({}, [f"warp.{word}" for word in args.options]).get("warp", {})
    config = WarpConfig.from_dict(options)
    check_tensor_sizes(config)
    model = WARP(config, device="meta")  # sizes only: nothing is allocated
    parameters = sum(p.numel() for p in model.parameters())
    print(f"D_theta (state size): {model.d_theta}")
    print(f"trainable parameters: {parameters} ({parameters * 4 / 2**20:.1f} MiB in float32)")
    return 0


def cmd_download(args) -> int:
    from .data.files import download

    paths = download(args.name, args.root)
    print(f"{args.name}: {len(paths)} file(s) ready in {paths[0].parent}")
    return 0


def cmd_reproduce(args) -> int:
    from .experiments import EXPERIMENTS

    if args.seeds < 1:
        raise InputError(f"--seeds: expected an integer >= 1, got {args.seeds}")
    if args.verbosity <= 0:  # one line per training run, not per epoch
        logging.getLogger("warprnn.training").setLevel(logging.WARNING)
    if args.tasks and args.experiment == "icl":
        raise ValueError("--tasks: 'reproduce icl' has one task")
    if args.jobs != 1 and args.experiment == "icl":
        raise ValueError("--jobs: 'reproduce icl' trains one run at a time")
    if (args.from_runs or args.continue_runs) and args.experiment == "icl":
        raise ValueError("--from-runs, --continue: 'reproduce icl' does not read earlier runs")
    if args.from_runs and args.continue_runs:
        raise ValueError("--from-runs trains nothing and --continue trains what is missing: give one of them")
    if args.lr_grid and args.experiment != "real":
        raise ValueError(f"--lr-grid: only 'reproduce real' tunes; '{args.experiment}' trains its configs' rates")
    tasks = {"tasks" if args.experiment == "real" else "datasets": args.tasks} if args.tasks else {}
    extra = tasks | ({"jobs": args.jobs} if args.jobs != 1 else {})
    extra |= {"from_runs": Path(args.from_runs)} if args.from_runs else {}
    extra |= {"continue_runs": Path(args.continue_runs)} if args.continue_runs else {}
    extra |= {"lr_grid": args.lr_grid} if args.lr_grid else {}
    path = EXPERIMENTS[args.experiment](args.scale, args.seeds, Path(args.out), args.overrides, **extra)
    print(f"report: {path}")
    return 0


def say(line: str) -> None:
    """Writes ``line`` to stderr in one call, flushed: the processes of a ``torchrun`` run share stderr, and
    ``print`` writes a line and its newline apart, so that two processes' lines could run together."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line, as every other error of the command
    (``warprnn: error: ...``, exit 2), naming ``warprnn COMMAND --help`` rather than printing the usage."""

    def error(self, message: str):
        say(f"warprnn: error: {message} (see '{self.prog} --help')")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="warprnn",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="WARP: weight-space linear recurrent networks (Nzoyem et al., ICLR 2026).\n"
        "Train from a config, evaluate or continue a run, forecast from a saved run.",
    )
    parser.add_argument("--version", action="version", version=f"warprnn {__version__}")
    common = argparse.ArgumentParser(add_help=False)  # every command's logging options
    common.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="count",
        default=0,
        help="more progress on stderr (reproduce: -v shows every run's epochs; -vv: debug)",
    )
    common.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=-1,
        help="no progress on stderr: warnings and errors only",
    )
    common.add_argument("--debug", action="store_true", help="on an error, show the traceback")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    p = commands.add_parser(
        "train",
        parents=[common],
        help="train a model (no arguments: the default job)",
        description="Train from a config file or shipped config name, with key=value overrides "
        "such as train.epochs=5 or warp.root_width=64.",
    )
    p.add_argument("config", nargs="?", help="a YAML file or a shipped config name (default: msd-small)")
    p.add_argument("overrides", nargs="*", help="SECTION.KEY=VALUE, e.g. optim.lr=1e-3")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("evaluate", parents=[common], help="test metrics of a run's best checkpoint")
    p.add_argument("run_dir", help="a run folder written by 'warprnn train'")
    p.add_argument(
        "overrides",
        nargs="*",
        help="data.KEY=VALUE: score the run on other data (data.path=other.csv, a new split), prepared as "
        "its own was; the run's test_metrics.json is then left as it is",
    )
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser(
        "predict",
        parents=[common],
        help="forecast the continuation of sequences, or classify them, with a run",
        description="Forecasting runs: feeds the input as context and forecasts the following steps. "
        "Classification runs: the label and the class probabilities of each case.",
    )
    p.add_argument("run_dir", help="a run folder written by 'warprnn train'")
    p.add_argument(
        "--input",
        required=True,
        help=".npy of shape (T, C) or (N, T, C), or a CSV of shape (T, C): numbers only, or with a header "
        "(a date column is dropped; the run's channels are picked by name)",
    )
    p.add_argument(
        "--horizon",
        type=int,
        help="steps to forecast (default: the trained horizon); the forecast reads the input's last "
        "context rows, and its first k steps are the same for every horizon >= k",
    )
    p.add_argument(
        "--future",
        metavar="FILE",
        help="the covariates' values over the steps to forecast, for a run trained with data.covariates: a "
        "CSV with a header naming them (one row per step) or a .npy (horizon, k)",
    )
    p.add_argument(
        "--quantiles",
        nargs="+",
        type=float,
        metavar="Q",
        help="also the forecast's quantiles at these levels (e.g. 0.1 0.5 0.9), from the Gaussian head "
        "(sampled paths where the model feeds samples back): CSV columns NAME_qQ; a .npy output holds "
        "(N, horizon, C, 1 + Q), the mean first",
    )
    p.add_argument(
        "--output",
        help=".npy file for the forecast (N, horizon, C) or the probabilities (N, K), or a .csv file for "
        "what is printed (default: CSV on stdout: forecast rows, or label and probabilities per case)",
    )
    p.set_defaults(run=cmd_predict)

    p = commands.add_parser("list", parents=[common], help="the shipped experiments and the data sets")
    p.set_defaults(run=cmd_list)

    p = commands.add_parser(
        "describe",
        parents=[common],
        help="state size and parameter count of a WARP model",
        description="Model options as key=value, e.g. in_channels=2 root_width=48 root_depth=3.",
    )
    p.add_argument("options", nargs="*", help="WarpConfig fields as key=value")
    p.set_defaults(run=cmd_describe)

    from .data.files import DATA_ENV, DEFAULT_ROOT, SOURCES

    p = commands.add_parser(
        "download",
        parents=[common],
        help="fetch a real data set's files and verify their checksums",
        description=f"Sources: {', '.join(SOURCES)}, or uea-NAME for any set of the UEA/UCR archive. "
        "Files go to ROOT/<source folder>/.",
    )
    p.add_argument("name", metavar="NAME", help="a data source, e.g. mnist, etth1, uea-Heartbeat, uea-ArrowHead")
    p.add_argument("--root", help=f"the data root (default: ${DATA_ENV}, else {DEFAULT_ROOT})")
    p.set_defaults(run=cmd_download)

    from .experiments import EXPERIMENTS, SCALES

    p = commands.add_parser(
        "reproduce",
        parents=[common],
        help="reproduce one of the paper's experiments, with a markdown report",
        description="Trains every model of the experiment for each seed, and writes "
        "OUT/EXPERIMENT-SCALE.md and its figures in OUT/figures/.",
    )
    p.add_argument("experiment", choices=sorted(EXPERIMENTS), help="which experiment")
    p.add_argument("overrides", nargs="*", help="SECTION.KEY=VALUE applied to every run, e.g. train.epochs=1")
    p.add_argument("--scale", choices=SCALES, default="cpu", help="the cpu configs (minutes) or the paper's sizes")
    p.add_argument("--seeds", type=int, default=3, help="seeds per model (default 3)")
    p.add_argument("--out", default="docs/results", help="folder of the report (default docs/results)")
    p.add_argument(
        "--tasks",
        nargs="+",
        metavar="TASK",
        help="real, transitions, dsr: some of their tasks or data sets (default: all)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="dsr, real, transitions: training runs at once, each with its share of the torch threads (default 1)",
    )
    p.add_argument(
        "--from-runs",
        metavar="DIR",
        help="dsr, real, transitions: train nothing; report the runs in DIR (folders DATASET-MODEL-sSEED-*, "
        "TASK-MODEL-sSEED-* or DATASET-TRANSITION-sSEED-*; the newest of each name), e.g. of a stopped command",
    )
    p.add_argument(
        "--continue",
        dest="continue_runs",
        metavar="DIR",
        help="dsr, real, transitions: train into DIR, keeping what it holds: a run that ended there is reported, "
        "one that was killed resumes from its last checkpoint, the others train. Give the same command again "
        "after a stop (the end of a session) and it goes on where it stopped",
    )
    p.add_argument(
        "--lr-grid",
        nargs="+",
        type=float,
        metavar="FACTOR",
        help="real: offer every model its config's learning rates times each FACTOR (seed 0, the same budget), "
        "keep each model's best on validation for all its seeds, and report every trial (e.g. 0.3 1 3)",
    )
    p.set_defaults(run=cmd_reproduce)
    return parser


@contextlib.contextmanager
def showing_logs(verbosity: int):
    """Shows the progress lines of the ``warprnn`` loggers on stderr while a command runs: INFO by default,
    WARNING with ``-q``, DEBUG with ``-vv``. The library itself only logs; this is the one place that shows
    the logs, and it leaves the loggers as it found them."""
    logger, training = logging.getLogger("warprnn"), logging.getLogger("warprnn.training")
    saved = logger.level, training.level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity >= 2 else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        training.setLevel(saved[1])


USER_ERRORS = (WarprnnError, ValueError, OSError, MemoryError)
"""What a user can cause: bad options, inputs and files, unwritable folders, sizes beyond memory."""


def describe_error(error: BaseException) -> str:
    """An exception as one line: OS errors as ``path: reason``, internal errors with their type."""
    if isinstance(error, OSError) and not isinstance(error, WarprnnError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return one_line(f"{where}{error.strerror}")
    if isinstance(error, USER_ERRORS):
        return one_line(error)
    return f"internal error ({type(error).__name__}: {one_line(error)}); rerun with --debug for the traceback"


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, except that ``KEY=VALUE`` overrides may also follow the options
    (``warprnn reproduce real --seeds 1 data.root=DIR``, also after ``--tasks``): they join the command's
    overrides in order."""
    args, extras = parser.parse_known_args(argv)
    if getattr(args, "tasks", None):
        extras = [word for word in args.tasks if "=" in word] + extras
        args.tasks = [word for word in args.tasks if "=" not in word] or None
    strays = [word for word in extras if word.startswith("-") or "=" not in word]
    if extras and (strays or not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(strays or extras)}")
    if extras:
        args.overrides = [*args.overrides, *extras]
    return args


def main(argv: list[str] | None = None) -> int:
    """The ``warprnn`` command: its exit status (a rank of ``torchrun`` ends its process here instead)."""
    status = run_command(argv)
    if launched().size > 1:
        end_rank(status)
    return status


def run_command(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parse(parser, argv)
    except SystemExit as done:  # --help, --version, or a one-line error already written (OneLineParser)
        return done.code if isinstance(done.code, int) else 0
    if args.command is None:
        parser.print_help()
        return 0
    with showing_logs(args.verbosity if launched().main else -1):  # other ranks of torchrun: warnings only
        try:
            keep_freed_memory()  # each training step reuses the last one's pages (warprnn.allocator)
            return args.run(args)
        except KeyboardInterrupt as stop:
            run_dir = stop.run_dir if isinstance(stop, TrainingInterrupted) else None
            hint = f"; resume with 'warprnn train --resume {run_dir}'" if run_dir else ""
            say(f"warprnn: interrupted{hint}")
            return 130
        except Exception as error:
            if args.debug:
                raise
            say(f"warprnn: error: {describe_error(error)}")
            return 2 if isinstance(error, USER_ERRORS) else 1


if __name__ == "__main__":
    sys.exit(main())
