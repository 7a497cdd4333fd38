"""The MRMC analysis of an uploaded ratings table (issue 12): the API and the CLI read the long
layout, refuse a table that is not fully crossed naming each line, and give the published Van
Dyke figures (OR-DBM MRMC 2.51 and MRMCaov 0.3.0; tests/data/mrmc/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.studies.ratings_table import read_ratings_csv
from tests.helpers import assert_error, bearer

VANDYKE = Path(__file__).resolve().parents[1] / "data" / "mrmc" / "vandyke.csv"
URL = "/api/v1/studies/ratings-analysis"


def post(client, headers, data: bytes, **form: str):
    return client.post(
        URL, files={"ratings": ("r.csv", data, "text/csv")}, data=form, headers=headers
    )


def test_the_api_gives_the_published_van_dyke_figures(client, admin) -> None:
    response = post(client, bearer(client, "admin"), VANDYKE.read_bytes())
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["study"] == {
        "treatments": ["1", "2"],
        "readers": ["1", "2", "3", "4", "5"],
        "cases": 114,
        "diseased": 45,
        "non_diseased": 69,
        "ratings": 1140,
    }
    rrrc = result["obuchowski_rockette"]["rrrc"]
    assert rrrc["test"]["statistic"] == pytest.approx(4.456318693157, abs=1e-9)
    assert rrrc["test"]["df_den"] == pytest.approx(15.259674589142, abs=1e-9)
    assert rrrc["test"]["p"] == pytest.approx(0.051665685819, abs=1e-9)
    (difference,) = rrrc["differences"]
    assert difference["estimate"] == pytest.approx(-0.043800322061, abs=1e-12)
    assert difference["ci_lower"] == pytest.approx(-0.087959498567, abs=1e-9)
    assert difference["ci_upper"] == pytest.approx(0.000358854444, abs=1e-9)
    # DBM's RRRC is the same test (Hillis et al. 2005)
    assert result["dbm"]["rrrc"]["test"]["statistic"] == pytest.approx(4.456318693157, abs=1e-9)
    # DeLong covariance as MRMCaov prints it
    delong = post(client, bearer(client, "admin"), VANDYKE.read_bytes(), covariance="delong")
    test = delong.json()["obuchowski_rockette"]["rrrc"]["test"]
    assert (round(test["statistic"], 6), round(test["df_den"], 5)) == (4.484854, 15.06611)
    # the operation is documented with its result's shape
    schema = client.get("/api/v1/openapi.json").json()
    answer = schema["paths"][URL]["post"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].endswith("/RatingsAnalysis")


def test_every_problem_is_named_by_its_line_and_nothing_is_computed(client, admin) -> None:
    rows = VANDYKE.read_text().splitlines()
    rows[3] = rows[3].rsplit(",", 1)[0] + ",high"  # line 4: a rating that is not a number
    del rows[10]  # a cell left without its rating
    rows.append(rows[1])  # line 1140: a repeated cell
    response = post(client, bearer(client, "admin"), "\n".join(rows).encode())
    error = assert_error(response, 422, "invalid_ratings")
    messages = {(d["row"], d["field"]): d["message"] for d in error["details"]}
    assert 4 in {row for row, _ in messages}
    assert any("no rating" in m for m in messages.values())
    assert len(error["details"]) >= 3


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"reader,case,truth,rating\n1,1,0,1\n", "lacks treatment"),
        (b"reader,treatment,case,truth,rating\n", "no rows"),
        ("reader,treatment,case,truth,rating\n1,1,1,0,\xff\n".encode("latin-1"), "UTF-8"),
    ],
)
def test_a_table_that_cannot_be_read_is_refused_clearly(client, admin, data, says) -> None:
    response = post(client, bearer(client, "admin"), data)
    assert response.status_code == 422
    assert says in response.json()["error"]["message"]


def test_only_admins_analyse(client, accounts, admin) -> None:
    accounts.add("rd1")
    response = post(client, bearer(client, "rd1"), VANDYKE.read_bytes())
    assert_error(response, 403)


def test_modality_is_taken_for_treatment() -> None:
    text = VANDYKE.read_text().replace("reader,treatment,", "Reader,Modality,", 1)
    study = read_ratings_csv(text.encode())
    assert study.treatments == ("1", "2")


def test_the_cli_prints_the_figures_and_json(tmp_path) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["analyse-ratings", str(VANDYKE)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "OR RRRC: F(1, 15.26) = 4.4563, p = 0.0517" in done.output
    assert "AUC 1: 0.8970 (0.8252 to 0.9689; df 12.74)" in done.output
    as_json = runner.invoke(main, ["analyse-ratings", str(VANDYKE), "--json"])
    assert json.loads(as_json.output)["dbm"]["cases"] == 114
    bad = tmp_path / "bad.csv"
    bad.write_text("reader,treatment,case,truth,rating\n1,1,1,2,3\n")
    refused = runner.invoke(main, ["analyse-ratings", str(bad)])
    assert refused.exit_code != 0
    assert "line 2:" in refused.output
