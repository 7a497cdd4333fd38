"""``mammoread analyse-ratings``: the MRMC analysis of a ratings table from the command line
(the same reading and analysis as ``POST /api/v1/studies/ratings-analysis``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import click

from app.core.errors import AppError
from app.studies.analysis import Covariance, RatingsAnalysis, analyse
from app.studies.ratings_table import read_ratings_csv


def _f(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary(result: RatingsAnalysis) -> list[str]:
    """The figures a reader of the output looks for first, one per line."""
    shape = result.study
    out = result.obuchowski_rockette
    lines = [
        f"{len(shape.readers)} readers x {len(shape.treatments)} treatments x {shape.cases} cases "
        f"({shape.diseased} diseased, {shape.non_diseased} not); empirical AUC; "
        f"OR covariance: {out.covariance}; {100 * (1 - out.alpha):g} % intervals",
    ]
    for estimate in out.rrrc.treatments:
        lines.append(
            f"AUC {estimate.treatment}: {_f(estimate.estimate)} "
            f"({_f(estimate.ci_lower)} to {_f(estimate.ci_upper)}; df {_f(estimate.df, 2)})"
        )
    test = out.rrrc.test
    if test is not None and test.statistic is not None:
        lines.append(
            f"OR RRRC: F({_f(test.df_num, 0)}, {_f(test.df_den, 2)}) = {_f(test.statistic)}, "
            f"p = {_f(test.p)}"
        )
    for diff in out.rrrc.differences:
        lines.append(
            f"{diff.treatment_a} - {diff.treatment_b}: {_f(diff.estimate)} "
            f"({_f(diff.ci_lower)} to {_f(diff.ci_upper)}), p = {_f(diff.p)}"
        )
    return lines


@click.command("analyse-ratings")
@click.argument("table", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--covariance",
    type=click.Choice(list(get_args(Covariance))),
    default="jackknife",
    show_default=True,
    help="The Obuchowski-Rockette covariance estimator.",
)
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
def analyse_ratings_command(table: Path, covariance: str, alpha: float, as_json: bool) -> None:
    """Analyse a ratings table (CSV: reader,treatment,case,truth,rating) with
    Obuchowski-Rockette and DBM. Needs no database."""
    try:
        result = analyse(read_ratings_csv(table.read_bytes()), covariance=covariance, alpha=alpha)
    except AppError as error:
        for detail in error.details or []:
            where = f"line {detail['row']}: " if detail.get("row") else ""
            click.echo(f"{where}{detail.get('message')}", err=True)
        raise click.ClickException(error.message) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for line in summary(result):
            click.echo(line)


def register(group: click.Group) -> None:
    group.add_command(analyse_ratings_command)
