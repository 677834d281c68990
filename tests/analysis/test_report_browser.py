"""report.html as a person opens it: rendered in headless Chromium (Debian's `chromium`; `make test`
installs it when missing), every figure must decode and show with a non-zero size."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from analysis_stores import write_store

from xstilts_jax.analysis import run_analysis

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Appended to a copy of the page: after every image has loaded (or failed), record what the browser
# decoded (naturalWidth/Height) and the size it laid the image out at.
PROBE = """<script>
window.addEventListener('load', () => {
  for (const img of document.images) {
    const box = img.getBoundingClientRect();
    img.setAttribute('data-probe', [img.naturalWidth, img.naturalHeight, Math.round(box.width), Math.round(box.height)].join(' '));
  }
  document.body.setAttribute('data-probed', String(document.images.length));
});
</script>"""


def probe_images(page: Path, tmp_path: Path) -> list[tuple[int, int, int, int]]:
    """(natural width, natural height, shown width, shown height) of every image of ``page`` in Chromium."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (installs Debian's chromium as root) or `apt-get install -y chromium`")
    probed = tmp_path / f"probe_{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1280,900", "--virtual-time-budget=20000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    count = re.search(r'<body[^>]*data-probed="(\d+)"', dom)
    assert count, f"the probe did not run; Chromium printed: {dom[:500]!r} {done.stderr[-1000:]!r}"
    images = [tuple(int(v) for v in probe.split()) for probe in re.findall(r'<img [^>]*data-probe="([\d ]+)"', dom)]
    assert len(images) == int(count.group(1)) == len(re.findall(r"<img ", page.read_text(encoding="utf-8")))
    return images


@pytest.mark.slow
def test_every_figure_of_the_report_loads_in_a_browser(tmp_path):
    write_store(tmp_path / "r.sqlite", lambda x: 6.0 - 0.5 * x, sizes={"toy_s": 45_856, "toy_m": 143_616, "toy_l": 558_976}, seeds=(0, 1))
    report = run_analysis(tmp_path / "r.sqlite", tmp_path / "out")
    images = probe_images(report, tmp_path)
    assert len(images) == len(list((tmp_path / "out").glob("*.png"))) >= 3
    assert all(min(image) > 0 for image in images), images

    # The check can fail: one figure's data cut short decodes to nothing.
    html = report.read_text(encoding="utf-8")
    start = html.index("data:image/png;base64,") + len("data:image/png;base64,")
    broken = tmp_path / "broken.html"
    broken.write_text(html[:start] + "AAAA" + html[start + 4000 :], encoding="utf-8")
    images = probe_images(broken, tmp_path)
    assert sum(1 for image in images if image[0] == 0) == 1
