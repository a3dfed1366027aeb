"""Distributed data parallel (DDP) plumbing: rank / world from the `torchrun` environment.

`torchrun --nproc_per_node N -m dsdit_geo_cli.app train ...` sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT; `init_distributed` reads them and joins the process group (NCCL
on CUDA, gloo on CPU). Without them, a run is a world of one and nothing here talks to anyone.
Only rank 0 writes checkpoints, logs and the export (`DistContext.is_main`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """rank / world_size / local_rank of this process; `active`: a process group was joined."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    active: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_context() -> DistContext:
    """The context torchrun's environment variables describe (a world of one without them)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return DistContext(rank, world, local, active=False)


def init_distributed(device_type: str) -> DistContext:
    """Join the process group when WORLD_SIZE > 1 (or reuse an initialised one).

    device_type "cuda" -> NCCL backend and `cuda:LOCAL_RANK` becomes the current device;
    "cpu" -> gloo.
    """
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(),
                           int(os.environ.get("LOCAL_RANK", dist.get_rank())), active=True)
    ctx = env_context()
    if ctx.world_size == 1:
        return ctx
    if device_type == "cuda":
        torch.cuda.set_device(ctx.local_rank)
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size)
    return DistContext(ctx.rank, ctx.world_size, ctx.local_rank, active=True)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group if `init_distributed` joined it."""
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        dist.barrier()


def mean_across(ctx: DistContext, values: torch.Tensor) -> torch.Tensor:
    """Element-wise mean of `values` over all ranks (a copy; unchanged in a world of one)."""
    if not ctx.active:
        return values.clone()
    out = values.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / ctx.world_size


def any_across(ctx: DistContext, flag: bool, device: torch.device) -> bool:
    """True when `flag` is True on any rank (so every rank stops at the same step)."""
    if not ctx.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_object(ctx: DistContext, value: object) -> object:
    """`value` of rank 0, on every rank."""
    if not ctx.active:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


__all__ = ["DistContext", "any_across", "barrier", "broadcast_object", "env_context",
           "init_distributed", "mean_across", "shutdown"]
