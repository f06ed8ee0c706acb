"""Reading raw bytes of dataset files, gzip-aware, with errors that name the file."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from PIL import Image

from fixynn.errors import FixynnError

GZIP_MAGIC = b"\x1f\x8b"


def read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, gunzipped if it starts with the gzip magic (whatever its name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FixynnError(f"{path}: file not found; check the dataset root") from None
    except OSError as exc:
        raise FixynnError(f"{path}: cannot read ({exc.strerror}); check permissions") from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise FixynnError(
            f"{path}: corrupt or truncated gzip ({exc}); re-download or reinstall the file"
        ) from None


def find_first(directory: Path, names: tuple[str, ...]) -> Path | None:
    """The first of `names` that exists as a file in `directory`."""
    for name in names:
        if (directory / name).is_file():
            return directory / name
    return None


def read_image(path: Path, mode: str) -> Image.Image:
    """Decode an image fully (so truncation shows here, not later) and convert it to `mode`."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert(mode)
    except FileNotFoundError:
        raise FixynnError(f"{path}: file not found; check the dataset root") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise FixynnError(f"{path}: unreadable image ({exc}); replace or remove the file") from None
