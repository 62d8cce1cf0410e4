"""The state machine does not import the API: ``services`` and what it reaches (the outbox that records
webhook events among them) never import ``video_jobs.api`` or DRF's views and serializers. Read from the
source, so that a Django process that happens to have the API loaded cannot hide an import."""

from __future__ import annotations

import ast
from pathlib import Path

import video_jobs

ROOT = Path(video_jobs.__file__).parent


def _module_file(name: str) -> Path | None:
    """The source file of a module of this project, or None for anything else."""
    if name != "video_jobs" and not name.startswith("video_jobs."):
        return None
    parts = name.split(".")[1:]
    package = ROOT.joinpath(*parts, "__init__.py")
    if package.is_file():
        return package
    module = ROOT.joinpath(*parts[:-1], parts[-1] + ".py") if parts else None
    return module if module is not None and module.is_file() else None


def _imports(name: str, path: Path) -> set[str]:
    """The modules ``name`` (at ``path``) imports, relative imports resolved."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            # ``from . import sql`` imports a module too.
            found |= {
                f"{module}.{alias.name}" for alias in node.names if _module_file(f"{module}.{alias.name}")
            }
    return found


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is not None:
            todo += sorted(_imports(name, path))
    return seen


def test_the_services_and_the_outbox_import_nothing_of_the_api() -> None:
    reached = _reachable("video_jobs.services")
    assert "video_jobs.webhooks.outbox" in reached  # the walk follows the services' imports
    api = sorted(name for name in reached if name.startswith("video_jobs.api"))
    # models.py imports DRF's token model (for the admin), nothing of its views or serializers.
    drf = sorted(
        name
        for name in reached
        if name.startswith("rest_framework") and not name.startswith("rest_framework.authtoken")
    )
    assert (api, drf) == ([], [])


def test_the_dispatcher_renders_bodies_with_the_api_serializer() -> None:
    # The other side of the split: rendering, at send time, is where the API comes in.
    assert "video_jobs.api.serializers" in _reachable("video_jobs.webhooks.bodies")
