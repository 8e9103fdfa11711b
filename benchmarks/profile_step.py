"""Where one training step of a benchmark case spends its time: torch's profiler, by part of the model.

    python benchmarks/profile_step.py mnist-ar                  # the case of benchmarks/run.py, dense A
    python benchmarks/profile_step.py tf-784 --mode auto        # a teacher-forced case in another mode
    python benchmarks/profile_step.py msd-ar --quick --rows 30   # tiny sizes, a few seconds; operator table

One warm-up step, then one profiled step (forward, backward, Adam) of WARP on the case's data, as
``benchmarks/run.py`` times it (freed memory kept, large tensors on huge pages). The profiled step runs with the model's parts labelled (this script wraps
them; the library is not changed): A's products (the transition operator's steps and gradients, the
kernel and its convolution), the root's evaluation (the decoder ``WARP.decode``, and in the
autoregressive backward the Jacobians of each step and their products), the heads and the loss. It
prints, for the forward and the backward (with Adam's step after them), the seconds in each part, the
rest ("everything else": the rollout's own loop, copies, masks), and the operator calls per time step;
then the step's seconds with and without the profiler (its difference is the profiler's cost, about a
microsecond per operator call). ``--rows N`` adds the N operators with the most self time.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from run import CASES, STRUCTURES, case_data, loss_of, trained_looking  # the cases; it sets THP (read at allocation)
from warprnn import WARP, allocator

PARTS = {  # where each part's functions are, by name: those a version of the library lacks are skipped
    "A's products": [
        *(
            f"transition.{cls}.{name}"
            for cls in ("Dense", "Diagonal", "BlockDiagonal", "LowRank")
            for name in ("apply", "step", "step_T", "grads", "accumulate")
        ),
        "recurrence.kernel",
        "recurrence.CausalConvolution.forward",
        "recurrence.CausalConvolution.backward",
    ],
    "root": [
        "model.WARP.decode",
        "roots.PerSampleMLP.backward",
        "rollout.RootTape.forward",
        "rollout.RootTape.vjp",
        "rollout.RootJacobians.__init__",
        "rollout.RootJacobians.vjp",
        "rollout.FeedJacobians.__init__",  # the feedback's, formed with the root's before (StepJacobians)
        "rollout.FeedJacobians.vjp",
        "rollout.StepJacobians.__init__",
        "rollout.StepJacobians.vjp",
    ],
    "heads and loss": ["heads.sequence_output"],
}
PHASES = ("forward", "backward and Adam")


class Labels:
    """Wraps the functions of ``PARTS`` so that each call is a profiler range named after its part and the
    phase; a call inside another labelled call is left to its caller's label (no time is counted twice)."""

    def __init__(self):
        self.phase, self.depth, self.saved = PHASES[0], 0, []

    def wrap(self, part: str, function):
        @functools.wraps(function)
        def labelled(*args, **kwargs):
            if self.depth:
                return function(*args, **kwargs)
            self.depth += 1
            try:
                with record_function(f"{part} | {self.phase}"):
                    return function(*args, **kwargs)
            finally:
                self.depth -= 1

        return labelled

    def __enter__(self):
        for part, places in PARTS.items():
            for place in places:
                *path, name = place.split(".")
                module = importlib.import_module(f"warprnn.{path[0]}")
                owner = functools.reduce(lambda o, a: getattr(o, a, None), path[1:], module)
                original = None if owner is None else vars(owner).get(name)
                if original is None:  # not in this version, or inherited (the base class's is wrapped once)
                    continue
                function = original.__func__ if isinstance(original, staticmethod) else original
                wrapped = self.wrap(part, function)
                setattr(owner, name, staticmethod(wrapped) if isinstance(original, staticmethod) else wrapped)
                self.saved.append((owner, name, original))
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self.saved):
            setattr(owner, name, original)


def step_function(name: str, transition_name: str, quick: bool, mode: str | None, labels: Labels | None = None):
    """One training step of the case, as a function of no arguments returning nothing; with ``labels``, its
    phases are named (``Labels.phase``) and marked as profiler ranges."""
    case = CASES[name]
    config, _, _, x, labels_y = case_data(case, quick, transition_name)
    kwargs = {} if case.teacher_forcing is None else dict(teacher_forcing=case.teacher_forcing)
    model = WARP(config)
    trained_looking(model)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    mode = mode or case.modes[0]

    def phase(which: str):
        if labels is None:
            return contextlib.nullcontext()
        labels.phase = which
        return record_function(f"phase | {which}")

    def step():
        with phase(PHASES[0]):
            out = model(x, mode=mode, **kwargs)
            with loss_labelled(labels):
                loss = loss_of(config, x, labels_y, out.mean, out.std, out.logits)
        with phase(PHASES[1]):
            loss.backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)

    return step, x.shape[1]


def loss_labelled(labels: Labels | None):
    """The loss's range (it is a function of the benchmark, not of the library)."""
    return contextlib.nullcontext() if labels is None else record_function(f"heads and loss | {labels.phase}")


def breakdown(events, T: int) -> list[str]:
    """The table: seconds per part and phase, the rest of each phase, and operator calls per time step."""
    totals: dict[str, float] = {}
    for event in events:
        if " | " in event.name:
            totals[event.name] = totals.get(event.name, 0.0) + event.cpu_time_total / 1e6
    operators = dict.fromkeys(PHASES, 0)
    for event in events:  # every operator call, attributed to the phase whose range holds it
        if event.name.startswith("aten::"):
            parent = event.cpu_parent
            while parent is not None and not parent.name.startswith("phase | "):
                parent = parent.cpu_parent
            if parent is not None:
                operators[parent.name.split(" | ")[1]] += 1
    lines = [f"| part | {' | '.join(PHASES)} |", "|---|" + "---:|" * len(PHASES)]
    for part in [*PARTS, "everything else"]:
        cells = []
        for p in PHASES:
            if part == "everything else":
                seconds = totals.get(f"phase | {p}", 0.0) - sum(totals.get(f"{q} | {p}", 0.0) for q in PARTS)
            else:
                seconds = totals.get(f"{part} | {p}", 0.0)
            cells.append(f"{seconds:.3f} s")
        lines.append(f"| {part} | {' | '.join(cells)} |")
    phase_totals = [totals.get(f"phase | {p}", 0.0) for p in PHASES]
    lines.append(f"| total | {' | '.join(f'{s:.3f} s' for s in phase_totals)} |")
    lines.append(f"| operator calls per time step | {' | '.join(f'{operators[p] / T:.1f}' for p in PHASES)} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=list(CASES))
    parser.add_argument("--transition", choices=STRUCTURES, default="dense")
    parser.add_argument("--mode", choices=["scan", "conv", "auto"], help="default: the case's first mode")
    parser.add_argument("--rows", type=int, default=0, help="also the N operators with the most self time")
    parser.add_argument("--quick", action="store_true", help="the case's tiny sizes of --quick")
    args = parser.parse_args(argv)
    allocator.keep_freed_memory()  # as in benchmarks/run.py
    step, _ = step_function(args.case, args.transition, args.quick, args.mode)
    step()  # warm-up: first calls allocate and pick kernels
    began = time.perf_counter()
    step()
    plain = time.perf_counter() - began
    with Labels() as labels:
        labelled, T = step_function(args.case, args.transition, args.quick, args.mode, labels)
        labelled()
        with profile(activities=[ProfilerActivity.CPU]) as profiled_run:
            began = time.perf_counter()
            labelled()
            profiled = time.perf_counter() - began
    events = profiled_run.events()
    mode = args.mode or CASES[args.case].modes[0]
    print(f"{args.case} ({args.transition}, {mode}, T = {T}, {torch.get_num_threads()} threads)\n")
    print("\n".join(breakdown(events, T)))
    if args.rows:
        print(profiled_run.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(f"\nstep {plain:.3f} s, {profiled:.3f} s profiled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
