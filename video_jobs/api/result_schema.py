"""The schema of a job's ``result`` (what ``analysis.analyze_video`` and the worker's ``_store`` write).

Only documentation: the worker writes ``result`` as JSON and the API hands it back as stored. Every key is
optional here because other analyzers (``noop_analyzer``: ``{"analyzer": "noop", "artifacts": {}}``) write
a subset, and results stored by earlier releases may lack the newer keys.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class VideoInfoSerializer(serializers.Serializer[Any]):
    container = serializers.CharField(help_text="FFmpeg's name of the container format.")
    codec = serializers.CharField()
    duration_seconds = serializers.FloatField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    fps = serializers.FloatField(allow_null=True, help_text="Null when the stream declares no rate.")
    frames = serializers.IntegerField(help_text="Frames decoded.")


class MotionSegmentSerializer(serializers.Serializer[Any]):
    start_seconds = serializers.FloatField()
    end_seconds = serializers.FloatField()
    peak = serializers.FloatField()
    mean = serializers.FloatField()


class MotionSerializer(serializers.Serializer[Any]):
    sample_interval_seconds = serializers.FloatField()
    timeline_interval_seconds = serializers.FloatField()
    timeline = serializers.ListField(
        child=serializers.FloatField(), help_text="Peak activity per timeline interval, from the start."
    )
    median = serializers.FloatField()
    threshold = serializers.FloatField(allow_null=True, help_text="Null when too few frames were sampled.")
    segments = MotionSegmentSerializer(many=True, help_text="Spans of play above the threshold.")


class PosterSerializer(serializers.Serializer[Any]):
    artifact = serializers.CharField(help_text="The name of the poster's entry in artifacts.")
    time_seconds = serializers.FloatField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class SourceSerializer(serializers.Serializer[Any]):
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="Lowercase hex SHA-256 of the bytes the worker downloaded.")
    etag = serializers.CharField()


class ArtifactSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text="The artifact's S3 key.")
    content_type = serializers.CharField()
    size_bytes = serializers.IntegerField()


class AnalysisResultSerializer(serializers.Serializer[Any]):
    video = VideoInfoSerializer(required=False)
    motion = MotionSerializer(required=False)
    poster = PosterSerializer(required=False)
    # DRF's metaclass takes declared fields out of the class, so this does not shadow Field.source.
    source = SourceSerializer(required=False, help_text="The video as the worker downloaded it.")  # type: ignore[assignment]
    artifacts = serializers.DictField(
        child=ArtifactSerializer(), required=False, help_text="Files the analysis stored, by name."
    )
    analyzer = serializers.CharField(required=False, help_text="Set by analyzers other than the default.")
