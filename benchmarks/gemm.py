"""The recurrence's products on each CPU kernel: BLAS (torch's default, MKL on x86) against oneDNN.

    python benchmarks/gemm.py            # every shape, about a minute
    python benchmarks/gemm.py --quick    # small shapes, a few seconds

For each state size D and batch: the step product ``u + theta A^T`` (``warprnn.gemm.Factor``, the form
the forward and adjoint recurrences run, A reordered once outside the timing) and A's gradient
``lam^T theta`` over 64 steps of the batch, in GFLOP/s on each kernel, the best of repeated timings, and
which one ``WARPRNN_GEMM=auto`` picks for the step product (A's gradient always runs on BLAS). The sizes are those of the
benchmark cases (``benchmarks/run.py``: D_theta 1,298 for MNIST, 4,898 for MSD) and smaller roots, so that
``gemm.ONEDNN_MIN`` can be read off the table.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from warprnn import gemm


def best_seconds(run, seconds: float) -> float:
    """The fastest of repeated calls of ``run`` within ``seconds`` (at least three)."""
    best, start, calls = math.inf, time.perf_counter(), 0
    while calls < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        run()
        best, calls = min(best, time.perf_counter() - t), calls + 1
    return best


def step_gflops(rows: int, D: int, kernel: str, seconds: float) -> float:
    """``u + theta A^T`` for theta ``(rows, D)``, A ``(D, D)``, on ``kernel``."""
    A, theta, u = torch.randn(D, D), torch.randn(rows, D), torch.randn(rows, D)
    factor = gemm.Factor(A.T, onednn=kernel == "onednn")
    out = torch.empty_like(u)
    factor.addmm(u, theta, out=out)  # the one-time reorder
    return 2 * rows * D * D / best_seconds(lambda: factor.addmm(u, theta, out=out), seconds) / 1e9


def grad_gflops(rows: int, D: int, kernel: str, seconds: float) -> float:
    """``total += lam^T theta`` for lam, theta ``(rows, D)``: BLAS's ``addmm_`` (what the recurrence runs), or
    oneDNN's linear map of ``lam^T`` with weight ``theta^T`` (the alternative that lost, kept to re-check)."""
    lam, theta, total = torch.randn(rows, D), torch.randn(rows, D), torch.zeros(D, D)

    def onednn():
        total.copy_(torch.ops.mkldnn._linear_pointwise.binary(lam.T, total, theta.T, None, "add"))

    run = onednn if kernel == "onednn" else lambda: total.addmm_(lam.T, theta)
    return 2 * rows * D * D / best_seconds(run, seconds) / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small shapes, short timings")
    args = parser.parse_args(argv)
    if not gemm.onednn_available():
        print("this torch has no oneDNN linear operators: every product runs on BLAS")
        return 0
    sizes = [64, 256] if args.quick else [128, 256, 512, 1298, 4898]
    batches = [8] if args.quick else [4, 32, 128]  # 4: the few columns of a convolution kernel (recurrence.kernel)
    seconds = 0.05 if args.quick else 0.5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; GFLOP/s, best of repeated timings")
    print(f"{'product':<26}{'D':>6}{'rows':>7}{'blas':>9}{'onednn':>9}{'ratio':>7}  auto")
    for D in sizes:
        for batch in batches:
            for name, rows, measure in (
                ("u + theta A^T", batch, step_gflops),
                ("A grad, 64 steps", 64 * batch, grad_gflops),
            ):
                blas, onednn = (measure(rows, D, kernel, seconds) for kernel in ("blas", "onednn"))
                pick = "onednn" if measure is step_gflops and gemm.uses_onednn(torch.empty(D, D)) else "blas"
                print(f"{name:<26}{D:>6}{rows:>7}{blas:>9.1f}{onednn:>9.1f}{onednn / blas:>7.2f}  {pick}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
