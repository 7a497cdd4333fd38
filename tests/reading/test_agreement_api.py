"""The reading agreement report through the API and its page, on a double-read project: the
figures against scikit-learn on the same reads."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from tests.export.test_export_api import READING, Project, project  # noqa: F401 (fixture)
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
