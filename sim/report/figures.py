"""Saving a figure the one way every hivesim plot is saved: PNG at ``DPI`` and reproducible SVG.

The PNG is sharp enough for slides (``DPI`` = 150). The SVG keeps its text as ``<text>``
(``svg.fonttype: none``: searchable and editable) and is byte-identical across re-renders of the
same run: no date in its metadata and a fixed ``svg.hashsalt`` for the ids matplotlib generates
(clip paths, markers), which are otherwise random per render. Report, compare, sweep and
prediction all save through ``save_figure``.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

__all__ = ["DPI", "SVG_RC", "save_figure", "img_size"]

DPI = 150
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "hivesim"}


def save_figure(fig, stem: Path | None = None, formats=("png", "svg")) -> bytes:
    """Write ``stem.png`` / ``stem.svg`` (those in ``formats``; none when ``stem`` is None); -> PNG bytes.

    The layout is computed once for the PNG and kept for the SVG, so both show the same picture.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    png = buf.getvalue()
    if stem is None:
        return png
    stem = Path(stem)
    if "png" in formats:
        stem.with_name(stem.name + ".png").write_bytes(png)
    if "svg" in formats:
        fig.set_layout_engine("none")  # keep the layout just computed: the SVG needs no second pass
        with matplotlib.rc_context(SVG_RC):
            fig.savefig(stem.with_name(stem.name + ".svg"), format="svg", metadata={"Date": None})
    return png


def img_size(png: bytes) -> str:
    """``width=.. height=..`` of an <img> showing ``png`` at its figure's size (96 CSS px per
    inch): every plot's text then reads at one size in a page, and stays sharp on dense screens."""
    import struct
    if png[12:16] != b"IHDR":
        return ""
    w, h = struct.unpack(">II", png[16:24])
    return f"width={round(w * 96 / DPI)} height={round(h * 96 / DPI)}"
