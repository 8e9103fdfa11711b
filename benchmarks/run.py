"""Training-step benchmarks of WARP: time, peak memory, recurrence throughput, modes, a GRU.

    python benchmarks/run.py --quick     # tiny sizes, a smoke run well under a minute
    python benchmarks/run.py             # the configurations below at full size (several minutes)
    python benchmarks/run.py --cases mnist-ar tf-784
    python benchmarks/run.py --cases mnist-ar msd-ar --transitions dense diagonal   # A's structures
    python benchmarks/run.py --variants fp32 bf16 compile   # also under bf16 autocast and torch.compile
    python benchmarks/run.py --device cuda --variants fp32 bf16   # on a GPU (benchmarks/gpu.sh)
    python benchmarks/run.py --cases mnist-ar msd-ar --authors PATH --authors-python VENV/bin/python

Cases (the authors' configurations, github.com/ddrous/warp ``cfgs/``):

* ``mnist-ar``: sequential MNIST, batch 128, T = 784, root 24 x 3 relu with a Gaussian head
  (D_theta = 1,298), learned theta_0, autoregressive with teacher forcing 0.15, NLL loss.
* ``msd-ar``: mass-spring-damper, T = 256, two channels, root 48 x 3 swish (D_theta = 4,898),
  a depth-2 hypernetwork for theta_0, autoregressive with teacher forcing 0.25, MSE loss. The authors'
  batch (1,024 in ``cfgs/wsm/msd/original.yaml``) takes minutes per step here; it is reduced to 32, and
  with ``--authors`` their step runs at that batch too.
* ``tf-784``: the MNIST model teacher-forced, every mode.
* ``classify-1024``: classification of T = 1,024 steps of 6 channels into 10 classes.

Each case runs each of its transitions (``warp.transition``): the autoregressive cases every structure
(``dense``, ``diagonal``, ``block:16``, ``lowrank:16``), the others ``dense``; ``--transitions`` sets
them for every case. ``/dense`` is a row's step time against the dense transition's in the same mode.

Variants (``--variants``): ``fp32``; ``bf16``, the forward pass and loss under ``torch.autocast`` in bf16
(WARP's recurrence stays fp32, as in ``train.precision``); ``compile``, the model through ``torch.compile``,
whose compilation is the warm-up step (its seconds: column ``1st s``). On ``--device cuda`` the times are
synchronised and the peak memory is CUDA's peak allocation.

A training step is forward, backward and an Adam update. Each case and mode is measured in a fresh
Python process (``--in-process``: all in this one), so that its peak memory is its own and not shaped by
what earlier cases left to the allocator. Reported per case and mode: seconds per step
(forward / backward / optimiser), the peak resident memory above the memory held before the step,
against ``2 x state + parameters`` (state: batch x T x D_theta floats), the throughput of the
recurrence (``6 batch (T - 1) w`` flops, w = D^2 multiply-adds for a dense A, ``transition.multiply_adds``
for a structured one: theta A^T forward, lam A backward, A's gradient) over the
whole step, against a ``(batch, D) @ (D, D)`` matmul on the kernel the recurrence uses (``warprnn.gemm``)
and against a large square matmul on each kernel (``/blas``: torch's default, MKL on x86; ``/oned``:
oneDNN), all timed in the same run,
the step time against the first mode of the case, against a ``torch.nn.GRU`` with as many trainable
parameters (within 5%).

Side by side with the authors' JAX code (``--authors PATH``, a clone of github.com/ddrous/warp, and
``--authors-python``, the Python of a venv made as ``benchmarks/authors.py``'s docstring says): for
``mnist-ar`` and ``msd-ar``, our step (dense transition, scan, fp32) and theirs (``benchmarks/authors.py``:
their model from their config file, their jitted train step, at our case's batch and T) are timed
alternately, ours, theirs, ours, theirs, ... (``--rounds`` each), every one in a fresh process. Printed:
both medians over the rounds, the ratio ours/theirs (``/authors``) from that same run, their first call
(compilation) and each round. Without ``--authors`` no ratio is printed: a ratio needs their step timed in
the same run (an earlier version divided by a constant from another day, issue 15).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Transparent huge pages for large CPU tensors (read by torch at its first allocation): every step
# allocates state-sized tensors afresh, and with 4 KB pages their first touch is slow (an inverse FFT of
# a 128 x 784 x 1298 state measured 0.42 s without, 0.21 s with, on 2 cores).
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import torch  # noqa: E402  (after the environment above)
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from warprnn import WARP, WarpConfig, allocator, gemm  # noqa: E402
from warprnn.transition import multiply_adds  # noqa: E402

MNIST = dict(
    in_channels=1,
    head="gaussian",
    root_width=24,
    root_depth=3,
    final_activation="tanh",
    theta0="learned",
    std_floor=0.5,
)
MSD = dict(
    in_channels=2,
    root_width=48,
    root_depth=3,
    root_activation="swish",
    final_activation="clip",
    final_clip=38.0,
    hypernet_depth=2,
)
CLASSIFY = dict(in_channels=6, head="classification", num_classes=10, root_width=24, root_depth=2)

try:
    LIBC = ctypes.CDLL("libc.so.6")  # glibc, to measure peak memory precisely
except OSError:
    LIBC = None


@dataclass
class Case:
    config: dict
    batch: int
    T: int
    modes: tuple[str, ...]
    quick: tuple[int, int]  # (batch, T) of --quick
    teacher_forcing: float | None = None  # autoregressive when set
    transitions: tuple[str, ...] = ("dense",)  # warp.transition, each with every mode
    notes: list[str] = field(default_factory=list)


STRUCTURES = ("dense", "diagonal", "block:16", "lowrank:16")
CASES = {
    "mnist-ar": Case(MNIST, 128, 784, ("scan",), (8, 64), teacher_forcing=0.15, transitions=STRUCTURES),
    "msd-ar": Case(MSD, 32, 256, ("scan",), (2, 16), teacher_forcing=0.25, transitions=STRUCTURES),
    "tf-784": Case(MNIST, 128, 784, ("scan", "conv", "auto"), (8, 128)),
    "classify-1024": Case(CLASSIFY, 32, 1024, ("scan", "conv", "auto"), (4, 256)),
}


# ----- measuring -------------------------------------------------------------------------------------


def memory_mb(key: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident since the last reset) in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def reset_peak_memory() -> None:
    """Returns freed heap memory to the system (glibc), then sets VmHWM back to the resident size (Linux).

    Without the trim, memory that earlier steps freed stays resident and the next step reuses it
    unseen (a GRU's many small per-step tensors, for one).
    """
    gc.collect()
    if LIBC is not None:
        LIBC.malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def matmul_gflops(m: int, k: int, n: int, seconds: float = 1.0, device: str = "cpu", kernel: str = "blas") -> float:
    """Throughput of an ``(m, k) @ (k, n)`` float32 product on ``device``, the best of repeated timings;
    ``kernel``: ``blas`` (``torch.matmul``), ``onednn`` (``warprnn.gemm.Factor``, as the recurrence runs
    it: the right factor reordered once, outside the timing) or ``auto`` (whichever the recurrence uses
    for a factor of this shape)."""
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    if kernel == "auto":
        kernel = "onednn" if gemm.uses_onednn(b) else "blas"
    if kernel == "onednn":
        factor, zeros = gemm.Factor(b, onednn=True), torch.zeros(m, n)
        factor.addmm(zeros, a)  # reorders b
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    best, start = math.inf, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sync()
        t = time.perf_counter()
        factor.addmm(zeros, a) if kernel == "onednn" else a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * m * k * n / best / 1e9


def square_matmuls(device: str) -> dict[str, float]:
    """The 2048^3 float32 matmul's GFLOP/s per kernel: BLAS, and on a CPU with oneDNN, oneDNN."""
    kernels = ["blas"] + (["onednn"] if device == "cpu" and gemm.onednn_available() else [])
    return {kernel: matmul_gflops(2048, 2048, 2048, device=device, kernel=kernel) for kernel in kernels}


def squares_line(squares: dict[str, float]) -> str:
    return ", ".join(f"{kernel} {value:.1f} GFLOP/s" for kernel, value in squares.items())


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


class GRUBaseline(nn.Module):
    """``torch.nn.GRU`` and a linear read-out to the WARP root's outputs, at every step."""

    def __init__(self, channels: int, hidden: int, out_features: int):
        super().__init__()
        self.gru = nn.GRU(channels, hidden, batch_first=True)
        self.head = nn.Linear(hidden, out_features)

    def forward(self, x):
        return self.head(self.gru(x)[0])  # (batch, T, out_features)

    @staticmethod
    def hidden_for(params: int, channels: int, out_features: int) -> int:
        """The hidden size whose parameter count ``3h^2 + 3hC + 6h + h out + out`` is nearest ``params``."""
        b = 3 * channels + 6 + out_features
        return round((-b + math.sqrt(b * b + 12 * (params - out_features))) / 6)


def loss_of(config: WarpConfig, x, labels, mean, std, logits):
    """NLL (Gaussian head), MSE (point) or cross-entropy (classification); ``mean[:, t]`` predicts x_{t+1}."""
    if config.head == "classification":
        return F.cross_entropy(logits, labels)
    if config.head == "gaussian":
        return F.gaussian_nll_loss(mean[:, :-1], x[:, 1:], std[:, :-1] ** 2)
    return F.mse_loss(mean[:, :-1], x[:, 1:])


def train_steps(model, loss_fn, repeats: int, device: str = "cpu") -> dict:
    """One warm-up step (seconds: ``first``), then ``repeats`` timed ones: seconds of each phase and peak memory
    above the start (resident memory on the CPU, allocated memory on CUDA)."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else lambda: None

    def step():
        sync()
        t0 = time.perf_counter()
        loss = loss_fn()
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        sync()
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    first = sum(step())
    reset_peak_memory()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated() / 2**20 if cuda else memory_mb("VmRSS")
    phases = [step() for _ in range(repeats)]
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda else memory_mb("VmHWM")) - before
    fwd, bwd, opt = (sum(p[i] for p in phases) / repeats for i in range(3))
    return dict(fwd=fwd, bwd=bwd, opt=opt, step=fwd + bwd + opt, peak_mb=peak, first=first)


def variant_of(model: nn.Module, variant: str, device: str):
    """The forward function and autocast context of a variant: ``fp32``, ``bf16`` or ``compile``."""
    forward = torch.compile(model) if variant == "compile" else model
    if variant == "bf16":
        return forward, lambda: torch.autocast(device, dtype=torch.bfloat16)
    return forward, contextlib.nullcontext


def case_data(case: Case, quick: bool, transition: str = "dense", device: str = "cpu"):
    """The case's config, batch, T, seeded inputs ``(batch, T, C)`` and labels ``(batch,)`` on ``device``."""
    batch, T = case.quick if quick else (case.batch, case.T)
    torch.manual_seed(0)
    config = WarpConfig(**case.config, transition=transition)
    x = torch.randn(batch, T, config.in_channels).clamp(-3, 3)
    labels = torch.randint(0, config.num_classes or 1, (batch,))
    return config, batch, T, x.to(device), labels.to(device)


def trained_looking(model: WARP) -> None:
    """Moves A off the identity (each structure alike, gain about 0.1) and B off zero."""
    D = model.d_theta
    with torch.no_grad():
        if model.transition is None:
            model.A.add_(0.1 / D**0.5 * torch.randn_like(model.A))
        for name, p in (model.transition or nn.Module()).named_parameters():
            if name == "nu":
                p.copy_(torch.log(0.001 + 0.1 * torch.rand_like(p)))  # eigenvalues in (0.9, 0.999)
            elif name == "blocks":
                p.add_(0.1 / p.shape[1] ** 0.5 * torch.randn_like(p))
            elif name == "U":
                p.normal_(std=0.1 / D**0.5)
        model.B.normal_(std=0.01)


def measure_mode(
    name: str,
    case: Case,
    mode: str,
    quick: bool,
    repeats: int,
    transition: str = "dense",
    variant: str = "fp32",
    device: str = "cpu",
) -> dict:
    """One row: WARP's training step with ``transition`` in ``mode`` and ``variant`` on the case's data."""
    config, batch, T, x, labels = case_data(case, quick, transition, device)
    kwargs = {} if case.teacher_forcing is None else dict(teacher_forcing=case.teacher_forcing)
    model = WARP(config)
    trained_looking(model)
    model.to(device)
    D, params = model.d_theta, sum(p.numel() for p in model.parameters())
    forward, autocast = variant_of(model, variant, device)

    def warp_loss():
        with autocast():
            out = forward(x, mode=mode, **kwargs)
            return loss_of(config, x, labels, out.mean, out.std, out.logits)

    result = train_steps(model, warp_loss, repeats, device)
    step_matmul = matmul_gflops(batch, D, D, seconds=0.1 if quick else 1.0, device=device, kernel="auto")
    flops = 6 * batch * (T - 1) * multiply_adds(transition, D)  # theta A^T, lam A, A's gradient
    return dict(
        case=name,
        mode=mode if variant == "fp32" else f"{mode}+{variant}",
        transition=transition,
        batch=batch,
        T=T,
        D=D,
        params=params,
        state_mb=batch * T * D * 4 / 2**20,
        params_mb=params * 4 / 2**20,
        rec_gflops=flops / result["step"] / 1e9 if mode == "scan" else None,
        step_matmul=step_matmul,
        **result,
    )


def measure_in_subprocess(
    name: str,
    case: Case,
    mode: str,
    quick: bool,
    repeats: int,
    transition: str = "dense",
    variant: str = "fp32",
    device: str = "cpu",
) -> dict:
    """``measure_mode`` in a fresh Python process, so that no earlier case's memory is resident or reused
    and the peak is this step's alone."""
    command = [sys.executable, __file__, "--worker", name, mode, transition, "--repeats", str(repeats)]
    command += ["--variants", variant, "--device", device]
    done = subprocess.run(command + (["--quick"] if quick else []), capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def run_case(
    name: str,
    case: Case,
    quick: bool,
    repeats: int,
    gru_steps: dict,
    measure=measure_mode,
    transitions: tuple[str, ...] | None = None,
    variants: tuple[str, ...] = ("fp32",),
    device: str = "cpu",
) -> list[dict]:
    """Every transition (default: the case's), mode and variant of one case (each by ``measure``), then the
    GRU in fp32 (matched to the first row's size, timed once per configuration and size, in ``gru_steps``)."""
    rows = []
    for transition in transitions or case.transitions:
        for mode in case.modes:
            for variant in variants:
                rows.append(measure(name, case, mode, quick, repeats, transition, variant, device))
                gc.collect()
    config, batch, T, x, labels = case_data(case, quick, device=device)
    hidden = GRUBaseline.hidden_for(rows[0]["params"], config.in_channels, config.out_features)
    gru = GRUBaseline(config.in_channels, hidden, config.out_features).to(device)
    gru_params = sum(p.numel() for p in gru.parameters())
    assert abs(gru_params / rows[0]["params"] - 1) < 0.05

    def gru_loss():
        raw = gru(x)
        C = config.in_channels
        mean, std = raw[..., :C], F.softplus(raw[..., C:]) + config.std_floor
        return loss_of(config, x, labels, mean, std, raw[:, -1])

    key = (str(case.config), batch, T)
    if key not in gru_steps:
        gru_steps[key] = train_steps(gru, gru_loss, 1, device)
    gru_result = gru_steps[key]
    dense = {r["mode"]: r["step"] for r in rows if r["transition"] == "dense"}
    for row in rows:
        row.update(
            gru_step=gru_result["step"],
            gru_hidden=hidden,
            gru_params=gru_params,
            vs_first=row["step"] / rows[0]["step"],
            vs_dense=row["step"] / dense[row["mode"]] if row["mode"] in dense else None,
        )
    return rows


# ----- side by side with the authors' code ----------------------------------------------------------

AUTHORS_SCRIPT = Path(__file__).with_name("authors.py")
AUTHORS_CASES = ("mnist-ar", "msd-ar")  # the cases benchmarks/authors.py has a counterpart of


def parse_authors_line(stdout: str) -> dict:
    """The result in ``benchmarks/authors.py``'s output: its last line that is a JSON object (their code
    prints other lines before it)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            missing = {"step", "steps", "first_s", "batch", "T", "D", "commit"} - result.keys()
            if missing:
                raise ValueError(f"the authors' result lacks {sorted(missing)}: {line}")
            return result
    raise ValueError(f"no JSON line in the authors' output: {stdout[-500:]!r}")


def authors_in_subprocess(name: str, case: Case, quick: bool, repeats: int, repo: str, python: str) -> dict:
    """``benchmarks/authors.py`` under ``python`` (the authors' venv): their step at our case's batch and T."""
    batch, T = case.quick if quick else (case.batch, case.T)
    command = [python, str(AUTHORS_SCRIPT), "--repo", repo, "--case", name, "--batch", str(batch), "--T", str(T)]
    done = subprocess.run(command + ["--repeats", str(repeats)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(
            f"the authors' step failed (exit {done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}"
            "\n(--authors-python: the Python of their venv, see benchmarks/authors.py)"
        )
    return parse_authors_line(done.stdout)


def side_by_side(ours: list[dict], theirs: list[dict]) -> dict:
    """The medians of both sides' step seconds over the rounds, and ours / theirs."""
    ours_steps, their_steps = [r["step"] for r in ours], [r["step"] for r in theirs]
    median_ours, median_theirs = statistics.median(ours_steps), statistics.median(their_steps)
    return dict(
        ours=median_ours,
        theirs=median_theirs,
        ratio=median_ours / median_theirs,
        ours_steps=ours_steps,
        their_steps=their_steps,
        their_first=statistics.median(r["first_s"] for r in theirs),
    )


def compare_with_authors(
    name: str,
    case: Case,
    quick: bool,
    repeats: int,
    rounds: int,
    repo: str,
    python: str,
    measure=measure_in_subprocess,
    authors=authors_in_subprocess,
) -> dict:
    """Our step (dense transition, scan, fp32) and the authors', alternately, ``rounds`` times each, every
    one in its own process; both sides must have the same batch, T and D_theta."""
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(measure(name, case, "scan", quick, repeats, "dense"))
        theirs.append(authors(name, case, quick, repeats, repo, python))
    shapes = {side: (r["batch"], r["T"], r["D"]) for side, r in (("ours", ours[0]), ("theirs", theirs[0]))}
    if shapes["ours"] != shapes["theirs"]:
        raise ValueError(f"{name}: (batch, T, D_theta) differ, {shapes}")
    theirs_info = {key: theirs[0].get(key) for key in ("commit", "dirty", "jax", "jaxlib", "device")}
    batch, T, D = shapes["ours"]
    return dict(
        case=name, batch=batch, T=T, D=D, rounds=rounds, quick=quick, **theirs_info, **side_by_side(ours, theirs)
    )


# ----- reporting -------------------------------------------------------------------------------------


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(rows: list[dict], squares: dict[str, float]) -> None:
    """The table of ``rows``; the recurrence's GFLOP/s also against ``squares``, the square matmul's
    throughput per kernel (``blas``, ``onednn``) in this run."""
    print(
        f"{'case':<14}{'A':<11}{'mode':<13}{'batch':>6}{'T':>6}{'D':>6}  {'s/step':>7} {'(fwd/bwd/opt)':<17}"
        f"{'1st s':>7}{'peak MB':>8}{'/(2S+P)':>8}{'GFLOP/s':>9}{'/BDxDD':>7}"
        + "".join(f"{'/' + kernel[:4]:>6}" for kernel in squares)
        + f"{'/first':>7}{'/dense':>7}{'/GRU':>6}"
    )
    for r in rows:
        split = f"({r['fwd']:.2f}/{r['bwd']:.2f}/{r['opt']:.2f})"
        rec = r["rec_gflops"]
        print(
            f"{r['case']:<14}{r['transition']:<11}{r['mode']:<13}{r['batch']:>6}{r['T']:>6}{r['D']:>6}  "
            f"{r['step']:>7.3f} {split:<17}{r['first']:>7.1f}"
            f"{r['peak_mb']:>8.0f}{r['peak_mb'] / (2 * r['state_mb'] + r['params_mb']):>8.2f}"
            f"{fmt(rec, '.1f'):>9}{fmt(rec and rec / r['step_matmul'], '.2f'):>7}"
            + "".join(f"{fmt(rec and rec / square, '.2f'):>6}" for square in squares.values())
            + f"{r['vs_first']:>7.2f}{fmt(r['vs_dense'], '.2f'):>7}"
            f"{r['step'] / r['gru_step']:>6.2f}"
        )
    print()
    for case in dict.fromkeys(r["case"] for r in rows):
        r = next(r for r in rows if r["case"] == case)
        line = (
            f"{case}: state {r['state_mb']:.0f} MB, parameters {r['params']:,} ({r['params_mb']:.0f} MB); "
            f"(batch, D) @ (D, D) matmul {r['step_matmul']:.0f} GFLOP/s; GRU hidden {r['gru_hidden']} "
            f"({r['gru_params']:,} parameters) {r['gru_step']:.3f} s/step"
        )
        print(line)


def authors_report(comparisons: list[dict]) -> None:
    """The side-by-side table: both medians, ``/authors`` (ours / theirs) and each round's seconds."""
    first = comparisons[0]
    print(
        f"\nside by side with the authors' code (github.com/ddrous/warp {first['commit'][:12]}"
        f"{', tracked files modified' if first['dirty'] else ''}; jax {first['jax']}, jaxlib {first['jaxlib']}, "
        f"{first['device']}), alternating ours (dense, scan, fp32) and theirs, each in its own process:"
    )
    print(
        f"{'case':<14}{'batch':>6}{'T':>6}{'D':>6}{'rounds':>7}  {'ours s':>8}{'theirs s':>9}{'/authors':>9}"
        f"{'their 1st s':>12}  each round, ours | theirs"
    )
    for c in comparisons:
        each = " ".join(f"{v:.3f}" for v in c["ours_steps"]) + " | " + " ".join(f"{v:.3f}" for v in c["their_steps"])
        print(
            f"{c['case']:<14}{c['batch']:>6}{c['T']:>6}{c['D']:>6}{c['rounds']:>7}  {c['ours']:>8.3f}"
            f"{c['theirs']:>9.3f}{c['ratio']:>9.2f}{c['their_first']:>12.1f}  {each}"
        )
    if first["quick"]:
        print("(--quick: tiny sizes, the ratio says nothing about speed at full size)")


def check_authors(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--authors``: a clone with their ``main.py``, a case with a counterpart, the CPU."""
    if not args.authors:
        return
    args.authors = os.path.abspath(args.authors)
    if not os.path.isfile(os.path.join(args.authors, "main.py")):
        parser.error(f"--authors {args.authors}: no main.py there (a clone of github.com/ddrous/warp is needed)")
    if not set(args.cases) & set(AUTHORS_CASES):
        parser.error(f"--authors: only {' and '.join(AUTHORS_CASES)} have a counterpart in the authors' code")
    if args.device != "cpu":
        parser.error("--authors: CPU only (benchmarks/authors.py installs their CPU jaxlib)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per measurement (default 2, quick 1)")
    parser.add_argument(
        "--in-process", action="store_true", help="measure every mode in this process (default: each in a fresh one)"
    )
    parser.add_argument(
        "--transitions",
        nargs="+",
        default=None,
        metavar="SPEC",
        help="warp.transition values to run in every case (default: each case's own; the autoregressive "
        f"cases: {' '.join(STRUCTURES)})",
    )
    parser.add_argument("--variants", nargs="+", choices=["fp32", "bf16", "compile"], default=["fp32"])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--authors", metavar="PATH", help="a clone of github.com/ddrous/warp: time their step too")
    parser.add_argument(
        "--authors-python",
        default=sys.executable,
        metavar="PYTHON",
        help="the Python of the authors' venv (benchmarks/authors.py); default: this one",
    )
    parser.add_argument("--rounds", type=int, default=3, help="with --authors: rounds of ours, theirs (default 3)")
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "MODE", "TRANSITION"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # freed memory kept (warprnn.allocator) in every process of the run, ours and, through the environment
    # that they inherit, the authors' alike; WARPRNN_MALLOC=system keeps glibc's defaults everywhere
    kept = allocator.keep_freed_memory()
    if kept:
        os.environ.update(allocator.ENVIRONMENT)
    repeats = args.repeats or (1 if args.quick else 2)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    if args.worker:
        name, mode, transition = args.worker
        row = measure_mode(name, CASES[name], mode, args.quick, repeats, transition, args.variants[0], args.device)
        print(json.dumps(row))
        return 0
    check_authors(parser, args)
    for spec in args.transitions or ():
        try:
            WarpConfig(transition=spec)  # a bad value fails here, naming warp.transition, not in a worker
        except ValueError as error:
            parser.error(str(error))
    print(
        f"warprnn benchmark{' --quick' if args.quick else ''}: torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, THP_MEM_ALLOC_ENABLE={os.environ['THP_MEM_ALLOC_ENABLE']}, "
        f"freed memory kept: {'yes' if kept else 'no'}, {load()}"
    )
    squares = square_matmuls(args.device)
    print(f"square 2048^3 float32 matmul on {args.device}: {squares_line(squares)}\n")
    rows, gru_steps, comparisons = [], {}, []
    for name in args.cases:
        rows += run_case(
            name,
            CASES[name],
            args.quick,
            repeats,
            gru_steps,
            measure_mode if args.in_process else measure_in_subprocess,
            tuple(args.transitions) if args.transitions else None,
            tuple(args.variants),
            args.device,
        )
        if args.authors and name in AUTHORS_CASES:
            comparisons.append(
                compare_with_authors(
                    name, CASES[name], args.quick, repeats, args.rounds, args.authors, args.authors_python
                )
            )
    report(rows, squares)
    if args.authors:
        authors_report(comparisons)
    print(f"\nsquare matmul at the end: {squares_line(square_matmuls(args.device))}; {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
