"""Masking labels out in the CSAW-M layout, and the comparison log."""

from __future__ import annotations

import io
import zipfile

import pandas as pd

from tests.helpers import finished_export
from tests.masking.simulation import ConsistentReader, NoisyReader
from tests.masking.test_masking_api import (
    by_value,
    create,
    hidden,
    level_project,
    people,  # noqa: F401 - fixture
    sort_through_api,
)


def exported(client, headers, project_id: int, fmt: str) -> zipfile.ZipFile:
    job = finished_export(
        client, headers, project_kind="masking", project_id=project_id, format=fmt
    )
    return zipfile.ZipFile(io.BytesIO(client.get(job["download"], headers=headers).content))


def test_level_labels_in_the_csaw_layout(client, people, masking_images):  # noqa: F811
    readers = [people.ids[name] for name in ("rda", "rdb", "rdc")]
    values, _, project = level_project(client, people, masking_images, seed=13, reader_ids=readers)
    for name, reader in (
        ("rda", ConsistentReader(values)),
        ("rdb", NoisyReader(values, sigma=0.1, seed=2)),
        ("rdc", NoisyReader(values, sigma=0.1, seed=3)),
    ):
        sort_through_api(client, project["id"], people.readers[name], reader)
    zipped = exported(client, people.admin, project["id"], "csaw")
    labels = pd.read_csv(zipped.open("masking_labels.csv"), sep=";")
    assert list(labels.columns) == [
        "Filename",
        "Label",
        "Expert_1",
        "Expert_2",
        "Expert_3",
        "Dicom_image_laterality",
        "Dicom_window_center",
        "Dicom_window_width",
        "Dicom_photometric_interpretation",
    ]
    assert len(labels) == 16  # the images to place; the seeds are references
    for _, row in labels.iterrows():
        experts = sorted([row["Expert_1"], row["Expert_2"], row["Expert_3"]])
        assert row["Label"] == experts[1]  # the median of three
        assert row["Filename"].startswith("images/")
        assert row["Filename"].endswith(".dicom")
    assert set(labels["Dicom_photometric_interpretation"]) <= {"MONOCHROME1", "MONOCHROME2"}
    log = pd.read_csv(zipped.open("comparisons.csv"), sep=";")
    assert set(log["expert"]) == {"Expert_1", "Expert_2", "Expert_3"}
    assert set(log["rule"]) == {"exact"}
    assert (log["response_ms"] >= 0).all()


def test_full_sort_ranks_per_expert(client, people, masking_images):  # noqa: F811
    values = hidden(masking_images, seed=14)
    ordered = by_value(values, masking_images.ids)
    project = create(
        client, people, image_ids=masking_images.ids, seed_list=ordered[:2], probe_share=0
    )
    sort_through_api(client, project["id"], people.readers["rda"], ConsistentReader(values))
    labels = pd.read_csv(
        exported(client, people.admin, project["id"], "csaw").open("masking_labels.csv"), sep=";"
    )
    ranks = dict(
        zip(labels["Filename"].str.split("/").str[-1].str[:-6], labels["Expert_1"], strict=True)
    )
    assert all(ranks[image] == ordered.index(image) + 1 for image in ranks)
