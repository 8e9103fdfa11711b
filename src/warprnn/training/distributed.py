"""Data-parallel training over the processes of ``torchrun``: the process group, each rank's share of a
batch, and the sums that make the ranks agree.

One process (no ``torchrun``, or ``--nproc-per-node 1``) is a world of one, and every function here is then
the identity, so a single-process run is exactly what it was without this module.

How N processes train as one on the global batch ``train.batch_size``:
    - every rank builds the same epoch permutation (``loop.epoch_generator``) and takes the contiguous rows
      ``[B r / N, B (r+1) / N)`` of each batch of B sequences (``rows``);
    - a rank's loss is its share of the whole batch's mean: its masked sum over the whole batch's masked count
      (``share_of_loss``), so that the gradients summed over the ranks (``sum_gradients``) are the gradient
      of the single-process loss;
    - the teacher-forcing draws of a rank are its rows of the draws one process makes for the whole batch
      (``drawing_rows``);
    - rank 0 alone validates, tests, draws figures and writes the run folder; what it decides is sent to
      the others (``share``).
A rank that dies makes the others fail at their next collective with a ``ProcessGroupError`` (``torchrun``
also stops them, with SIGTERM, which ends a run as Ctrl-C does: resumable); one that hangs makes them fail
after ``TIMEOUT``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

import torch
import torch.distributed as dist

from ..errors import ProcessGroupError, one_line
from .build import resolve_device

TIMEOUT = timedelta(minutes=30)
"""How long a rank waits at a collective for the others (rank 0 validating alone included) before failing."""


@dataclass(frozen=True)
class World:
    """The processes training together: this one's ``rank`` among ``size``; ``local_rank`` on its machine
    (None without ``torchrun``)."""

    rank: int = 0
    size: int = 1
    local_rank: int | None = None

    @property
    def main(self) -> bool:
        """Whether this process writes the run folder (rank 0)."""
        return self.rank == 0


def launched() -> World:
    """The world ``torchrun`` describes in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), or
    a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


@contextlib.contextmanager
def process_group(device_name: str) -> Iterator[tuple[World, torch.device]]:
    """This process's world and device (``train.device``; ``cuda`` is the local rank's GPU), with the process
    group joined for the duration when there are several: NCCL on CUDA, gloo otherwise."""
    world = launched()
    device = resolve_device(device_name, world.local_rank)
    if world.size == 1 or dist.is_initialized():
        yield world, device
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    main_thread = threading.current_thread() is threading.main_thread()
    saved = signal.signal(signal.SIGTERM, interrupt) if main_thread else None
    try:
        yield world, device
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, saved)
        dist.destroy_process_group()


def end_rank(status: int) -> NoReturn:
    """Ends this rank's process with ``status`` once its output is flushed, without the interpreter's teardown.

    After ``destroy_process_group`` the run is complete (rank 0 has written the run folder), but torch's
    static destructors then sometimes find a gloo thread still joinable and abort ("terminate called without
    an active exception", SIGABRT: 2 of 18 runs of ``torchrun --nproc-per-node 3 -m warprnn train msd-small``
    with torch 2.13; 0 of 36 with this), which ``torchrun`` reports as a failed run. ``os._exit`` skips that
    teardown.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def interrupt(signum, frame):
    """SIGTERM, which ``torchrun`` sends the other ranks when one fails, as Ctrl-C."""
    raise KeyboardInterrupt


def collective(function):
    """``function``, a collective, with the error of a lost rank (gloo's "connection closed by peer", a timeout)
    as a ``ProcessGroupError``."""

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except RuntimeError as error:
            raise ProcessGroupError(
                f"another process of this torchrun run failed or did not answer within {TIMEOUT.total_seconds() / 60:g} min "
                f"({one_line(error, 160)}); the run folder resumes with 'warprnn train --resume'"
            ) from None

    return guarded


def rows(batch: int, world: World) -> tuple[int, int]:
    """This rank's rows ``[start, stop)`` of a batch of ``batch`` sequences (empty when batch < size)."""
    return batch * world.rank // world.size, batch * (world.rank + 1) // world.size


@collective
def share(value, world: World):
    """Rank 0's ``value`` (any picklable object), on every rank."""
    if world.size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@collective
def total(value: torch.Tensor, world: World) -> torch.Tensor:
    """The sum over the ranks of a tensor of the same shape on each."""
    if world.size == 1:
        return value
    value = value.clone()
    dist.all_reduce(value)
    return value


@collective
def barrier(world: World) -> None:
    """Waits until every rank gets here (rank 0 has prepared the run folder, say)."""
    if world.size > 1:
        dist.barrier()


@collective
def sum_gradients(parameters: list[torch.Tensor], world: World) -> None:
    """Replaces every gradient by its sum over the ranks, in one all-reduce.

    A parameter whose gradient is None on every rank (unused by the model) keeps None, as in one process, so
    that the optimiser leaves it alone; one that has a gradient on some rank gets the sum (a rank with an
    empty share of the batch contributes zeros).
    """
    if world.size == 1:
        return
    dtype = parameters[0].dtype
    flags = torch.tensor([p.grad is not None for p in parameters], dtype=dtype, device=parameters[0].device)
    parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).to(dtype) for p in parameters]
    flat = torch.cat(parts + [flags])
    dist.all_reduce(flat)
    start = 0
    for p, used in zip(parameters, flat[-len(parameters) :].tolist()):
        n = p.numel()
        p.grad = flat[start : start + n].view_as(p).to(p.dtype).clone() if used else None
        start += n


def share_of_loss(mask: torch.Tensor | None, start: int, stop: int, batch: int) -> float:
    """The fraction of the whole batch's loss terms that rows ``[start, stop)`` hold: their masked-in steps over
    all (``mask`` ``(batch, T-1)`` of ``step_mask``), or their sequences over ``batch`` (None: a per-sequence
    loss, cross-entropy). A rank's mean loss times this is its part of the whole batch's mean."""
    if mask is None:
        return (stop - start) / batch
    return int(mask[start:stop].sum()) / max(int(mask.sum()), 1)


@contextlib.contextmanager
def drawing_rows(
    generator: torch.Generator | None,
    start: int,
    stop: int,
    shape: tuple[int, int, int],
    noise_dtype: torch.dtype | None,
    world: World,
) -> Iterator[torch.Generator | None]:
    """The generator for a rank's autoregressive forward pass over rows ``[start, stop)`` of a batch of
    ``shape`` ``(batch, T, C)``, and afterwards the generator where one process's whole-batch pass leaves it.

    One process draws ``rand(batch, T)`` teacher-forcing draws (``heads.feeding``), then, for sampled feedback
    (``noise_dtype`` given), ``randn(batch, T, C)`` noise. A CPU generator draws a tensor's elements in order,
    so skipping ``start * T`` numbers makes a rank's ``rand(stop - start, T)`` exactly its rows of the
    whole-batch draws. The noise is not sliceable this way (``randn`` transforms numbers in blocks): with
    sampled feedback a rank draws everything from a generator of its own, seeded from the shared one, so
    its draws follow the same law but are not the single process's.
    """
    if world.size == 1 or generator is None:
        yield generator
        return
    batch, T, C = shape
    before = generator.get_state()
    torch.rand(batch, T, generator=generator)
    if noise_dtype is not None:
        torch.randn(batch, T, C, generator=generator, dtype=noise_dtype)
    after = generator.get_state()
    generator.set_state(before)
    if noise_dtype is None:
        torch.rand(start * T, generator=generator)
        yielded = generator
    else:
        seed = int(torch.randint(2**62, (1,), generator=generator)) + world.rank
        yielded = torch.Generator().manual_seed(seed)
    try:
        yield yielded
    finally:
        generator.set_state(after)
