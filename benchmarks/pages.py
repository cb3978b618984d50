"""Page figures: how long each HTML page takes to draw, and how large it is (never pass/fail).

    python -m benchmarks.pages [--repeats 3] [--rollout STACK_DIR/rollout.json] [--screenshots DIR]

The model card is drawn from the gated pair in ARTIFACT_DIR (gated into a
temporary folder first when there is none), the drift page from 600 snapshot
customers with monthly charges x1.5, the rollout page from a rollout record
(default .stack/rollout.json, as `make rollout` leaves it). Times are the
median and best of `--repeats` in-process renders, after one warm-up (the
first import of matplotlib is paid once per process, shown apart).
`--screenshots DIR` also opens each page in headless Chromium (tools/browser.py) and saves a PNG.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from src import artifacts, config, data, exits, record
from src.gate import stage
from tools import browser
from tools.service_log import write_log


def _timed(draw: Callable[[], str], repeats: int) -> tuple[str, list[float]]:
    text = draw()  # warm-up: caches, fonts
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        text = draw()
        times.append(time.perf_counter() - started)
    return text, times


def _line(name: str, text: str, times: list[float]) -> None:
    size = len(text.encode()) / 1024
    print(
        f"  {name:<12} median {statistics.median(times):6.2f} s  best {min(times):6.2f} s  "
        f"size {size:6.1f} KiB  charts {text.count('<svg')}"
    )


def _pair(folder: Path) -> Path:
    if (folder / artifacts.METRICS_FILE).is_file():
        return folder
    tmp = Path(tempfile.mkdtemp(prefix="churn-bench-pages-"))
    settings = config.settings()
    stage.run(settings.churn_data, tmp, settings.churn_seed, settings.prod_metrics)
    return tmp if (tmp / artifacts.METRICS_FILE).is_file() else tmp / artifacts.REJECTED_DIR


def _screenshot(page: Path, png: Path) -> None:
    started = time.perf_counter()
    try:
        browser.screenshot(page, png)
    except (browser.MissingBrowser, browser.BrowserFailed) as exc:
        print(f"  (no screenshot of {page.name}: {exc})")
        return
    print(f"  screenshot   {png} ({time.perf_counter() - started:.1f} s in chromium)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pages", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rollout", type=Path, default=config.ROOT / ".stack" / "rollout.json")
    parser.add_argument("--screenshots", type=Path, default=None, help="save a Chromium screenshot of each page here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    from deploy.render import page as rollout_page
    from src import card
    from src.drift import judging
    from src.drift import page as drift_page

    print(f"pages (import of matplotlib and the page modules: {time.perf_counter() - started:.2f} s)")
    out = Path(tempfile.mkdtemp(prefix="churn-pages-"))
    written: list[Path] = []

    folder = _pair(config.settings().artifact_dir)
    rec = record.read(folder / artifacts.METRICS_FILE)
    snapshot = config.settings().churn_data
    text, times = _timed(lambda: card.render(rec, folder / artifacts.MODEL_FILE, snapshot), args.repeats)
    _line("model card", text, times)
    (out / "model-card.html").write_text(text)
    written.append(out / "model-card.html")

    recent = data.load(snapshot).sample(600, random_state=5)
    recent["monthly_charges"] = recent["monthly_charges"] * 1.5
    log = write_log(out / "service.log", recent)
    report, ref, rows = judging.check_frames(log, snapshot)
    text, times = _timed(lambda: drift_page.render(report, ref, rows), args.repeats)
    _line("drift page", text, times)
    (out / "drift.html").write_text(text)
    written.append(out / "drift.html")

    if args.rollout.is_file():
        rollout = json.loads(args.rollout.read_text())
        text, times = _timed(lambda: rollout_page.render(rollout), args.repeats)
        _line("rollout page", text, times)
        (out / "rollout.html").write_text(text)
        written.append(out / "rollout.html")
    else:
        print(f"  rollout page: no record at {args.rollout} (`make rollout` leaves one; or --rollout PATH)")

    print(f"  pages in {out}")
    if args.screenshots is not None:
        args.screenshots.mkdir(parents=True, exist_ok=True)
        for page in written:
            _screenshot(page, args.screenshots / f"{page.stem}.png")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
