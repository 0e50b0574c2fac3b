"""Check a report.html as a person's browser sees it (a script, not a test): size, outside addresses, and in Chromium
the requests it makes, its console errors and the animation's frames.

    python benchmarks/report_check.py runs/gaussian-default-s0/report.html [--gif train.gif] [--png page.png]

Needs playwright (the test extras) and Debian's chromium (`apt-get install chromium`). Prints one line per figure.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

OUTSIDE, ANY_URL = r"\s*(https?:)?//", r"https?://[^\s\"'<>]+"
FETCHING = ("src", "href", "xlink:href", "action", "formaction", "data", "poster", "srcset", "background")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v or "" for k, v in attrs if k in FETCHING]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("page")
    p.add_argument("--gif", help="also count the frames of a GIF (distgan animate's)")
    p.add_argument("--png", help="also save a full-page screenshot here")
    a = p.parse_args()
    path = Path(a.page).resolve()
    text = path.read_text()
    links = Links()
    links.feed(text)
    print(f"size: {len(text.encode()) / 1e6:.3f} MB")
    outside = [u for u in links.urls if re.match(OUTSIDE, u)]
    print(f"src/href attributes: {len(links.urls)}; http(s) URLs among them: {len(outside)}")
    print(f"http(s) strings anywhere: {sorted(set(re.findall(ANY_URL, text)))}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1240, "height": 900})
        requests, errors = [], []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        print(f"requests: {len(requests)} ({len([u for u in requests if u != path.as_uri()])} beyond the page itself)")
        print(f"console errors and warnings: {len(errors)} {errors}")
        slider = page.locator("#frame")
        frames = int(slider.get_attribute("max")) + 1 if slider.count() else 0
        drawn = set()
        for i in (0, frames // 2, frames - 1):
            slider.fill(str(i))
            drawn.add(page.get_attribute("path.ghist", "d") or page.get_attribute("g.gpoints circle", "cx"))
        print(f"animation frames: {frames}; distinct drawings at 3 slider positions: {len(drawn)}")
        print(f"verdict: {page.inner_text('#verdict')}")
        if a.png:
            page.screenshot(path=a.png, full_page=True)
        browser.close()
    if a.gif:
        from PIL import Image

        with Image.open(a.gif) as gif:
            print(f"GIF: {gif.n_frames} frames, {gif.size[0]}x{gif.size[1]}, {Path(a.gif).stat().st_size / 1e3:.0f} KB")
    sys.exit(0)


if __name__ == "__main__":
    main()
