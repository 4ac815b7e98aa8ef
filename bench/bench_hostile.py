"""Per-message time and peak memory on the hostile corpus, against ordinary mail in the same run.

Each corpus goes through the whole pipeline (`deliver`'s path: store, parse, steps, outbox)
in a fresh process with a fresh SQLite file, one mail at a time, so a process's peak RSS is
that corpus's. The ordinary corpus is the test suite's complaints; the hostile one is
`tests/hostile_corpus.py` (43 mails, 200 MB: the `[limits]` and the shapes that were
slow or deep). Prints per corpus: wall and processor seconds of the slowest mail and the
median, peak RSS, and the ratios hostile / ordinary.

    .venv/bin/python bench/bench_hostile.py [--ordinary 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

from _setup import ROOT

_RUN = """
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {root!r})
from ingestd.intake import store_and_process
from tests import hostile_corpus
from tests.support import ConfigSpec, Ingestd, complaint, write_config
directory = Path(tempfile.mkdtemp())
app = Ingestd(write_config(directory, ConfigSpec(f"sqlite:///{{directory / 'db.sqlite3'}}",
                                                 extra="[daemon]\\nworkers = 0\\n")))
store_and_process(app.services, "warm", complaint(0))  # the model loads before the clock
if {kind!r} == "hostile":  # made one at a time: the process holds one mail, as a daemon
    builders = [*hostile_corpus.BUILDERS.items(), *hostile_corpus.LARGE.items()]
else:
    builders = [(str(n), lambda n=n: complaint(n)) for n in range(1, {ordinary} + 1)]
times = []
for name, build in builders:
    raw = build()
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = store_and_process(app.services, name, raw)
    times.append((name, time.perf_counter() - wall, time.process_time() - cpu, outcome))
    del raw
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"times": times, "peak_mb": peak}}))
"""


def measure(kind: str, ordinary: int) -> dict[str, object]:
    code = _RUN.format(root=str(ROOT), kind=kind, ordinary=ordinary)
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=cwd, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summary(kind: str, result: dict[str, object]) -> tuple[float, float, float]:
    times = result["times"]
    assert isinstance(times, list)
    slowest = max(times, key=lambda t: t[2])
    median = statistics.median(t[2] for t in times)
    peak = float(str(result["peak_mb"]))
    print(f"{kind:9} {len(times):3} mails  median {median:6.3f} s cpu  slowest {slowest[2]:6.2f} s "
          f"cpu / {slowest[1]:6.2f} s wall ({slowest[0]}, {slowest[3]})  peak RSS {peak:5.0f} MB")
    return median, slowest[2], peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ordinary", type=int, default=40)
    args = parser.parse_args()
    base = summary("ordinary", measure("ordinary", args.ordinary))
    hostile = summary("hostile", measure("hostile", args.ordinary))
    print(f"ratio hostile/ordinary: median {hostile[0] / base[0]:.1f}x, slowest "
          f"{hostile[1] / base[1]:.1f}x, peak RSS {hostile[2] / base[2]:.2f}x")


if __name__ == "__main__":
    main()
