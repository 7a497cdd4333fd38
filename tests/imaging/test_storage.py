"""The local store: atomic writes, keys that cannot escape, arrays round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.imaging.storage import CHUNK, LocalStore, array_bytes, level_key, load_array


def test_round_trip_and_memory_map(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    levels = [np.arange(12, dtype=np.uint16).reshape(3, 4)]
    key = level_key("s" * 32, "i" * 32, 0)
    store.put(key, array_bytes(levels[0]))
    loaded = load_array(store, key)
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, levels[0])
    assert [p.name for p in (tmp_path / "pyramid" / ("s" * 32) / ("i" * 32)).iterdir()] == ["0.npy"]
    store.delete(key)
    assert not store.exists(key)


@pytest.mark.parametrize("key", ["../escape.npy", "/etc/passwd", "images/../../x"])
def test_keys_cannot_escape(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="escapes"):
        LocalStore(tmp_path / "root").put(key, b"x")


def test_a_file_is_stored_and_streamed_in_chunks(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    source = tmp_path / "big.zip"
    source.write_bytes(b"x" * (CHUNK + 10))
    store.put_file("exports/1/big.zip", source)
    size, chunks = store.stream("exports/1/big.zip")
    parts = list(chunks)
    assert size == CHUNK + 10
    assert [len(p) for p in parts] == [CHUNK, 10]
    assert (tmp_path / "store/exports/1/big.zip").stat().st_mode & 0o777 == 0o600
    in_place = store.local_path("exports/1/big.zip")
    store.put_file("exports/1/big.zip", in_place)  # already there: left as it is
    assert in_place.read_bytes() == source.read_bytes()
    with pytest.raises(FileNotFoundError):
        store.stream("exports/2/none.zip")
