"""The hostile archives, now tools/archives.py: tests/deploy/test_refused_candidates.py's import.

Delete this once that test imports tools.archives.
"""

from tools.archives import CASES, write_case

__all__ = ["CASES", "write_case"]
