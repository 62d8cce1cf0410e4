"""The schema of a job's ``result`` (what ``analysis.analyze_video`` and the worker's ``_store`` write).

Only documentation: the worker writes ``result`` as JSON and the API hands it back as stored. Every key is
optional here because other analyzers (``noop_analyzer``: ``{"analyzer": "noop", "artifacts": {}}``) write
a subset, and results stored by earlier releases may lack the newer keys.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
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


class PosePictureSerializer(serializers.Serializer[Any]):
    artifact = serializers.CharField(help_text="The name of the picture's entry in artifacts (pose.jpg).")
    time_seconds = serializers.FloatField(help_text="The moment shown: where the player moves fastest.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()


@extend_schema_field(
    {
        "type": "array",
        "maxItems": 600,
        "items": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": {"type": "number", "nullable": True},
            "description": "[seconds, degrees]; degrees null where the joint is not seen well enough.",
        },
    }
)
class AngleTimelineField(serializers.ListField):
    pass


def _timeline(help_text: str) -> AngleTimelineField:
    return AngleTimelineField(help_text=help_text)


class PoseAnglesSerializer(serializers.Serializer[Any]):
    left_elbow = _timeline("Angle at the left elbow (shoulder-elbow-wrist), 0-180 degrees; 180 is straight.")
    right_elbow = _timeline("Angle at the right elbow, 0-180 degrees.")
    left_knee = _timeline("Angle at the left knee (hip-knee-ankle), 0-180 degrees.")
    right_knee = _timeline("Angle at the right knee, 0-180 degrees.")
    shoulder_tilt = _timeline(
        "The shoulder line against the horizontal, -90 to 90 degrees; positive: the left shoulder is higher."
    )
    hip_tilt = _timeline("The hip line against the horizontal, like shoulder_tilt.")


class PoseSerializer(serializers.Serializer[Any]):
    model = serializers.CharField(help_text="The pose model and its version.")
    sample_fps = serializers.FloatField(help_text="Frames a second sampled (fewer for long videos).")
    sampled_frames = serializers.IntegerField()
    person_frames = serializers.IntegerField(help_text="Sampled frames in which a person was found.")
    detected_fraction = serializers.FloatField(help_text="person_frames / sampled_frames, 0-1.")
    track = serializers.CharField(help_text="The name of the landmark track's entry in artifacts.")
    picture = PosePictureSerializer(allow_null=True, help_text="Null when nobody was found.")
    angles = PoseAnglesSerializer(help_text="Timelines of at most 600 points each.")


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
    pose = PoseSerializer(required=False, help_text="The player's pose; absent when pose analysis is off.")
    # DRF's metaclass takes declared fields out of the class, so this does not shadow Field.source.
    source = SourceSerializer(required=False, help_text="The video as the worker downloaded it.")  # type: ignore[assignment]
    artifacts = serializers.DictField(
        child=ArtifactSerializer(), required=False, help_text="Files the analysis stored, by name."
    )
    analyzer = serializers.CharField(required=False, help_text="Set by analyzers other than the default.")
