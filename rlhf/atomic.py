"""Writing a file or a whole directory so a reader (or a crash) sees the old one or the new one,
never a part: write a hidden sibling, then rename it into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, TypeVar

T = TypeVar("T")


def write_file(path: str | Path, write: Callable[[BinaryIO], T]) -> T:
    """Calls write(f) on a temp file next to `path`, fsyncs it and renames it over `path`;
    returns what `write` returned. On any error the temp file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            result = write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


def write_dir(out: str | Path, fill: Callable[[Path], None]) -> Path:
    """Calls fill(tmp_dir) on a temp directory next to `out`, then puts it in place of `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        fill(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
