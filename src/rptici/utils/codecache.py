"""Generated source modules in the user's cache folder, so that numba can cache their machine code on disk.

numba caches a compiled function next to its source file and keys the cache on that file's contents, not on
the globals it reads from other modules. The engine's code reads constants from elsewhere (the model table's
indices, the solver's tableau, the right-hand side it calls), so :func:`generated_module` writes a copy of the
code *with those constants in its text* to ``<cache>/<name>_<hash of the text>.py`` and imports it: a change
of table, tableau or right-hand side gives another file, so a stale cache can never be loaded.

The folder is ``$RPTICI_CACHE_DIR``, else ``$XDG_CACHE_HOME/rptici`` (``~/.cache/rptici``); numba writes its
cache beside the files (``__pycache__``). ``RPTICI_CACHE_DIR=off`` (or an unwritable folder) turns the disk
cache off: the code is then compiled in memory in every process, as before.

Two processes may generate the same file at once: each writes a private temporary file and links it into
place only if the name is still free (a hard link does not replace), and numba itself replaces its cache
files atomically, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

try:  # POSIX: one process compiles while the others wait for its cache
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: Value of ``RPTICI_CACHE_DIR`` that turns the disk cache off.
OFF = "off"
_GENERATED: set[str] = set()  # names of the modules generated in this process
#: Threads of one process importing a generated module wait for each other: a module is in ``sys.modules``
#: before its code has run, and a second thread taking it from there would find it half-made (issue 15: two
#: chunks starting at once on the thread executor, "module 'kernel_...' has no attribute 'batch'").
_IMPORTING = threading.RLock()


def cache_dir() -> Path | None:
    """The folder of generated modules (created if needed), or None when the disk cache is off or unwritable."""
    configured = os.environ.get("RPTICI_CACHE_DIR")
    if configured is not None and configured.strip().lower() in (OFF, "0", "none", ""):
        return None
    if configured:
        folder = Path(configured).expanduser()
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rptici"
    folder = folder / "compiled"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return None
    return folder


def fingerprint(text: str) -> str:
    """A short hash of ``text`` (16 hex digits of SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _write_once(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it exists, atomically: another process sees the whole file or none."""
    if path.exists():
        return
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # written meanwhile by another process, with the same text (the name is its hash)
        except OSError:  # a file system without hard links
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def generated_module(name: str, text: str, package: str | None = None) -> ModuleType | None:
    """Import ``text`` as the module ``<name>_<fingerprint(text)>`` from the cache folder (written once).

    ``package``: the package its relative imports refer to. Returns the module already imported in this
    process when there is one, and None when the disk cache is off (the caller compiles in memory).
    """
    folder = cache_dir()
    if folder is None:
        return None
    stem = f"{name}_{fingerprint(text)}"
    qualified = f"{package}.{stem}" if package else stem
    with _IMPORTING:
        return sys.modules.get(qualified) or _import_generated(qualified, folder / f"{stem}.py", text)


def _import_generated(qualified: str, path: Path, text: str) -> ModuleType:
    """Write ``text`` to ``path`` (once) and import it as ``qualified`` (the caller holds :data:`_IMPORTING`)."""
    _write_once(path, text)
    spec = importlib.util.spec_from_file_location(qualified, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[qualified]
        raise
    _GENERATED.add(qualified)
    return module


def generated_name(module_name: str) -> str | None:
    """``module_name`` when it is a module generated by :func:`generated_module` in this process, else None."""
    return module_name if module_name in _GENERATED else None


def is_cached(module: ModuleType, function: str) -> bool:
    """Whether numba has a disk cache for ``function`` of a generated ``module`` (its index file exists)."""
    folder = Path(module.__file__).parent / "__pycache__"
    stem = Path(module.__file__).stem
    return any(folder.glob(f"{stem}.{function}-*.nbi"))


@contextlib.contextmanager
def compile_lock(module: ModuleType, on_wait=None):
    """Hold a lock on ``module``'s file while compiling it, so that processes starting together compile once:
    the others wait (calling ``on_wait()`` first) and then load the first one's cache (POSIX; elsewhere no lock)."""
    if fcntl is None:
        yield
        return
    with open(Path(module.__file__).with_suffix(".lock"), "a") as stream:
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(stream, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(stream, fcntl.LOCK_UN)
