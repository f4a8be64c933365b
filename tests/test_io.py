"""actlab._io.atomic_write: whole file or the old one, ordinary permissions, no temp file left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from actlab._io import atomic_write


def test_writes_bytes_or_through_a_writer_and_creates_parents(tmp_path: Path) -> None:
    p = atomic_write(tmp_path / "a" / "b.bin", b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    atomic_write(p, lambda fh: fh.write(b"new"))
    assert p.read_bytes() == b"new" and os.listdir(p.parent) == ["b.bin"]


def test_permissions_follow_the_umask_not_mkstemp(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        p = atomic_write(tmp_path / "r.html", b"<p>")
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644


def test_a_failing_writer_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    p = atomic_write(tmp_path / "keep.json", b"{}")

    def broken(fh: object) -> None:
        fh.write(b"{half")  # type: ignore[attr-defined]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(p, broken)
    assert p.read_bytes() == b"{}" and os.listdir(tmp_path) == ["keep.json"]
