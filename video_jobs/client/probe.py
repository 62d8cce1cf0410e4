"""What kind of video a file is, from its first bytes: the client refuses anything else before it hashes or
sends a byte (a file's name says nothing; ``notes.txt`` renamed ``notes.mp4`` is still notes).

Only the containers the service accepts are recognised; the worker still decodes the whole file, so a file
that starts like a video but is broken fails there, with its reason.
"""

from __future__ import annotations

from pathlib import Path

# Enough for every signature below (an EBML header names its doctype within its first few dozen bytes).
HEAD = 64
ACCEPTED = "MP4, MOV, WebM, Matroska or AVI"
# ISO base media brands (the ftyp box's major brand) that mean QuickTime rather than MP4.
QUICKTIME_BRANDS = (b"qt  ",)
# QuickTime files from some cameras start with one of these atoms rather than ftyp.
QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def video_type(path: Path) -> str | None:
    """The content type to declare for ``path``, or None when it is not a video the service accepts."""
    with path.open("rb") as source:
        head = source.read(HEAD)
    return type_of(head)


def type_of(head: bytes) -> str | None:
    box = head[4:8]
    if box == b"ftyp":
        return "video/quicktime" if head[8:12] in QUICKTIME_BRANDS else "video/mp4"
    if box in QUICKTIME_ATOMS:
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or WebM by its doctype
        return "video/webm" if b"webm" in head else "video/x-matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    return None
