"""report.html in a real browser: headless Chromium (Debian package ``chromium``, installed by
.ci/run) renders the report of a simulated run, of a recorded live run, a compare page and a
sweep's frontier; the
test fails on a console message (the pages have no script, so any message is an error), on an
<img> whose data: URI is not a decodable PNG, and on a blank screenshot. The screenshots are kept
as CI artefacts in results/screenshots/ (git-ignored).

Skipped with the reason when chromium is missing; fails instead when HIVESIM_REQUIRE_LIVE=1 (CI).
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

SHOTS = ROOT / "results" / "screenshots"
LIVE_BASELINE = ROOT / "results" / "baselines" / "live-calib-f-20261128T153754Z-a98d"


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "chromium is not installed (Debian package chromium; .ci/run installs it)"
        if os.environ.get("HIVESIM_REQUIRE_LIVE") == "1":
            pytest.fail(msg + " (HIVESIM_REQUIRE_LIVE=1)")
        pytest.skip(msg)
    return exe


def _images_decode(page: Path) -> int:
    """Every <img> has a data: URI holding a PNG that decodes; -> how many images."""
    from PIL import Image
    text = page.read_text(encoding="utf-8")
    srcs = re.findall(r"<img\b[^>]*\bsrc='([^']*)'", text) + re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', text)
    assert len(srcs) == text.count("<img"), f"{page}: an <img> without a quoted src"
    for src in srcs:
        assert src.startswith("data:image/png;base64,"), f"{page}: <img> not embedded: {src[:60]}"
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG"
            im.load()  # decodes every pixel: a truncated PNG fails here
    return len(srcs)


def _screenshot(exe: str, page: Path, name: str) -> Path:
    """Render ``page`` in headless Chromium; fail on console messages or a blank picture."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    proc = subprocess.run([exe, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                           "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1280,4000",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, f"{page}: console messages:\n" + "\n".join(console)
    assert shot.exists(), f"{page}: no screenshot (exit {proc.returncode}): {proc.stderr[-500:]}"
    from PIL import Image, ImageStat
    with Image.open(shot) as im:
        gray = im.convert("L")
        assert im.size == (1280, 4000)
        assert ImageStat.Stat(gray).stddev[0] > 5, f"{shot}: blank screenshot"
        assert gray.crop((0, 0, 1280, 400)).getextrema()[0] < 100, f"{shot}: no dark text at the top"
    return shot


def test_reports_render_in_headless_chromium(tmp_path):
    exe = _chromium()
    sim, sim2 = tmp_path / "webank-2023", tmp_path / "webank-2023-seed7"
    for out, seed in ((sim, "20231128"), (sim2, "7")):
        r = run_cli("run", "scenarios/webank-2023.yaml", "--set", "simulation.replications=8", "--seed", seed,
                    "--out", out, "--quiet")
        assert r.returncode == 0, r.stderr
    live = tmp_path / "live"
    shutil.copytree(LIVE_BASELINE, live)
    r = run_cli("report", live)
    assert r.returncode == 0, r.stderr
    cmp = tmp_path / "compare"
    r = run_cli("compare", sim, sim2, "--out", cmp)
    assert r.returncode == 0, r.stderr
    sweep = tmp_path / "sweep"
    r = run_cli("sweep", "scenarios/webank-2023.yaml", "--set", "topology.cells.template.db.replicas=2,3",
                "--set", "simulation.seed=1,2", "--replications", "3", "--out", sweep, "--quiet")
    assert r.returncode == 0, r.stderr
    frontier = sweep / "frontier.html"  # the sweep's picture in a page of its own, as a browser shows it
    png = (sweep / "frontier.png").read_bytes()
    frontier.write_text("<!doctype html><html><body><img src='data:image/png;base64,"
                        f"{base64.b64encode(png).decode()}'></body></html>", encoding="utf-8")
    pages = {"report-webank-2023": sim / "report.html", "report-live": live / "report.html",
             "compare": cmp / "compare.html", "sweep-frontier": frontier}
    for name, page in pages.items():
        assert _images_decode(page) >= (2 if name == "compare" else 1), page
        _screenshot(exe, page, name)
