"""The keep-alive load, now tools/keepalive.py: tests/deploy/test_switches.py's import.

Delete this once that test imports tools.keepalive.
"""

from tools.keepalive import SWITCHES, KeepAliveLoad, Tally, label, through_switches

__all__ = ["SWITCHES", "KeepAliveLoad", "Tally", "label", "through_switches"]
