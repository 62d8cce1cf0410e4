"""The loader of the hand-tuned statements: named statements from a queries.sql file, names filled once."""

from __future__ import annotations

from pathlib import Path

import pytest

from video_jobs.api import reads as api_reads
from video_jobs.db import Names, fill, load_queries
from video_jobs.models import VideoAnalysisJob
from video_jobs.services import sql as services_sql
from video_jobs.webhooks import sql as webhooks_sql


def _queries(tmp_path: Path, text: str) -> Path:
    (tmp_path / "queries.sql").write_text(text)
    return tmp_path / "module.py"


def test_statements_are_read_by_name_with_names_filled_and_comments_dropped(tmp_path: Path) -> None:
    module = _queries(
        tmp_path,
        "-- what the file holds\n\n"
        "-- name: first\n-- why it is written so (100% of it)\nSELECT {job.status}\n  FROM {job};\n\n"
        "-- name: second\nSELECT {later} FROM {job} WHERE {job.owner} = %s\n",
    )
    queries = load_queries(str(module), job=Names(VideoAnalysisJob))
    table = VideoAnalysisJob._meta.db_table
    assert queries == {
        "first": f'SELECT "status"\n  FROM "{table}"',
        "second": f'SELECT {{later}} FROM "{table}" WHERE "owner_id" = %s',
    }
    assert fill(queries["second"], later="1").startswith("SELECT 1 FROM")


def test_two_statements_of_one_name_are_refused(tmp_path: Path) -> None:
    module = _queries(tmp_path, "-- name: twice\nSELECT 1\n-- name: twice\nSELECT 2\n")
    with pytest.raises(ValueError, match="twice"):
        load_queries(str(module))


def test_a_field_without_a_column_is_refused() -> None:
    with pytest.raises(AttributeError, match="no_such_field"):
        _ = Names(VideoAnalysisJob).no_such_field


def test_the_shipped_statements_have_every_name_filled() -> None:
    # Only the slots their callers compose are left open.
    open_slots = {"{assignments}", "{also}", "{finish}", "{events}", "{written}", "{claim}", "{source}"}
    open_slots |= {"{payload}", "{subscribed}", "{due}", "{insert}"}
    open_slots |= {"{lock}", "{url_valid_since}", "{clock}", "{columns}", "{values}", "{returning}"}
    for queries in (services_sql.QUERIES, webhooks_sql.QUERIES, api_reads.QUERIES):
        for name, statement in queries.items():
            left = {part[: part.index("}") + 1] for part in ("{" + s for s in statement.split("{")[1:])}
            assert left <= open_slots, name
