"""Worker Versioning: which Worker Deployment this worker belongs to and which build it is.

A workflow change ships as a new build: its build id is the package version plus a short hash of
the workflow code (`workflows/`), so any change there — and only there — makes a new build. Cases
are pinned to the build that started them; `recovery deploy promote BUILD` routes new cases to a
build and `recovery deploy drain BUILD` moves the open ones (recovery/deployments.py).

Read from the environment like the task queue (recovery/client.py):

* `RECOVERY_DEPLOYMENT_NAME` — the Worker Deployment (default `recovery`);
* `RECOVERY_BUILD_ID` — overrides the computed build id (e.g. a CI-assigned one).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import tomllib
from pathlib import Path

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

DEFAULT_DEPLOYMENT_NAME = "recovery"
DISTRIBUTION = "service-recovery"
HASH_LENGTH = 10
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def deployment_name() -> str:
    return os.environ.get("RECOVERY_DEPLOYMENT_NAME", DEFAULT_DEPLOYMENT_NAME)


def package_version() -> str:
    """The installed distribution's version, else the one in the source tree's pyproject.toml."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = tomllib.loads(_PYPROJECT.read_text())["project"]["version"]
        assert isinstance(version, str)
        return version


def workflows_dir() -> Path:
    """The `workflows` package's directory, found without importing it."""
    spec = importlib.util.find_spec("workflows")
    assert spec is not None and spec.submodule_search_locations, "the workflows package is not importable"
    return Path(next(iter(spec.submodule_search_locations)))


def workflows_hash(root: Path | None = None) -> str:
    """A short hash of the workflow code: every *.py and *.toml under `root`, by sorted relative
    path, path and bytes both hashed (a rename or a move changes it too)."""
    root = root or workflows_dir()
    digest = hashlib.sha256()
    files = [p for p in root.rglob("*") if p.suffix in (".py", ".toml") and p.is_file()]
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        relative = path.relative_to(root).as_posix().encode()
        content = path.read_bytes()
        digest.update(len(relative).to_bytes(4, "big") + relative)
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()[:HASH_LENGTH]


def build_id(root: Path | None = None) -> str:
    """`RECOVERY_BUILD_ID`, else `<package version>+<hash of the workflow code>`, e.g. 1.0.0+3f2a9c1b0d."""
    override = os.environ.get("RECOVERY_BUILD_ID")
    if override:
        return override
    return f"{package_version()}+{workflows_hash(root)}"


def deployment_version() -> WorkerDeploymentVersion:
    return WorkerDeploymentVersion(deployment_name=deployment_name(), build_id=build_id())


def deployment_config(versioned: bool) -> WorkerDeploymentConfig | None:
    """The worker's deployment options; None for an unversioned worker (the time-skipping test
    server knows no deployments). A workflow whose `@workflow.defn` declares no versioning
    behavior is PINNED (without a default the SDK refuses to start a versioned worker for it)."""
    if not versioned:
        return None
    return WorkerDeploymentConfig(
        version=deployment_version(),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )
