"""How long the wheel takes to install into a fresh venv: as ops do it, and as the test does.

Baseline (ops, docs/deploy.md): `python -m venv` with pip, then `pip install WHEEL`, which
resolves every dependency against the package indexes and byte-compiles what it installs.
Measured: `tests/test_install.py`'s way, a venv without pip and the dev venv's pip run
against it (`pip --python`), `--no-compile`, dependencies from the wheelhouse the test keeps
(wheels downloaded from the registry once per set of requirements). Both install the same
wheel and the same dependencies; the ratio is the figure.

    .venv/bin/python bench/bench_install.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_install import build_wheel, fresh_venv, wheelhouse


def as_ops(directory: Path, wheel: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    subprocess.run([str(directory / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                   check=True, capture_output=True)


def timed(step: object, *args: object) -> float:
    started = time.monotonic()
    step(*args)  # type: ignore[operator]
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        build = timed(build_wheel, root / "dist")
        (wheel,) = (root / "dist").glob("*.whl")
        fill = timed(wheelhouse, wheel)
        ops, test = [], []
        for n in range(repeat):
            ops.append(timed(as_ops, root / f"ops{n}", wheel))
            test.append(timed(fresh_venv, root / f"test{n}", wheel))
    print(f"build the wheel {build:.1f} s; wheelhouse ready in {fill:.1f} s")
    print(f"as ops (venv with pip, resolve, compile): {statistics.median(ops):.1f} s "
          f"(runs: {', '.join(f'{t:.1f}' for t in ops)})")
    print(f"as the test (no pip in venv, wheelhouse, no compile): {statistics.median(test):.1f} s "
          f"(runs: {', '.join(f'{t:.1f}' for t in test)})")
    print(f"ratio: {statistics.median(ops) / statistics.median(test):.1f}x faster")


if __name__ == "__main__":
    main()
