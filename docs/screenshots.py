"""Take the README's screenshots of the coaches' page and the admin's job page from a running service.

    make run        # note the demo and admin passwords it prints
    DJANGO_DEBUG=1 .venv/bin/python docs/screenshots.py --demo-password ... --admin-password ...

Uploads three videos as the demo user (a person crossing a field, a synthetic nets session, and a file that
is not a video), waits until the worker has finished them, and saves docs/coach-uploads.png,
docs/coach-job.png (the person's video paused with the skeleton over it), docs/admin-job.png and
docs/admin-pose.png (the same job's pose on its admin page: pose.jpg, counts, angle charts).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

from video_jobs.devtools.synthetic_video import (  # noqa: E402
    astronaut,
    write_person_video,
    write_test_video,
)

CHROMIUM = "/usr/bin/chromium"
FILE_INPUT = "#uploader input.uppy-Dashboard-input[type=file]:not([webkitdirectory])"


def videos(folder: Path) -> list[Path]:
    spell = write_person_video(
        folder / "over 12 - the opening spell.mp4", astronaut(), seconds=8, width=640, height=360, fps=25
    )
    nets = write_test_video(folder / "nets session.mp4", seconds=12, width=320, height=180)
    broken = folder / "phone export (broken).mp4"
    broken.write_bytes(os.urandom(300_000))
    return [spell, nets, broken]


def log_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("button[type=submit], input[type=submit]").first.click()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--demo-password", required=True)
    parser.add_argument("--admin-password", required=True)
    options = parser.parse_args()

    # The worker analyses the three videos one after another (pose included): give it minutes.
    expect.set_options(timeout=300_000)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        files = videos(Path(folder))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(base_url=options.server, viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.set_default_timeout(120_000)

        log_in(page, "/app/login/", "demo", options.demo_password)
        page.locator(FILE_INPUT).set_input_files([str(path) for path in files])
        page.locator(".uppy-StatusBar-actionBtn--upload").click()
        expect(page.locator(".uppy-StatusBar.is-complete, .uppy-StatusBar.is-error")).to_have_count(1)
        for path in files:
            item = page.locator("#jobs li.job").filter(has_text=path.name).first
            expect(item).to_have_attribute("data-status", "done" if "broken" not in path.name else "failed")
        page.screenshot(path=str(DOCS / "coach-uploads.png"), full_page=True)

        page.locator("#jobs li.job a.filename", has_text="opening spell").first.click()
        expect(page.locator("#job-analysis img[data-poster]")).to_be_visible()
        page.locator("#job-analysis img[data-poster]").evaluate("img => img.decode()")
        expect(page.locator("#job-watch")).to_have_attribute("data-track", "loaded")
        page.wait_for_function("() => document.querySelector('#job-watch video').readyState >= 2")
        # Paused mid-run, the skeleton drawn over the player.
        page.locator("#job-watch video").evaluate("video => { video.currentTime = video.duration * 0.45 }")
        page.wait_for_function("() => document.querySelector('#job-watch canvas').dataset.frameTime")
        job_id = page.url.rstrip("/").rsplit("/", 1)[1]
        page.screenshot(path=str(DOCS / "coach-job.png"), full_page=True)

        admin = context.new_page()
        admin.set_default_timeout(60_000)
        log_in(admin, "/admin/login/", "admin", options.admin_password)
        admin.goto(f"/admin/video_jobs/videoanalysisjob/{job_id}/change/")
        expect(admin.locator("#admin-analysis img[data-poster]")).to_be_visible()
        admin.locator("#admin-analysis img[data-poster]").evaluate("img => img.decode()")
        admin.locator("img[data-pose-picture]").evaluate("img => img.decode()")
        fieldset = admin.locator("fieldset", has=admin.locator("#admin-analysis"))
        fieldset.scroll_into_view_if_needed()
        fieldset.screenshot(path=str(DOCS / "admin-job.png"))

        # The same job's pose block on its own (Result also holds it, below the analysis).
        picture = admin.locator("[data-pose] img[data-pose-picture]")
        expect(picture).to_be_visible()
        picture.evaluate("img => img.decode()")
        block = admin.locator("[data-pose]")
        block.scroll_into_view_if_needed()
        block.screenshot(path=str(DOCS / "admin-pose.png"))
        browser.close()


if __name__ == "__main__":
    main()
