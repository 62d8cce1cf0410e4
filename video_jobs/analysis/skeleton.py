"""BlazePose's skeleton: the 33 landmark names and their connections, the joint angles a coach reads, and
the skeleton drawn over a picture.

Landmarks are ``[x, y, visibility]`` rows, x and y normalised to the frame (0-1, a little outside when a
joint is predicted beyond the edge). Angles are measured in pixels (normalised coordinates would bend
them by the frame's aspect ratio); a joint whose landmarks are not seen well enough has no angle.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

# MediaPipe's PoseLandmark order (a test checks it against the installed package).
LANDMARKS = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
_INDEX = {name: index for index, name in enumerate(LANDMARKS)}

# The skeleton's bones (MediaPipe's POSE_CONNECTIONS, sorted): face, arms and hands, trunk, legs and feet.
CONNECTIONS = (
    (0, 1), (0, 4), (1, 2), (2, 3), (3, 7), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (11, 23), (12, 14), (12, 24), (13, 15), (14, 16),
    (15, 17), (15, 19), (15, 21), (16, 18), (16, 20), (16, 22), (17, 19), (18, 20),
    (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (27, 31), (28, 30), (28, 32), (29, 31), (30, 32),
)  # fmt: skip

# Landmarks below this visibility (MediaPipe's own estimate, 0-1) are "not seen well enough".
MIN_VISIBILITY = 0.5

# Joint angles: the angle at the middle landmark between the other two, 0-180 degrees (180: straight).
JOINTS = {
    "left_elbow": ("left_shoulder", "left_elbow", "left_wrist"),
    "right_elbow": ("right_shoulder", "right_elbow", "right_wrist"),
    "left_knee": ("left_hip", "left_knee", "left_ankle"),
    "right_knee": ("right_hip", "right_knee", "right_ankle"),
}
# Tilts: the line between a left and a right landmark against the horizontal, -90 to 90 degrees, positive
# when the left one is higher in the picture (whichever way the player faces).
TILTS = {
    "shoulder_tilt": ("left_shoulder", "right_shoulder"),
    "hip_tilt": ("left_hip", "right_hip"),
}
ANGLES = (*JOINTS, *TILTS)


def angles(points: NDArray[Any], width: int, height: int) -> dict[str, float | None]:
    """Every angle of one frame's landmarks (a 33x3 array) in a ``width`` x ``height`` picture, in degrees;
    None where a landmark it needs is below MIN_VISIBILITY."""
    pixels = points[:, :2] * np.array([width, height], dtype=np.float64)
    seen = points[:, 2] >= MIN_VISIBILITY
    found: dict[str, float | None] = {}
    for name, (a, b, c) in JOINTS.items():
        ia, ib, ic = _INDEX[a], _INDEX[b], _INDEX[c]
        if not (seen[ia] and seen[ib] and seen[ic]):
            found[name] = None
            continue
        u, v = pixels[ia] - pixels[ib], pixels[ic] - pixels[ib]
        norms = float(np.linalg.norm(u) * np.linalg.norm(v))
        cosine = float(np.dot(u, v)) / norms if norms else 1.0
        found[name] = math.degrees(math.acos(max(-1.0, min(1.0, cosine))))
    for name, (left, right) in TILTS.items():
        il, ir = _INDEX[left], _INDEX[right]
        if not (seen[il] and seen[ir]):
            found[name] = None
            continue
        dx, dy = pixels[il] - pixels[ir]
        # Image y grows downwards: the left landmark is higher when the right one's y is larger.
        found[name] = math.degrees(math.atan2(-dy, abs(dx)))
    return found


def activity(before: NDArray[Any], after: NDArray[Any], width: int, height: int, seconds: float) -> float:
    """How fast the player moves between two frames' landmarks: the mean speed, in pixels a second, of the
    landmarks seen in both (0.0 when none is)."""
    seen = (before[:, 2] >= MIN_VISIBILITY) & (after[:, 2] >= MIN_VISIBILITY)
    if not seen.any() or seconds <= 0:
        return 0.0
    scale = np.array([width, height], dtype=np.float64)
    moved = np.linalg.norm((after[seen, :2] - before[seen, :2]) * scale, axis=1)
    return float(moved.mean()) / seconds


_BONE = (255, 255, 255)
_OUTLINE = (0, 0, 0)
_JOINT = (255, 64, 32)


def draw(picture: NDArray[Any], points: NDArray[Any]) -> NDArray[Any]:
    """The skeleton drawn over an RGB picture (a copy): white bones outlined in black, red joints, only
    what is seen well enough."""
    import cv2  # here: only the analysis child draws, and OpenCV costs every importer 300 MB of address space

    canvas = np.ascontiguousarray(picture).copy()
    height, width = canvas.shape[:2]
    scale = max(1, round(width / 320))
    xy = [(round(float(x) * width), round(float(y) * height)) for x, y, _ in points.tolist()]
    seen = [visibility >= MIN_VISIBILITY for _, _, visibility in points.tolist()]
    for colour, thickness in ((_OUTLINE, 3 * scale), (_BONE, scale + 1)):
        for a, b in CONNECTIONS:
            if seen[a] and seen[b]:
                cv2.line(canvas, xy[a], xy[b], colour, thickness, cv2.LINE_AA)
    for point, visible in zip(xy, seen, strict=True):
        if visible:
            cv2.circle(canvas, point, 2 * scale, _JOINT, -1, cv2.LINE_AA)
    return canvas


def description() -> dict[str, Any]:
    """The skeleton as pose-track.json describes it: landmark names and connections (index pairs)."""
    return {"landmarks": list(LANDMARKS), "connections": [list(pair) for pair in CONNECTIONS]}
