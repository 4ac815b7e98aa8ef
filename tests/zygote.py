"""A fork server for `ingestd` command lines: pay the imports once, fork a fresh process per run.

Importing ingestd with scikit-learn takes seconds; the crash tests start dozens of runs and
kill them. This process imports everything once, then for each request (one JSON line on
stdin: argv, stdout file, stderr file) forks a child that runs the real `ingestd` command
line exactly as `python -m ingestd ...` would, with its output in the given files, and
answers the child's pid. The child writes its exit code to `<stdout file>.rc` on the way out,
so a missing .rc file means it was killed. Run as: python -m tests.zygote
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _reap(_signum: int, _frame: object) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _child(request: dict[str, object]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)
    stdout = os.open(str(request["stdout"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    stderr = os.open(str(request["stderr"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    sys.argv = ["ingestd", *(str(a) for a in request["argv"])]  # type: ignore[attr-defined]  # the fixture hands over Services as object
    for name, value in dict(request.get("env") or {}).items():  # type: ignore[call-overload]  # the fixture hands over Services as object
        os.environ[name] = value
    code = 0
    try:
        from ingestd.cli import main  # noqa: PLC0415  (loaded where used, after the test has set up)

        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001  (a crash is a result, reported like Python does)
        import traceback  # noqa: PLC0415  (only on the error path)

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    with open(f"{request['stdout']}.rc", "w") as rc:  # noqa: PTH123  (a plain file for the fork server; no pathlib in the hot path)
        rc.write(str(code))
    os._exit(code)


def main() -> None:
    import triage  # noqa: F401, PLC0415  (scikit-learn: the slow import)
    from ingestd.cli import _register  # noqa: PLC0415  (loaded where used, after the test has set up)

    _register()
    signal.signal(signal.SIGCHLD, _reap)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    main()
