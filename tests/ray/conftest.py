"""One local Ray for the whole test session, on loopback only, set up as ../shared/RAY.md says (each setting
below was needed on these machines), and a time limit on every Ray test (a starved actor pool hangs silently)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator

import pytest

#: Seconds a Ray test may take before it fails (actor start-up is seconds; a hang is forever).
TEST_TIMEOUT = 300


def _unavailable(reason: str) -> None:
    # CI installs the ray extra (scripts/setup.sh): there, a Ray that cannot start is a failure, not a skip.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Ray cannot start under CI: {reason}")
    pytest.skip(f"Ray cannot start here: {reason}")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    """A local Ray with 2 logical CPUs (the engine's actors ask for fewer: a pool holding every CPU hangs),
    a 512 MB object store, a short temp dir (AF_UNIX paths stop at 107 bytes), no usage stats, no cloud
    metadata probes (a HOME whose ray_bootstrap_config.yaml is ``{}``), every listener on 127.0.0.1."""
    try:
        import ray
    except ImportError as error:
        _unavailable(f"ray is not installed ({error}); pip install -e '.[dev,ray]'")
    home = tempfile.mkdtemp(prefix="rh-")
    temp = tempfile.mkdtemp(prefix="r-", dir="/tmp")
    with open(os.path.join(home, "ray_bootstrap_config.yaml"), "w") as fh:
        fh.write("{}\n")
    saved = {k: os.environ.get(k) for k in ("HOME", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_USAGE_STATS_ENABLED")}
    os.environ.update({"HOME": home, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"})
    try:
        ray.init(
            num_cpus=2,
            num_gpus=0,
            object_store_memory=512 * 1024**2,
            include_dashboard=False,
            log_to_driver=False,
            _temp_dir=temp,
        )
    except Exception as error:  # noqa: BLE001 - any failure to start is reported the same way
        shutil.rmtree(temp, ignore_errors=True)
        _unavailable(f"{type(error).__name__}: {error}")
    finally:
        # Ray's processes have their environment now; the tests get HOME back (the cache fixtures use it).
        for key, value in saved.items():
            if key == "HOME" and value is not None:
                os.environ[key] = value
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def _time_limit() -> Iterator[None]:
    def expire(signum, frame):
        raise TimeoutError(f"a Ray test ran over {TEST_TIMEOUT} s (a starved actor pool waits forever)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
