"""`suite serve` in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by Selenium.

The server runs in this process on a free port; the pages upload bundled
assets, run a tiny stylize and a segment, and must show the results, and a bad
upload must show a message. Set SUITE_SKIP_BROWSER=1 to skip these where no
browser is installed; otherwise a missing browser fails them (CI installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="suite serve needs the 'serve' extra")
pytestmark = pytest.mark.slow

ASSETS = Path(__file__).resolve().parent.parent / "assets"
CHROMIUM = os.environ.get("SUITE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SUITE_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def server():
    from werkzeug.serving import make_server

    from suite.serve.app import create_app

    app = create_app()
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_port}"
    srv.queue = app.extensions["suite"]["queue"]
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("SUITE_SKIP_BROWSER") == "1":
        pytest.skip("SUITE_SKIP_BROWSER=1")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (shutil.which(path) or os.access(path, os.X_OK)):
            pytest.fail(f"{path} not found: apt-get install chromium chromium-driver (or set SUITE_SKIP_BROWSER=1)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="suite-chromium-")
    # The background-networking flags keep Chromium from calling hosts a closed network refuses.
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    # An explicit driver path: Selenium Manager never tries to download one.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def _by(css):
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR, css


def _loaded(driver, img) -> bool:
    return driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)


def _set(driver, name, value):
    el = driver.find_element(*_by(f"[name={name}]"))
    el.clear()
    el.send_keys(str(value))


def test_style_page_uploads_runs_and_offers_downloads(server, browser):
    d = browser
    d.get(server.url + "/")
    _wait(d, lambda d: len(d.find_elements(*_by("#artworks .thumb"))) >= 4)
    d.find_element(*_by("#photo-upload")).send_keys(str(ASSETS / "photos" / "coffee.jpg"))
    _wait(d, lambda d: d.find_elements(*_by('#photos .thumb.selected[title^="coffee.jpg"]')))
    d.find_element(*_by("#artworks .thumb.selected")).click()  # deselect the default artwork
    d.find_element(*_by("#artwork-upload")).send_keys(str(ASSETS / "styles" / "mosaic.jpg"))
    _wait(d, lambda d: d.find_elements(*_by('#artworks .thumb.selected[title^="mosaic.jpg (upload)"]')))
    assert len(d.find_elements(*_by("#artworks .thumb.selected"))) == 1
    _set(d, "size", 48)
    _set(d, "scales", 1)
    _set(d, "iterations", 4)
    _set(d, "preview_every", 1)
    d.find_element(*_by("#run")).click()
    _wait(d, lambda d: d.find_element(*_by("#status")).text.startswith("Done"))
    img = d.find_element(*_by("#result"))
    _wait(d, lambda d: _loaded(d, img))
    assert "result.png" in img.get_attribute("src")
    assert img.get_attribute("data-preview")  # the live view showed at least one intermediate image
    sidecar_url = d.find_element(*_by("#download-sidecar")).get_attribute("href")
    sidecar = json.load(urllib.request.urlopen(sidecar_url))
    assert sidecar["content"] == "upload:coffee.jpg" and sidecar["styles"] == ["upload:mosaic.jpg"]
    assert sidecar["output_size"][0] == 48 and sidecar["evaluations"] == [4]
    assert d.find_element(*_by("#message")).get_attribute("hidden")


def test_style_page_runs_the_fast_method(server, browser):
    """The method list offers fast; choosing it turns the Gatys-only fields off and a stylized image comes back."""
    from selenium.webdriver.support.ui import Select

    d = browser
    d.get(server.url + "/")
    _wait(
        d,
        lambda d: (
            len(d.find_elements(*_by("#artworks .thumb.selected"))) == 1
            and d.find_elements(*_by("#photos .thumb.selected"))
        ),
    )
    method = Select(d.find_element(*_by("[name=method]")))
    assert [o.text for o in method.options] == ["gatys", "fast"]
    assert not d.find_element(*_by("[name=strength]")).is_enabled()  # gatys first: strength is the fast method's
    method.select_by_value("fast")
    assert not d.find_element(*_by("[name=iterations]")).is_enabled()
    assert d.find_element(*_by("[name=strength]")).is_enabled()
    _set(d, "size", 64)
    _set(d, "strength", 0.9)
    d.find_element(*_by("#run")).click()
    _wait(d, lambda d: d.find_element(*_by("#status")).text.startswith("Done"), timeout=180)
    img = d.find_element(*_by("#result"))
    _wait(d, lambda d: _loaded(d, img))
    assert "result.png" in img.get_attribute("src")
    sidecar = json.load(urllib.request.urlopen(d.find_element(*_by("#download-sidecar")).get_attribute("href")))
    assert sidecar["method"] == "fast" and sidecar["options"]["strength"] == 0.9 and sidecar["options"]["size"] == 64
    assert d.find_element(*_by("#message")).get_attribute("hidden")


def test_bad_upload_shows_a_message_and_the_server_goes_on(server, browser, tmp_path):
    d = browser
    d.get(server.url + "/")
    _wait(d, lambda d: d.find_elements(*_by("#photos .thumb")))
    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is a text file, not a photo")
    d.find_element(*_by("#photo-upload")).send_keys(str(fake))
    box = d.find_element(*_by("#message"))
    _wait(d, lambda d: box.is_displayed())
    assert "holiday.jpg" in box.text and "not an image" in box.text
    assert not d.find_elements(*_by('#photos .thumb[title^="holiday.jpg"]'))
    assert urllib.request.urlopen(server.url + "/api/catalog").status == 200


def test_segment_page_shows_overlays_legend_and_masks(server, browser):
    d = browser
    d.get(server.url + "/segment")
    _wait(d, lambda d: d.find_elements(*_by("#model option")) and d.find_elements(*_by("#photos .thumb")))
    assert "demo_unet.keras" in d.find_element(*_by("#model")).text
    d.find_element(*_by("#photos .thumb.selected")).click()  # deselect the default photo
    d.find_element(*_by("#photo-upload")).send_keys(str(ASSETS / "photos" / "rocket.jpg"))
    _wait(d, lambda d: d.find_elements(*_by('#photos .thumb.selected[title^="rocket.jpg"]')))
    d.find_element(*_by("#run")).click()
    _wait(d, lambda d: d.find_element(*_by("#status")).text.startswith("Done"))
    cards = d.find_elements(*_by(".card"))
    assert len(cards) == 1 and "rocket.jpg" in cards[0].text
    overlay = cards[0].find_element(*_by("img.overlay"))
    _wait(d, lambda d: _loaded(d, overlay))
    rows = cards[0].find_elements(*_by(".legend tr"))
    assert rows and "%" in rows[0].text
    mask_url = cards[0].find_element(*_by(".download-mask")).get_attribute("href")
    with urllib.request.urlopen(mask_url) as r:
        assert r.headers["Content-Type"] == "image/png" and "attachment" in r.headers["Content-Disposition"]
    assert d.find_element(*_by("#download-all")).is_displayed()


def test_a_waiting_job_shows_its_place_in_the_queue(server, browser):
    d = browser
    gate = threading.Event()
    blocker = server.queue.submit("style", lambda job: gate.wait(30))  # another user's job, running
    try:
        d.get(server.url + "/")
        _wait(
            d,
            lambda d: (
                d.find_elements(*_by("#photos .thumb.selected")) and d.find_elements(*_by("#artworks .thumb.selected"))
            ),
        )
        _set(d, "size", 32)
        _set(d, "scales", 1)
        _set(d, "iterations", 2)
        d.find_element(*_by("#run")).click()
        _wait(d, lambda d: "position 2" in d.find_element(*_by("#status")).text)
        assert d.find_element(*_by("#cancel")).is_enabled()
    finally:
        gate.set()
    _wait(d, lambda d: d.find_element(*_by("#status")).text.startswith("Done"))
    assert blocker.state == "done"


def test_style_page_stylizes_a_clip_and_plays_it(server, browser, tmp_path):
    """A clip goes through the photo picker; the result plays in a <video> with a download link."""
    av = pytest.importorskip("av")
    import numpy as np

    clip = tmp_path / "walk.mp4"
    out = av.open(str(clip), "w")
    v = out.add_stream("libx264", rate=12)
    v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
    base = (np.random.default_rng(0).random((48, 80, 3)) * 255).astype(np.uint8)
    for i in range(16):
        for p in v.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, i : i + 64]), format="rgb24")):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    out.close()

    d = browser
    d.get(server.url + "/")
    _wait(d, lambda d: d.find_elements(*_by("#artworks .thumb.selected")) and d.find_elements(*_by("#photos .thumb")))
    d.find_element(*_by("#photo-upload")).send_keys(str(clip))
    _wait(d, lambda d: d.find_elements(*_by('#photos .thumb.clip.selected[title^="walk.mp4"]')))
    assert d.find_element(*_by("[name=method]")).get_attribute("value") == "fast"  # a clip picks the fast method
    d.find_element(*_by("#run")).click()
    _wait(d, lambda d: d.find_element(*_by("#status")).text.startswith("Done"), timeout=180)
    assert "16 frames of 64×48 px" in d.find_element(*_by("#status")).text
    video = d.find_element(*_by("#result-video"))
    assert video.is_displayed() and "result.mp4" in video.get_attribute("src")
    assert not d.find_element(*_by("#result")).is_displayed()
    # The browser decodes it: its metadata (size) loads from the H.264 MP4.
    _wait(d, lambda d: d.execute_script("return arguments[0].readyState >= 1 && arguments[0].videoWidth", video))
    assert d.execute_script("return [arguments[0].videoWidth, arguments[0].videoHeight]", video) == [64, 48]
    link = d.find_element(*_by("#download-video"))
    assert link.is_displayed() and not d.find_element(*_by("#download-image")).is_displayed()
    with urllib.request.urlopen(link.get_attribute("href")) as r:
        assert r.headers["Content-Type"] == "video/mp4" and "attachment" in r.headers["Content-Disposition"]
    if os.environ.get("SUITE_SCREENSHOT"):
        d.save_screenshot(os.environ["SUITE_SCREENSHOT"])
