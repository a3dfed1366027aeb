"""`dsdit-geo train`: parse options, call `dsdit_geo.train.loop.train`.

Settings come from `--config FILE` (JSON, see `TrainConfig`) with the options below on top. When
resuming without `--config`, the latest checkpoint's recorded config is the base, so running the
same command again continues the run. Multi-GPU: `torchrun --nproc_per_node N -m
dsdit_geo_cli.app train ...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from dsdit_geo_cli.errors import INTERRUPTED_EXIT_CODE, user_errors

_RUN = "Run"
_DATA = "Data"
_OPT = "Optimisation"
_HW = "Hardware"


def train(
    config: Annotated[Optional[Path], typer.Option(
        "--config", "-c", rich_help_panel=_RUN, show_default=False,
        help="JSON file of training settings (keys of TrainConfig); the options below override it.")] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", rich_help_panel=_RUN, show_default="dsdit",
        help="Run name: the run lives in OUT/NAME (checkpoints, log, final/).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", rich_help_panel=_RUN, show_default="runs", help="Folder of runs.")] = None,
    steps: Annotated[Optional[int], typer.Option(
        "--steps", rich_help_panel=_RUN, show_default="20000", help="Optimisation steps in all.")] = None,
    seed: Annotated[Optional[int], typer.Option(
        "--seed", rich_help_panel=_RUN, show_default="0", help="Seed of the init, samples and noise.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume/--no-resume", rich_help_panel=_RUN,
        help="Continue from the run's latest checkpoint if it has one. --no-resume refuses to "
        "touch a run that has checkpoints.")] = True,
    checkpoint_every: Annotated[Optional[int], typer.Option(
        "--checkpoint-every", rich_help_panel=_RUN, show_default="500", help="Steps between checkpoints.")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", rich_help_panel=_RUN, help="No progress bar (the JSON-lines log is still written).")] = False,
    preset: Annotated[Optional[str], typer.Option(
        "--preset", rich_help_panel=_OPT, show_default="small", help="Model size: tiny, small, base, large.")] = None,
    init_weights: Annotated[Optional[Path], typer.Option(
        "--init-weights", rich_help_panel=_OPT, show_default=False,
        help="Start from this model folder (save_pretrained, e.g. dsdit_geo/weights/default): fine-tuning.")] = None,
    weak_ref_prob: Annotated[Optional[float], typer.Option(
        "--weak-ref-prob", rich_help_panel=_OPT, show_default="0",
        help="Share of samples trained with the Ref attention term off (autoguidance's weak pass).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", "-b", rich_help_panel=_OPT, show_default="8", help="Samples per step and process.")] = None,
    lr: Annotated[Optional[float], typer.Option(
        "--learning-rate", rich_help_panel=_OPT, show_default="3e-4", help="Peak AdamW learning rate.")] = None,
    data: Annotated[Optional[str], typer.Option(
        "--data", "-d", rich_help_panel=_DATA, show_default="$DSDIT_GEO_DATA, else ../shared/data",
        help="A data root (shared layout), a folder with gt/ and ref/, or a CSV of gt,ref pairs.")] = None,
    crop_px: Annotated[Optional[int], typer.Option(
        "--crop-px", rich_help_panel=_DATA, show_default="128", help="Side of the training crops (HR px).")] = None,
    device: Annotated[Optional[str], typer.Option(
        "--device", rich_help_panel=_HW, show_default="auto", help="auto, cpu, cuda or cuda:N.")] = None,
    num_threads: Annotated[Optional[int], typer.Option(
        "--num-threads", rich_help_panel=_HW, show_default="all cores",
        help="Torch threads per process (0 = all cores of this process).")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", rich_help_panel=_HW, show_default="0",
        help="DataLoader worker processes making samples beside training.")] = None,
) -> None:
    """Train DS-DiT on real imagery; checkpoints and the exported model go to OUT/NAME."""
    with user_errors():
        from dsdit_geo.train.config import TrainConfig  # heavy imports only when running
        from dsdit_geo.train.loop import resolve_config
        from dsdit_geo.train.loop import train as run_training

        overrides = {
            "name": name, "out_dir": str(out) if out is not None else None, "steps": steps, "seed": seed,
            "checkpoint_every": checkpoint_every, "preset": preset, "batch_size": batch_size, "lr": lr,
            "data": data, "crop_px": crop_px, "device": device, "num_threads": num_threads,
            "workers": workers, "progress": False if quiet else None,
            "init_weights": str(init_weights) if init_weights is not None else None,
            "weak_ref_prob": weak_ref_prob,
        }
        base = TrainConfig.load(config) if config is not None else None
        settings = resolve_config(base, overrides, resume=resume)
        result = run_training(settings, resume=resume)
    if result.interrupted:
        typer.echo(f"Stopped at step {result.step}; checkpoint {result.checkpoint}. "
                   "Run the same command to resume.", err=True)
        raise typer.Exit(INTERRUPTED_EXIT_CODE)
    stats = result.stats
    if not quiet and result.final_dir is not None:
        loss = stats.get("final_loss")
        typer.echo(f"Trained {stats['steps']} steps in {stats['wall_time_s']:.0f} s "
                   f"({stats['samples_per_s'] or 0:.2f} samples/s, loss {loss if loss is None else round(loss, 4)}); "
                   f"model: {result.final_dir}", err=True)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
