"""Output directories that are never left half-written and never clobber a user's files.

:func:`replacing` builds a result in a temporary directory beside ``out`` and, when the block
succeeds, swaps it into place; ``out`` may be replaced only if it does not exist, is empty, or
holds an earlier result of the same command (``is_ours``).  On any error the temporary
directory is removed and ``out`` is untouched.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ewssim.errors import InputError


def check_replaceable(out: Path, is_ours: Callable[[Path], bool], what: str) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink() and (not any(out.iterdir()) or is_ours(out)):
        return
    raise InputError(f"exists and is not {what}; refusing to replace it (choose another "
                     "--out or remove it)", source=str(out), field="--out")


@contextmanager
def replacing(out: str | Path, is_ours: Callable[[Path], bool], what: str) -> Iterator[Path]:
    """``with replacing(out, is_ours, "an ewssim report") as tmp:`` write into ``tmp``."""
    out = Path(out)
    check_replaceable(out, is_ours, what)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as exc:
        raise InputError(f"cannot create the output directory: {exc.strerror or exc}",
                         source=str(out), field="--out") from None
    try:
        tmp.chmod(0o755)
        yield tmp
        old = None
        if out.exists():
            old = parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
