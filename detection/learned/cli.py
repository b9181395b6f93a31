"""`fraudgraph model ...`: train the learned scorer and show what a model file holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fraudgraph.detection.learned.card import card_path_for, render_card
from fraudgraph.detection.learned.model_file import default_model_path, load_model_file
from fraudgraph.detection.learned.training import (
    TARGET_PRECISION,
    BankSamples,
    summary,
    train,
)
from fraudgraph.errors import ConfigError
from fraudgraph.extras import require

app = typer.Typer(help="The learned scorer's model: train it, show it.", no_args_is_help=True)
_out = Console()
_err = Console(stderr=True)


@app.command("train")
def train_model(  # noqa: PLR0917 - typer passes each option by keyword
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the model file (default: the packaged model)."),
    ] = None,
    generator: Annotated[
        list[str] | None,
        typer.Option(help="Generator families to train on (repeat; default both)."),
    ] = None,
    customers: Annotated[int, typer.Option(min=100, help="Customers per bank.")] = 2000,
    days: Annotated[int, typer.Option(min=7, help="Days per bank.")] = 30,
    target_precision: Annotated[
        float,
        typer.Option(min=0.5, max=0.999, help="Validation precision every family must reach."),
    ] = TARGET_PRECISION,
    version: Annotated[str | None, typer.Option(help="Version label (default: today).")] = None,
) -> None:
    """Fit on the families' tuning seeds, choose the threshold out of fold, write the file.

    Only tuning seeds are read (evaluation/seeds.py); test seeds stay frozen.
    """
    require("faker", extra="simulator")
    families = generator or ["classic", "amlsim"]

    def progress(bank: BankSamples) -> None:
        _err.print(
            f"{bank.generator} seed {bank.seed}: {len(bank.features):,} transfers, "
            f"{sum(bank.labels):,} of a case, {bank.seconds:.1f} s"
        )

    try:
        run = train(
            generators=families,
            customers=customers,
            days=days,
            target_precision=target_precision,
            version=version,
            progress=progress,
        )
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from None
    target = out or default_model_path()
    run.model.save(target)
    card = card_path_for(target)
    card.write_text(render_card(run.model))
    _out.print_json(data={**summary(run), "written": [str(target), str(card)]})


@app.command("card")
def write_card(
    model_file: Annotated[
        Path | None, typer.Argument(help="A model file (default: the packaged model).")
    ] = None,
) -> None:
    """Write the model card (Markdown) beside the model file, from the file itself."""
    path = model_file or default_model_path()
    card = card_path_for(path)
    card.write_text(render_card(load_model_file(path)))
    _out.print(str(card), highlight=False)


@app.command("show")
def show_model(
    model_file: Annotated[
        Path | None, typer.Argument(help="A model file (default: the packaged model).")
    ] = None,
) -> None:
    """The model's version, threshold, training seeds and validation figures."""
    model = load_model_file(model_file)
    _out.print_json(
        data={
            "version": model.version,
            "threshold": model.threshold,
            "features_version": model.features_version,
            "features": len(model.feature_names),
            "training": model.training,
            "metrics": model.metrics,
        }
    )
