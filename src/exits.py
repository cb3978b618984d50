"""The exit codes every command of the project returns, so a script or a workflow reads them one way.

`make`, CI steps and the course grader branch on them: 1 means "it ran and the
answer is no" (look at the verdict), 2 means "it could not run on this input"
(fix the command line, the file or the setting named in the one-line error).
"""

import sys

OK = 0  # it ran and the answer is yes: gated, promoted, no drift, solved
NO = 1  # it ran and the verdict is no: the gate failed, rolled back, drift says retrain, a lab unsolved
REFUSED = 2  # bad input or refused before any work: a missing file, a bad setting, an ungated or untrusted model
INTERRUPTED = 130  # stopped by a signal (128 + SIGINT, as a shell reports Ctrl-C); the state is left consistent


def refuse(command: str, problem: object) -> int:
    """Say why on stderr in one line, `command: problem`, and give the code for it: what every CLI does on bad input."""
    print(f"{command}: {' '.join(str(problem).split())}", file=sys.stderr)
    return REFUSED
