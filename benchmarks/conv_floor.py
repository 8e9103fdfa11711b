"""The parts that a teacher-forced ``conv`` training step cannot skip, each timed alone.

    python benchmarks/conv_floor.py            # the MNIST teacher-forced case of run.py (tf-784)
    python benchmarks/conv_floor.py --quick    # tiny sizes, a smoke run

An exact FFT convolution must (1) build the kernel ``A^j M`` (``recurrence.kernel``, forward and backward),
(2) inverse-transform the state's spectrum to the ``(batch, T, D)`` state and transform the state's
gradient back (one ``irfft`` and one ``rfft`` over ``batch x D`` channels of ``2T`` points, here in
their fastest, time-innermost layout), and (3) evaluate the root on every state and back-propagate
through it. Their sum bounds the conv step from below, whatever the products and copies around them
cost; ``run.py``'s scan step divided by it bounds the conv's speed-up over the scan from above.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

from run import MNIST  # noqa: E402  (run.py's MNIST model; importing it also sets run.py's environment)
from warprnn import WARP, WarpConfig, recurrence  # noqa: E402


def best_of(fn, repeats: int) -> float:
    """The fastest of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def floor(batch: int, T: int, repeats: int = 3) -> dict[str, float]:
    """Seconds of each unavoidable part of a conv step of the MNIST model on ``batch`` sequences of T steps."""
    torch.manual_seed(0)
    model = WARP(WarpConfig(**MNIST))
    D = model.d_theta
    with torch.no_grad():
        model.A.add_(0.1 / D**0.5 * torch.randn_like(model.A))
    spectrum = torch.randn(batch, D, T + 1, dtype=torch.complex64)
    signal = torch.randn(batch, D, 2 * T)
    columns = torch.randn(D, 2, requires_grad=True)  # B and theta_0: the kernel columns of this model
    theta = (0.1 * torch.randn(T, batch, D)).requires_grad_()
    tau = torch.rand(T, batch, 1)
    return {
        "kernel": best_of(lambda: recurrence.kernel(model.A, columns, T).sum().backward(), repeats),
        "FFTs": best_of(lambda: torch.fft.irfft(spectrum, n=2 * T, dim=-1), repeats)
        + best_of(lambda: torch.fft.rfft(signal, dim=-1), repeats),
        "root": best_of(lambda: model.root(theta, tau).sum().backward(), repeats),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs")
    args = parser.parse_args(argv)
    batch, T = (8, 128) if args.quick else (128, 784)
    parts = floor(batch, T)
    print(
        f"conv floor, MNIST model, batch {batch}, T {T}, {torch.get_num_threads()} threads: "
        + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in parts.items())
        + f"; sum {sum(parts.values()):.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
