"""Every path a command writes, checked in one place before any model loads.

A command that generates for an hour must not then fail to save what it made, and must never
replace what it reads. So each command first declares its writes (`plan_writes`): the files it
will write (outputs, partial results, reports, plots), the folders they go in, and the paths it
reads (data, run files, the response cache). The plan resolves links, refuses a write that lands
on a read (or on the cache, which may not exist yet), refuses a file path that is a folder, and
creates and test-writes every folder, so a failure is one line before any work. Files are then
written by `w2s.jsonl.write_atomic` (a new temporary name, renamed into place): a rename
replaces a link, it never writes through it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from w2s.errors import W2SError

PathLike = str | Path


def _real(path: PathLike) -> str:
    """The path with every link resolved, whether or not it exists yet."""
    return os.path.realpath(os.path.expanduser(str(path)))


def plan_writes(files: Iterable[PathLike], *, reads: Iterable[PathLike | None] = (), cache: PathLike | None = None,
                folders: Iterable[PathLike] = (), option: str = "--output") -> None:
    """Refuse, before any work, a plan whose writes would destroy a read or cannot be made.

    `files` are written; `reads` are read (None entries are ignored); `cache` is the response
    cache file, read and written by this command, so no other output may be it; `folders` are
    created and must be writable (each file's folder is, too). `option` names the setting to
    change in the message.
    """
    files = [Path(f) for f in files]
    protected = {_real(r): f"one of its inputs ({r})" for r in reads if r is not None}
    if cache is not None:
        protected[_real(cache)] = f"the response cache ({cache})"
        _check_folder(Path(cache).parent, "--cache")
    for file in files:
        real = _real(file)
        if real in protected:
            raise W2SError(f"{file}: this command writes this file, but it is {protected[real]}; choose another "
                           f"{option}{' or --cache' if 'cache' in protected[real] else ''}")
        if os.path.isdir(real):
            raise W2SError(f"{file}: is a folder; this command writes a file there")
    for folder in {*map(Path, folders), *(f.parent for f in files)}:
        _check_folder(folder, option)


def _check_folder(folder: Path, option: str) -> None:
    """Create `folder` (and its parents) and prove it writable with a throwaway file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".w2s-write-test-")
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        raise W2SError(f"{folder}: cannot be created (a file is in the way); choose another {option}") from None
    except NotADirectoryError:
        raise W2SError(f"{folder}: cannot be created (part of its path is a file); choose another {option}") from None
    except OSError as err:
        raise W2SError(f"{folder}: cannot be written ({err.strerror or err}); choose another {option}") from None
