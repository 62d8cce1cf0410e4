"""The stable error codes of a failed job and what a client can do about each: the table the API, the
coaches' page and webhooks show, apart from the models that store them (it imports only Django's choices)."""

from __future__ import annotations

from django.db import models


class ErrorCode(models.TextChoices):
    """Stable error codes. Clients branch on these: never change their spelling."""

    UPLOAD_MISSING = "upload_missing", "Upload missing"
    UPLOAD_SIZE_MISMATCH = "upload_size_mismatch", "Upload size mismatch"
    UPLOAD_TOO_LARGE = "upload_too_large", "Upload too large"
    UPLOAD_EXPIRED = "upload_expired", "Upload expired"
    UPLOAD_CHANGED = "upload_changed", "Upload changed after verification"
    UPLOAD_CHECKSUM_MISMATCH = "upload_checksum_mismatch", "Upload checksum mismatch"
    INVALID_VIDEO = "invalid_video", "Invalid video"
    VIDEO_LIMITS_EXCEEDED = "video_limits_exceeded", "Video limits exceeded"
    ANALYSIS_TIMEOUT = "analysis_timeout", "Analysis timed out"
    ANALYSIS_CRASHED = "analysis_crashed", "Analysis crashed"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted", "Attempts exhausted"
    LOST = "lost", "Lost (lease expired too many times)"


# What a client can do now about a job that failed with each code, in its own terms: the end of the job's
# error_message (machinery.failed_fields), which the API, the coaches' page and webhooks all show. A failed
# job takes no more uploads, so the way on is always a new upload.
NEXT_STEP = {
    ErrorCode.UPLOAD_MISSING: "Start a new upload of the video: this job takes no more uploads.",
    ErrorCode.UPLOAD_SIZE_MISMATCH: "Start a new upload that declares the file's exact size.",
    ErrorCode.UPLOAD_TOO_LARGE: "Start a new upload of a smaller video.",
    ErrorCode.UPLOAD_EXPIRED: "Start a new upload and send the video before its deadline.",
    ErrorCode.UPLOAD_CHANGED: "Start a new upload, and send each video to its own upload only once.",
    ErrorCode.UPLOAD_CHECKSUM_MISMATCH: "Start a new upload that declares the file's own SHA-256 (or none).",
    ErrorCode.INVALID_VIDEO: "Start a new upload with a video file (MP4, MOV, MKV, WebM or AVI).",
    ErrorCode.VIDEO_LIMITS_EXCEEDED: "Start a new upload of a shorter or lower-resolution video.",
    ErrorCode.ANALYSIS_TIMEOUT: "Start a new upload of a shorter video.",
    ErrorCode.ANALYSIS_CRASHED: "Start a new upload; if the same video fails again, convert it to MP4 first.",
    ErrorCode.ATTEMPTS_EXHAUSTED: "Start a new upload of the video in a few minutes.",
    ErrorCode.LOST: "Start a new upload of the video in a few minutes.",
}

# The longest error_message (and error_detail) kept: a message past it is cut (tracebacks from native code can
# be huge).
ERROR_MESSAGE_MAX_LENGTH = 2000
