"""Remake docs/desk.png, the README's picture of the desk (the dashboard).

Builds the demo database in a scratch folder (`storyline demo`), serves it (`storyline
serve`) and photographs the story list at 1280 px, with Playwright driving Debian's Chromium
(`scripts/install-chromium.sh`; Playwright downloads no browser), as the browser tests do.

    .venv/bin/python scripts/screenshot-desk.py [--out docs/desk.png] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file, the checkout's tests/ is not on the path

from tests.serve.test_dashboard import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402

WIDTH, HEIGHT = 1280, 760
STARTUP_SECONDS = 60.0
# Run the checkout's pipeline offline, whatever the caller's environment says.
ENVIRONMENT = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def storyline(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def run(*args: str) -> None:
    """A `storyline` command; its stderr is shown only when it fails."""
    done = subprocess.run(storyline(*args), cwd=ROOT, env=ENVIRONMENT, capture_output=True)
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")
        raise SystemExit(f"storyline {args[0]} failed ({done.returncode}):\n{stderr}")


@contextmanager
def served(db_url: str, log: Path) -> Iterator[str]:
    """`storyline serve` on ``db_url`` until the block ends, its stderr in ``log``; yields its
    address."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = storyline("serve", "--host", "127.0.0.1", "--port", str(port), "--db", db_url)
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            command, cwd=ROOT, env=ENVIRONMENT, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    yield base
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit(
            f"storyline serve did not answer on {base}:\n{log.read_text(errors='replace')}"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


def photograph(base: str, chromium: str, out: Path) -> None:
    """The story list as a 1280 px browser shows it, in UTC."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, timezone_id="UTC")
            page.goto(f"{base}/#/")
            page.locator("#stories-body tr").first.wait_for()
            page.screenshot(path=str(out))
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripts/screenshot-desk.py", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "desk.png")
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium binary to drive")
    args = parser.parse_args(argv)
    if not Path(args.chromium).is_file():
        parser.error(f"{args.chromium} not found: run scripts/install-chromium.sh (as root)")
    with tempfile.TemporaryDirectory(prefix="storyline-desk-") as scratch:
        db_url = f"sqlite:///{Path(scratch) / 'demo.db'}"
        run("demo", "--db", db_url)
        with served(db_url, Path(scratch) / "serve.log") as base:
            photograph(base, args.chromium, args.out)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
