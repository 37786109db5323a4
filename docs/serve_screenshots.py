"""Makes docs/serve_style.jpg and docs/serve_segment.jpg: the two `suite serve` pages in headless Chromium.

Run with a server that also serves the demo model's validation images (the shapes it was trained on):

    suite serve assets/segdata/val/images --port 8765 &
    python docs/serve_screenshots.py http://127.0.0.1:8765            # or add: style / segment

The style page is captured during the optimization (live view, scale and loss),
the segment page after segmenting two images from that served folder. Needs the `test` extra
(Selenium) and Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

DOCS = Path(__file__).resolve().parent


def _save(driver, name: str) -> None:
    # JPEG: a quarter of the PNG's size for a page that is mostly photos.
    Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB").save(DOCS / name, quality=88)


def style_page(d, base, wait) -> None:
    d.get(base + "/")
    wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#artworks .thumb")) >= 4)
    d.find_element(By.CSS_SELECTOR, '#photos .thumb[data-id="f0/photos/chelsea.jpg"]').click()
    d.find_element(By.CSS_SELECTOR, "#artworks .thumb.selected").click()
    d.find_element(By.CSS_SELECTOR, '#artworks .thumb[data-id="f0/styles/mosaic.jpg"]').click()
    size = d.find_element(By.NAME, "size")
    size.clear()
    size.send_keys("320")
    d.find_element(By.ID, "run").click()
    d.execute_script("window.scrollTo(0, 0)")
    # Mid-way through the second scale: the live view, its scale and loss, and the Cancel button.
    wait(
        lambda d: (
            "Scale 2/2" in d.find_element(By.ID, "status").text
            and int(d.find_element(By.ID, "status").text.split("iteration ")[1].split("/")[0]) >= 150
        )
    )
    time.sleep(0.5)
    _save(d, "serve_style.jpg")
    d.find_element(By.ID, "cancel").click()
    wait(lambda d: "Cancelled" in d.find_element(By.ID, "status").text)


def segment_page(d, base, wait) -> None:
    d.get(base + "/segment")
    wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#photos .thumb"))
    d.find_element(By.CSS_SELECTOR, "#photos .thumb.selected").click()
    for image in ("f1/0015.jpg", "f1/0021.jpg"):
        d.find_element(By.CSS_SELECTOR, f'#photos .thumb[data-id="{image}"]').click()
    d.find_element(By.ID, "run").click()
    wait(lambda d: d.find_element(By.ID, "status").text.startswith("Done"))
    d.execute_script("window.scrollTo(0, 0)")
    time.sleep(1)
    _save(d, "serve_segment.jpg")


def main(base: str, pages=("style", "segment")) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1400,980",
        f"--user-data-dir={tempfile.mkdtemp()}",
    ):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = lambda cond: WebDriverWait(d, 900, poll_frequency=0.2).until(cond)  # noqa: E731
    try:
        if "style" in pages:
            style_page(d, base, wait)
        if "segment" in pages:
            segment_page(d, base, wait)
    finally:
        d.quit()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8765", sys.argv[2:] or ("style", "segment"))
