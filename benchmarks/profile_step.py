"""Where one training step of a benchmark case spends its time: torch's profiler, operators by self time.

    python benchmarks/profile_step.py mnist-ar                  # the case of benchmarks/run.py, dense A
    python benchmarks/profile_step.py mnist-ar --transition diagonal --rows 30
    python benchmarks/profile_step.py msd-ar --quick            # tiny sizes, a few seconds

One warm-up step, then one profiled step (forward, backward, Adam) of WARP on the case's data, as
``benchmarks/run.py`` times it; prints the operators with the most self CPU time and their call counts,
then the step's seconds with and without the profiler (the profiler's own cost per operator call shows as
their difference). Read it to find what a faster step must change: per-step calls of small operators
(their count is T times a few) against the recurrence's large products.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from run import CASES, STRUCTURES, case_data, loss_of, trained_looking  # the benchmark's own cases
from warprnn import WARP


def step_function(name: str, transition: str, quick: bool):
    """One training step of the case, as a function of no arguments returning nothing."""
    case = CASES[name]
    config, _, _, x, labels = case_data(case, quick, transition)
    kwargs = {} if case.teacher_forcing is None else dict(teacher_forcing=case.teacher_forcing)
    model = WARP(config)
    trained_looking(model)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    mode = case.modes[0]

    def step():
        out = model(x, mode=mode, **kwargs)
        loss_of(config, x, labels, out.mean, out.std, out.logits).backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    return step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=list(CASES))
    parser.add_argument("--transition", choices=STRUCTURES, default="dense")
    parser.add_argument("--rows", type=int, default=25, help="operators shown (default 25)")
    parser.add_argument("--quick", action="store_true", help="the case's tiny sizes of --quick")
    args = parser.parse_args(argv)
    step = step_function(args.case, args.transition, args.quick)
    step()  # warm-up: first calls allocate and pick kernels
    began = time.perf_counter()
    step()
    plain = time.perf_counter() - began
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        began = time.perf_counter()
        step()
        profiled = time.perf_counter() - began
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(
        f"{args.case} ({args.transition}, {torch.get_num_threads()} threads): step {plain:.3f} s, {profiled:.3f} s profiled"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
