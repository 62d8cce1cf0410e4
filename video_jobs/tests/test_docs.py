"""The README and the guides in docs/ stay true to the repository: every relative link and anchor resolves,
every file and module they name exists, and the configuration table lists every environment variable the
settings read. No network: links to other sites are not followed."""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# The README is a front door: what the service is, how to start, where the guides are.
README_MOST_LINES = 300

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)\)")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
# A code span that names a file or folder of this repository, or a module (and maybe an attribute) of it.
REPOSITORY_PATH = re.compile(r"^(?:video_jobs|cricksy|bench|docs|frontend|\.ci)/[\w./-]*$")
DOTTED_NAME = re.compile(r"^(?:video_jobs|cricksy)(?:\.\w+)+$")
SETTING = re.compile(r"\benv_\w+\(\s*\"([A-Z0-9_]+)\"")


def prose(path: Path) -> str:
    """The document without its fenced code blocks (a ``#`` there is a comment, not a heading)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower-case, punctuation dropped, spaces as hyphens."""
    text = LINK.sub(r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(prose(path)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(path: Path) -> list[str]:
    # Brackets inside code spans are code, not links: drop them, keep the span's text for link labels.
    text = CODE_SPAN.sub(lambda span: re.sub(r"[\[\]()]", "", span.group(1)), prose(path))
    return [target for _, target in LINK.findall(text)]


def code_spans(path: Path) -> list[str]:
    return CODE_SPAN.findall(prose(path))


def document_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("document", DOCUMENTS, ids=document_id)
def test_every_relative_link_and_anchor_resolves(document: Path) -> None:
    broken = []
    for target in links(document):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: another site
            continue
        location, _, anchor = target.partition("#")
        linked = (document.parent / location).resolve() if location else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, f"{document_id(document)} links nowhere:\n" + "\n".join(broken)


@pytest.mark.parametrize("document", DOCUMENTS, ids=document_id)
def test_every_file_and_module_named_exists(document: Path) -> None:
    missing = []
    for span in code_spans(document):
        if REPOSITORY_PATH.match(span) and not (ROOT / span).exists():
            missing.append(f"{span}: no such file or folder")
        elif DOTTED_NAME.match(span) and not importable(span):
            missing.append(f"{span}: no such module or attribute")
    assert not missing, f"{document_id(document)} names what is not there:\n" + "\n".join(missing)


def importable(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or an attribute reached from the longest module prefix of it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_the_configuration_table_lists_every_setting_read_from_the_environment() -> None:
    read = SETTING.findall((ROOT / "cricksy" / "settings.py").read_text(encoding="utf-8"))
    rows = [line for line in prose(ROOT / "docs" / "operations.md").splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in CODE_SPAN.findall(row.split(" | ")[0])}
    assert len(read) > 40, "the settings' readers were not found: has env_* been renamed?"
    assert [name for name in read if name not in listed] == []


def test_the_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MOST_LINES


def test_the_checks_find_what_is_broken(tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(
        "# A guide\n\n## Its `second` part\n\n```sh\n# a comment, not a heading\n```\n\n"
        "[fine](#its-second-part) [gone](#a-comment-not-a-heading) [nowhere](missing.md) "
        "[away](https://example.com/x) `[not](a-link.md)`\n",
        encoding="utf-8",
    )
    assert anchors(guide) == {"a-guide", "its-second-part"}
    assert links(guide) == [
        "#its-second-part",
        "#a-comment-not-a-heading",
        "missing.md",
        "https://example.com/x",
    ]
    assert slug("A failed job's `error_code`") == "a-failed-jobs-error_code"
    assert (
        slug("`/healthz/live`, `/healthz/ready` (and `/healthz`)") == "healthzlive-healthzready-and-healthz"
    )
    assert importable("video_jobs.analysis.analyze_video")
    assert not importable("video_jobs.storage")
    assert not importable("video_jobs.analysis.no_such_analyzer")
