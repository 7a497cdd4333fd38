"""Women, not just studies: the longitudinal option's keys and shifted dates, as a rule and
through the import (two women with two exams each, and files pseudonymised already)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pydicom
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app.imaging.kit import ImagingKit
from app.imaging.longitudinal import (
    MAX_SHIFT_DAYS,
    MIN_SHIFT_DAYS,
    Longitudinal,
    as_dicom_date,
    dicom_date,
    months_between,
)
from app.imaging.models import Study
from app.imaging.pseudonymise import keyed_id
from tests.helpers import bearer, login
from tests.imaging.helpers import WOMEN_EXAMS, dataset_bytes, upload, women_files

RULE = Longitudinal(b"k" * 32)
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31))
ids = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64)


@given(ids, st.text(max_size=20), days, days)
def test_a_womans_intervals_survive_and_her_dates_move(patient_id, issuer, first, second) -> None:
    key = RULE.patient_key(patient_id, issuer)
    a = RULE.woman(patient_id, issuer, as_dicom_date(first))
    b = RULE.woman(patient_id, issuer, as_dicom_date(second))
    assert a.patient_key == b.patient_key == key
    assert b.study_date - a.study_date == second - first  # the interval, to the day
    shift = (first - a.study_date).days
    assert MIN_SHIFT_DAYS <= shift <= MAX_SHIFT_DAYS


@given(ids, ids)
def test_keys_differ_by_woman_and_issuer_and_from_uid_ids(one, other) -> None:
    if one.strip() != other.strip():
        assert RULE.patient_key(one) != RULE.patient_key(other)
    assert RULE.patient_key(one, "HOSPITAL A") != RULE.patient_key(one, "HOSPITAL B")
    assert RULE.patient_key(one) != keyed_id(one, RULE.key)  # domain separated
    assert Longitudinal(b"other key").patient_key(one) != RULE.patient_key(one)


def test_offsets_spread_over_the_whole_range() -> None:
    shifts = [RULE.shift_days(RULE.patient_key(f"MRN{n}")) for n in range(2000)]
    assert min(shifts) < MIN_SHIFT_DAYS + 60
    assert max(shifts) > MAX_SHIFT_DAYS - 60
    assert len(set(shifts)) > 1000


def test_what_the_file_lacks_or_carries() -> None:
    assert RULE.woman(None, None, "20200101").patient_key is None
    assert RULE.woman("", None, "20200101").study_date is None  # no woman, no offset, no date
    assert RULE.woman("MRN1", None, "2020").study_date is None  # not a date
    assert RULE.woman("MRN1", None, "20200230").study_date is None
    key = "0123456789abcdef0123456789abcdef"
    carried = RULE.woman(key, None, "20150101", ours=True, modified=True)
    assert (carried.patient_key, carried.study_date, carried.carried) == (
        key,
        date(2015, 1, 1),
        True,
    )
    # a hospital's 32-hex record number is hashed like any other
    assert RULE.woman(key, None, "20150101").patient_key != key


def test_months_between() -> None:
    assert months_between(date(2018, 3, 12), date(2020, 4, 1)) == 24
    assert months_between(date(2018, 3, 12), date(2020, 3, 12)) == 24
    assert months_between(date(2020, 1, 31), date(2020, 2, 29)) == 0
    assert months_between(date(2020, 1, 1), date(2020, 1, 1)) == 0
    assert dicom_date(as_dicom_date(date(2001, 2, 3))) == date(2001, 2, 3)


def stored(app, outcome) -> pydicom.Dataset:
    key = f"images/{outcome['study_id']}/{outcome['image_id']}.dcm"
    return pydicom.dcmread(io.BytesIO(app.state.imaging.store.get(key)))


def test_two_women_with_two_exams_each(app, client, db, settings, admin) -> None:
    headers = bearer(client, "admin")
    exams = women_files(910)
    bodies = [upload(client, files, headers).json() for files in exams]
    assert [b["imported"] for b in bodies] == [4, 4, 4, 4]
    studies = [
        db.scalar(select(Study).where(Study.study_id == b["outcomes"][0]["study_id"]))
        for b in bodies
    ]
    keys = [s.patient_key for s in studies]
    assert keys[0] == keys[1] != keys[2] == keys[3]
    key_file = (settings.data_dir / "pseudonym_key").read_text().strip().encode()
    assert keys[0] == Longitudinal(key_file).patient_key("MRN-A-1001")
    for (first, second), (a, b) in (
        ((0, 1), (studies[0], studies[1])),
        ((2, 3), (studies[2], studies[3])),
    ):
        real = dicom_date(WOMEN_EXAMS[second][1]) - dicom_date(WOMEN_EXAMS[first][1])
        assert b.study_date - a.study_date == real
        assert a.study_date < dicom_date(WOMEN_EXAMS[first][1]) - timedelta(days=364)
    assert [s.patient_age for s in studies] == [age for _, _, age in WOMEN_EXAMS]
    ds = stored(app, bodies[1]["outcomes"][2])
    assert ds.PatientID == keys[1]
    assert ds.StudyDate == as_dicom_date(studies[1].study_date)


def test_a_pseudonymised_file_keeps_its_key_and_date(app, client, db, settings, admin) -> None:
    """A file MammoRead wrote (an export) imported into an installation with another key keeps
    the woman's key and shifted date it carries: not hashed or shifted twice."""
    headers = bearer(client, "admin")
    body = upload(client, women_files(920)[0], headers).json()
    files = [(f"{n}.dcm", dataset_bytes(stored(app, o))) for n, o in enumerate(body["outcomes"])]
    first = db.scalar(select(Study).where(Study.study_id == body["outcomes"][0]["study_id"]))
    key, day = first.patient_key, first.study_date
    app.state.imaging = ImagingKit.from_settings(
        settings.model_copy(update={"pseudonym_key": "another key"})
    )
    # the same files are already present; a copy under new UIDs (as another site's export)
    # shows what a new import of such a file does
    copies = []
    for name, data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            uid = str(getattr(ds, keyword))
            setattr(ds, keyword, uid[:-1] + ("7" if uid[-1] != "7" else "3"))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        copies.append((name, dataset_bytes(ds)))
    again = upload(client, copies, headers).json()
    assert again["imported"] == 4, again
    copy = db.scalar(select(Study).where(Study.study_id == again["outcomes"][0]["study_id"]))
    assert (copy.patient_key, copy.study_date) == (key, day)


def test_the_option_off_keeps_no_id_and_no_date(app, client, db, settings, admin) -> None:
    app.state.imaging = ImagingKit.from_settings(
        settings.model_copy(update={"longitudinal": False})
    )
    body = upload(client, women_files(930)[0], bearer(client, "admin")).json()
    ds = stored(app, body["outcomes"][0])
    assert "PatientID" not in ds
    assert "StudyDate" not in ds
    assert "LongitudinalTemporalInformationModified" not in ds
    study = db.scalar(select(Study).where(Study.study_id == body["outcomes"][0]["study_id"]))
    assert (study.patient_key, study.study_date) == (None, None)


def test_the_study_list_counts_women_and_filters_one(client, db, admin) -> None:
    headers = bearer(client, "admin")
    for files in women_files(935):
        upload(client, files, headers)
    page = client.get("/api/v1/studies", headers=headers).json()
    assert (page["total"], page["women"]) == (4, 2)
    first = page["items"][0]
    assert first["woman_studies"] == 2
    assert first["study_date"] is not None
    hers = client.get(f"/api/v1/studies?patient={first['patient_key']}", headers=headers).json()
    assert (hers["total"], hers["women"]) == (2, 1)
    assert {s["patient_key"] for s in hers["items"]} == {first["patient_key"]}
    by_prefix = client.get(f"/api/v1/studies?q={first['patient_key'][:10]}", headers=headers)
    assert by_prefix.json()["total"] == 2
    login(client, "admin")
    html = client.get(f"/studies?patient={first['patient_key']}").text
    assert "2 studies of 1 woman" in html
    assert "4 studies of 2 women" in client.get("/studies").text
