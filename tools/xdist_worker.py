"""A pytest-xdist worker forked from the suite's launcher instead of started as a fresh interpreter.

xdist starts each worker as `PYTHON -u -c "import sys;exec(eval(sys.stdin.readline()))"`
(execnet's popen bootstrap): a fresh interpreter that imports pytest, the
stack and the test modules, ~2.4 s of CPU before its first test. Under a
launcher (CHURN_LAUNCHER), `worker_spec` names as PYTHON
`python src/fork_client.py SOCKET -m tools.xdist_worker`, so the launcher
forks the worker with the stack already imported, and this module does what
`-u -c CODE` would: unbuffered output, then CODE run as `__main__`. The
worker's stdin and stdout are execnet's channel either way; its signals,
exit and death with its client are the launcher's (src/fork_client.py).

    pytest -n 2 tests/deploy   # with CHURN_LAUNCHER set: tests/conftest.py rewrites the workers' spec
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from src import fork_client

BOOTSTRAP_FORM = ("-u", "-c")  # what execnet's popen_args passes after the interpreter (no -B: bytecode as set)


def worker_spec(count: int, socket: str, python: str = sys.executable) -> list[str]:
    """`count` xdist --tx specs whose interpreter forks `-m tools.xdist_worker` from the launcher at `socket`."""
    command = [python, str(Path(fork_client.__file__).resolve()), socket, "-m", __spec__.name]
    return [f"popen//python={shlex.join(command)}"] * count


def main(argv: Sequence[str]) -> int:
    if len(argv) != 3 or tuple(argv[:2]) != BOOTSTRAP_FORM:
        print(f"usage: python -m {__spec__.name} -u -c CODE (execnet's popen bootstrap)", file=sys.stderr)
        return 2
    sys.stdout.reconfigure(write_through=True)  # -u
    sys.stderr.reconfigure(write_through=True)
    sys.argv = ["-c"]
    exec(compile(argv[2], "<string>", "exec"), vars(sys.modules["__main__"]))  # what `python -c` runs
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
