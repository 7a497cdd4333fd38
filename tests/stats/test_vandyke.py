"""The Van Dyke (1993) study against the figures OR-DBM MRMC 2.51, JAFROC 4.2.1, MRMCaov and
RJafroc publish for it (tests/data/mrmc/), each to its published precision."""

from __future__ import annotations

import pytest

from app.stats.mrmc import dbm_analysis, or_analysis
from tests.stats.vandyke import NOT_COVERED, Published, ours, published, study

CHECKED = [row for row in published() if row.analysis not in NOT_COVERED]


@pytest.fixture(scope="module")
def figures() -> dict[tuple[str, str], float | None]:
    return ours()


def test_the_reference_table_is_complete() -> None:
    rows = published()
    assert len(rows) == 327
    assert len(CHECKED) == 285


@pytest.mark.parametrize(
    "row", CHECKED, ids=[f"{row.source}:{row.analysis}:{row.quantity}" for row in CHECKED]
)
def test_published_figure(row: Published, figures: dict[tuple[str, str], float | None]) -> None:
    key = (row.analysis, row.quantity)
    assert key in figures, f"no figure of ours for {key}"
    value = figures[key]
    assert value is not None
    assert value == pytest.approx(row.value, abs=row.tolerance(), rel=0), (row, value)


def test_headline_figures_at_full_precision() -> None:
    result = or_analysis(study())
    assert result.rrrc.test.statistic == pytest.approx(4.456318693157, abs=1e-11)
    assert result.rrrc.test.df_den == pytest.approx(15.259674589142, abs=1e-11)
    assert result.rrrc.test.p == pytest.approx(0.051665685819, abs=1e-12)
    diff = result.rrrc.differences[0]
    assert (diff.treatment_a, diff.treatment_b) == ("1", "2")
    assert diff.estimate == pytest.approx(-0.043800322061, abs=1e-12)
    assert (diff.ci_lower, diff.ci_upper) == pytest.approx(
        (-0.087959498567, 0.000358854444), abs=1e-12
    )
    assert result.frrc.test.distribution == "chi2"
    assert result.frrc.test.p == pytest.approx(0.019279843071, abs=1e-12)
    assert result.rrfc.test.p == pytest.approx(0.041958752495, abs=1e-12)
    dbm = dbm_analysis(study())
    assert dbm.frrc.test.distribution == "F"
    assert (dbm.frrc.test.df_num, dbm.frrc.test.df_den) == (1, 113)
    assert round(dbm.frrc.test.p or 0, 4) == 0.0210


def test_dbm_rrrc_equals_or_rrrc_with_jackknife_covariances() -> None:
    """Hillis et al. (2005): with unnormalised pseudovalues the two agree exactly."""
    orj, dbm = or_analysis(study()), dbm_analysis(study())
    assert dbm.rrrc.test.statistic == pytest.approx(orj.rrrc.test.statistic, rel=1e-10)
    assert dbm.rrrc.test.df_den == pytest.approx(orj.rrrc.test.df_den, rel=1e-10)
    assert dbm.rrrc.differences[0].se == pytest.approx(orj.rrrc.differences[0].se, rel=1e-10)
    for ours_, theirs in zip(dbm.rrrc.treatments, orj.rrrc.treatments, strict=True):
        assert ours_.se == pytest.approx(theirs.se, rel=1e-10)
        assert ours_.df == pytest.approx(theirs.df, rel=1e-10)
    assert dbm.components.var_r == pytest.approx(orj.components.var_r, rel=1e-10)
    assert dbm.components.var_tr == pytest.approx(orj.components.var_tr, rel=1e-10)


@pytest.mark.parametrize("method", ["jackknife", "delong", "unbiased"])
def test_single_treatment_analysis_is_the_treatment_alone(method: str) -> None:
    """One treatment's figures from the full study are those of that treatment alone
    (published: treatment 1 SE 0.03317360, df 12.74, CI 0.82522360-0.96885048)."""
    full = or_analysis(study(), covariance_method=method)  # type: ignore[arg-type]
    for i, name in enumerate(study().treatments):
        alone = or_analysis(study().subset(treatments=[name]), covariance_method=method)  # type: ignore[arg-type]
        assert alone.rrrc.test.statistic is None
        assert alone.rrrc.test.reason is not None
        assert "one treatment" in alone.rrrc.test.reason
        assert alone.rrrc.differences == ()
        for design in ("rrrc", "frrc", "rrfc"):
            mine = getattr(alone, design).treatments[0]
            theirs = getattr(full, design).treatments[i]
            assert mine.estimate == pytest.approx(theirs.estimate, abs=1e-15)
            assert mine.se == pytest.approx(theirs.se, rel=1e-12)
            assert mine.ci_lower == pytest.approx(theirs.ci_lower, rel=1e-12)
        assert [f.auc for f in alone.reader_figures] == [
            f.auc for f in full.reader_figures if f.treatment == name
        ]
    one = or_analysis(study().subset(treatments=["1"]))
    estimate = one.rrrc.treatments[0]
    if method == "jackknife":
        assert (estimate.se, estimate.df) == pytest.approx((0.03317360, 12.74), abs=5e-3)
        assert round(estimate.ci_lower or 0, 8) == 0.82522360
        assert round(estimate.ci_upper or 0, 8) == 0.96885048


def test_results_are_plain_json() -> None:
    import json

    for result in (or_analysis(study()), dbm_analysis(study())):
        text = json.dumps(result.to_dict(), allow_nan=False)
        assert "NaN" not in text
    body = or_analysis(study()).to_dict()
    assert body["rrrc"]["test"]["distribution"] == "F"
    assert body["reader_figures"][0] == {
        "treatment": "1",
        "reader": "1",
        "auc": pytest.approx(0.91964573, abs=5e-9),
        "se": pytest.approx(0.0301255164, abs=5e-11),
        "ci_lower": pytest.approx(0.91964573 - 1.959963984540054 * 0.0301255164, abs=1e-8),
        "ci_upper": pytest.approx(0.91964573 + 1.959963984540054 * 0.0301255164, abs=1e-8),
    }
