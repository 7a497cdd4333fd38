"""The ratings-analysis page (issue 12): an admin uploads a ratings table and reads the
published Van Dyke figures on the page; a refused table lists every problem by its line (422);
readers are refused; the forest plot's coordinates are checked directly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.stats.mrmc.results import ReaderFigure, TreatmentEstimate
from app.studies.analysis import analyse
from app.studies.forest_plot import LABEL_WIDTH, WIDTH, domain, forest_plot
from app.studies.pages import confidence_alpha
from app.studies.ratings_table import read_ratings_csv
from tests.helpers import login

VANDYKE = Path(__file__).resolve().parents[1] / "data" / "mrmc" / "vandyke.csv"
URL = "/studies/ratings-analysis"


def upload(client, csrf: str, data: bytes, **form: str):
    return client.post(
        URL,
        files={"ratings": ("vandyke.csv", data, "text/csv")},
        data={"csrf_token": csrf, **form},
    )


def test_the_page_shows_the_published_van_dyke_figures(client, admin) -> None:
    csrf = login(client, "admin")
    form = client.get(URL)
    assert form.status_code == 200
    assert 'name="csrf_token"' in form.text
    assert 'name="ratings"' in form.text
    assert 'href="/studies/ratings-analysis"' in client.get("/exports").text
    page = upload(client, csrf, VANDYKE.read_bytes())
    assert page.status_code == 200, page.text
    html = page.text
    # the shape, the reader-averaged AUCs (OR-DBM MRMC 2.51: 0.8970 (0.8252, 0.9689), df 12.74)
    assert "114" in html
    assert "45 diseased, 69 not" in html
    assert "0.8970" in html
    assert "0.8252 to 0.9689" in html
    assert "12.74" in html
    # OR RRRC: F(1, 15.26) = 4.4563, p = 0.0517; the difference -0.0438 (-0.0880, 0.0004)
    assert "F(1, 15.26) = 4.4563" in html
    assert "0.0517" in html
    assert "-0.0438" in html
    assert "-0.0880 to 0.0004" in html
    assert 'id="dbm-tests"' in html
    assert 'id="or-tests"' in html
    assert '<details id="variance-components">' in html
    # one circle per reader and treatment, one diamond per treatment
    svg = html[html.index('<svg id="forest-plot"') : html.index("</svg>")]
    assert svg.count("<circle") == 10
    assert svg.count('<polygon class="mark"') == 2
    # the figures whose Wald interval passes 1 get an arrow at the axis' end
    result = analyse(read_ratings_csv(VANDYKE.read_bytes())).obuchowski_rockette
    past = [f for f in result.reader_figures if f.ci_upper > 1]
    past += [t for t in result.rrrc.treatments if t.ci_upper > 1]
    assert svg.count('<polygon class="clip"') == len(past) > 0


def test_delong_and_the_confidence_level_are_used(client, admin) -> None:
    csrf = login(client, "admin")
    page = upload(client, csrf, VANDYKE.read_bytes(), covariance="delong", confidence="90")
    assert page.status_code == 200, page.text
    assert "F(1, 15.07) = 4.4849" in page.text  # MRMCaov's DeLong figures
    assert "90% CI" in page.text
    assert "95% CI" not in page.text


def test_a_refused_table_lists_every_problem_by_line(client, admin) -> None:
    csrf = login(client, "admin")
    rows = VANDYKE.read_text().splitlines()
    rows[3] = rows[3].rsplit(",", 1)[0] + ",high"  # line 4
    del rows[10]
    rows.append(rows[1])
    page = upload(client, csrf, "\n".join(rows).encode())
    assert page.status_code == 422
    assert 'id="ratings-problems"' in page.text
    assert "line 4" in page.text
    assert "no rating" in page.text
    listed = re.search(r'id="ratings-problems".*?<tbody>(.*?)</tbody>', page.text, re.S).group(1)
    assert listed.count("<tr>") >= 3
    assert 'id="forest-plot"' not in page.text  # nothing computed


@pytest.mark.parametrize(
    ("form", "says"),
    [({"confidence": "100"}, "percentage"), ({"covariance": "bootstrap"}, "Choose one of")],
)
def test_bad_options_are_named(client, admin, form, says) -> None:
    csrf = login(client, "admin")
    page = upload(client, csrf, VANDYKE.read_bytes(), **form)
    assert page.status_code == 422
    assert says in page.text


def test_readers_are_refused_and_csrf_is_required(client, admin, reader) -> None:
    csrf = login(client, "reader1")
    assert client.get(URL).status_code == 403
    assert upload(client, csrf, VANDYKE.read_bytes()).status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "admin")
    assert upload(client, "wrong", VANDYKE.read_bytes()).status_code == 403


def test_confidence_alpha() -> None:
    assert confidence_alpha("95") == pytest.approx(0.05)
    for bad in ("0", "100", "x", "nan"):
        with pytest.raises(Exception, match="percentage"):
            confidence_alpha(bad)


def _figure(treatment: str, reader: str, auc: float, half: float | None) -> ReaderFigure:
    lo, hi = (None, None) if half is None else (auc - half, auc + half)
    return ReaderFigure(treatment, reader, auc, half, lo, hi)


def _average(treatment: str, auc: float, half: float) -> TreatmentEstimate:
    return TreatmentEstimate(treatment, auc, half / 2, "t", 10.0, auc - half, auc + half)


def test_the_forest_plot_places_every_figure_inside_the_plot() -> None:
    readers = [
        _figure("A", "1", 0.9, 0.12),
        _figure("A", "2", 0.7, None),
        _figure("B", "1", 0.95, 0.1),
        _figure("B", "2", 0.8, 0.05),
    ]
    plot = forest_plot(readers, [_average("A", 0.8, 0.1), _average("B", 0.875, 0.08)])
    assert [row.label for row in plot.rows] == [
        "A · reader 1",
        "A · reader 2",
        "A · average",
        "B · reader 1",
        "B · reader 2",
        "B · average",
    ]
    assert [row.average for row in plot.rows] == [False, False, True, False, False, True]
    assert plot.rows[1].x_lower is None
    assert plot.rows[1].x_upper is None
    # the axis ends at 1 (an AUC's top): B reader 1's interval, ending at 1.05 and at 1.02
    # for A reader 1, is drawn clipped at the axis' end, with an arrow saying it goes on
    assert plot.ticks[0].value == 0.5
    assert plot.ticks[-1].value == 1.0
    assert [(row.clipped_lower, row.clipped_upper) for row in plot.rows] == [
        (False, True),
        (False, False),
        (False, False),
        (False, True),
        (False, False),
        (False, False),
    ]
    assert plot.rows[3].x_upper == plot.plot_right
    assert plot.ticks[0].x == LABEL_WIDTH
    assert plot.ticks[-1].x == plot.plot_right
    for row in plot.rows:
        for x in (row.x, row.x_lower, row.x_upper):
            assert x is None or plot.plot_left <= x <= plot.plot_right <= WIDTH
        assert row.y < plot.axis_y < plot.height
    ys = [row.y for row in plot.rows]
    assert ys == sorted(ys)
    assert len(set(ys)) == len(ys)
    # positions are linear in the AUC
    a1, b2 = plot.rows[0], plot.rows[4]
    scale = (plot.plot_right - plot.plot_left) / 0.5
    assert b2.x - a1.x == pytest.approx((0.8 - 0.9) * scale, abs=0.02)


def test_the_domain_always_spans_chance_to_perfect() -> None:
    assert domain([]) == (0.5, 1.0)
    assert domain([0.62, 0.97]) == (0.5, 1.0)
    assert domain([0.31, 1.04]) == (0.3, 1.0)  # an interval past 1 is clipped
    assert domain([0.4, float("nan")]) == (0.4, 1.0)
    assert domain([-0.7, 1.7]) == (0.0, 1.0)  # a tiny study's Wald interval
