"""The reading agreement report through the API and its page, on a double-read project: the
figures against scikit-learn on the same reads."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from tests.export.exported_project import READING, Project, project  # noqa: F401 (fixture)
from tests.helpers import login


def test_agreement_report_matches_scikit_learn(client, project: Project) -> None:  # noqa: F811
    report = client.get(f"{READING}/projects/{project.id}/agreement", headers=project.admin).json()
    assert report["double_read"] == 3
    assert report["arbitrated"] == 0  # the third study waits for its arbiter
    birads = next(i for i in report["items"] if i["item"] == "breast BI-RADS")
    # per breast (R, L) over the three studies: reader 1 vs reader 2
    first, second = [1, 1, 4, 1, 4, 1], [1, 1, 4, 1, 1, 1]
    assert birads["pairs"] == 6
    assert birads["percent_agreement"] == pytest.approx(5 / 6, abs=1e-4)
    expected = cohen_kappa_score(first, second, labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert birads["kappa"] == pytest.approx(expected, abs=1e-4)
    lesions = report["lesions"]
    assert (lesions["matched"], lesions["only_reader_1"], lesions["only_reader_2"]) == (1, 1, 0)
    assert lesions["f1"] == pytest.approx(2 / 3, abs=1e-4)
    names = {r["username"] for r in report["readers"]}
    assert names == {"rd1", "rd2"}
    login(client, "admin")
    page = client.get(f"/projects/{project.id}/agreement")
    assert page.status_code == 200
    assert "Gwet" in page.text
    assert "rd1" in page.text


def test_agreement_intervals_and_ac2(client, project: Project) -> None:  # noqa: F811
    url = f"{READING}/projects/{project.id}/agreement"
    report = client.get(url, headers=project.admin).json()
    assert report == client.get(url, headers=project.admin).json()  # the same seed, the same
    bootstrap = report["bootstrap"]
    assert bootstrap == {
        "method": "percentile",
        "unit": "study",
        "studies": 3,
        "replicates": 2000,
        "seed": bootstrap["seed"],
        "confidence": 0.95,
    }
    birads, density = report["items"]
    for item in (birads, density):
        for name in ("kappa", "gwet_ac1", "gwet_ac2"):
            interval = item[f"{name}_ci"]
            assert (interval["replicates"], interval["seed"]) == (2000, bootstrap["seed"])
            assert interval["confidence"] == 0.95
            if item[name] is not None and interval["lower"] is not None:
                assert interval["lower"] <= item[name] <= interval["upper"]
    # BI-RADS per breast over the three studies (no 0): (1, 1) x 4, (4, 4), (4, 1). On the
    # scale 1, 2, 3, 0, 4, 5 (q = 6) 1 and 4 sit at positions 0 and 4: the (4, 1) pair weighs
    # 1 - 16/25; p_a = (5 + 9/25) / 6. Shares: 1 -> 9/12, 4 -> 3/12, so sum pi (1 - pi) =
    # 2 * 27/144. T_w = 36 - 2 * (5*1 + 4*4 + 3*9 + 2*16 + 1*25) / 25 = 36 - 8.4.
    p_a = (5 + 9 / 25) / 6
    p_e = (36 - 8.4) / (6 * 5) * (2 * 27 / 144)
    assert birads["gwet_ac2"] == pytest.approx((p_a - p_e) / (1 - p_e), abs=1e-4)
    assert birads["gwet_ac2_categories"] == [1, 2, 3, 0, 4, 5]
    assert (birads["gwet_ac2_weights"], birads["gwet_ac2_pairs"]) == ("quadratic", 6)
    # density B throughout: kappa undefined on every resample, AC1 and AC2 1 on every one
    assert density["kappa"] is None
    assert density["kappa_ci"]["lower"] is None
    assert density["kappa_ci"]["used"] == 0
    assert "2000 of 2000 resamples" in density["kappa_ci"]["reason"]
    assert density["gwet_ac2"] == 1
    assert (density["gwet_ac2_ci"]["lower"], density["gwet_ac2_ci"]["upper"]) == (1, 1)
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert {"lower", "upper", "confidence", "replicates", "seed", "reason"} <= set(
        schemas["IntervalOut"]["properties"]
    )
    ac2 = schemas["ItemAgreementOut"]["properties"]["gwet_ac2"]
    assert "quadratic weights" in ac2["description"]
    login(client, "admin")
    page = client.get(f"/projects/{project.id}/agreement").text
    assert "Gwet&#39;s AC2 (quadratic)" in page or "Gwet's AC2 (quadratic)" in page
    assert f"2000 replicates, seed {bootstrap['seed']}" in page
    assert "bootstrap over the 3 double-read studies" in page
    density_row = page[page.index("<td>breast density</td>") :].split("</tr>")[0]
    assert "<td>n/a</td>" in density_row  # kappa
    assert '1.00 <span class="interval">(1.00&ndash;1.00)</span>' in density_row  # AC1, AC2
