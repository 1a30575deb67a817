"""accelerate for the training loops (SFT and DPO): one Accelerator per run at the config's
precision, and the two reductions a DDP step needs.

    accelerate launch --multi_gpu --num_processes 2 main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedDataParallelKwargs


def make_accelerator(mixed_precision: str, log_with: list | None = None,
                     project_dir: str | None = None):
    """accelerate with the config's precision; cpu=True without CUDA lets a torchrun-style
    launch form a gloo (MULTI_CPU) group; `log_with`: the trackers (trackers.py) writing under
    `project_dir`.

    accelerate keeps one process-wide AcceleratorState and refuses a second Accelerator
    with another precision; a second run in the same process (a notebook, the test suite)
    drops that state first. The distributed part (PartialState) is kept.
    """
    if AcceleratorState._shared_state.get("_mixed_precision", mixed_precision) != mixed_precision:
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision=mixed_precision, cpu=not torch.cuda.is_available(),
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)],
                       log_with=log_with or None, project_dir=project_dir)


def reduce_sum(accelerator, values: dict) -> dict:
    """The values summed over every DDP process (as they are with one process)."""
    if accelerator.num_processes == 1:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], device=accelerator.device)
    t = accelerator.reduce(t, reduction="sum")
    return {k: v for k, v in zip(keys, t.tolist())}


def agree_max(accelerator):
    """Every DDP process must run as many micro-batches as the busiest one."""
    if accelerator.num_processes == 1:
        return None
    return lambda n: int(accelerator.reduce(torch.tensor(n, device=accelerator.device),
                                            reduction="max"))
