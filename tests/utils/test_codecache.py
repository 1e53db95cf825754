"""Generated modules in the cache folder: written once, named by their text, locked while compiled (issue 19, item 3)."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from rptici.utils import codecache


def test_a_module_is_named_by_its_text_and_written_once(tmp_path, monkeypatch):
    monkeypatch.setenv("RPTICI_CACHE_DIR", str(tmp_path))
    first = codecache.generated_module("toy", "VALUE = 1\n")
    again = codecache.generated_module("toy", "VALUE = 1\n")
    other = codecache.generated_module("toy", "VALUE = 2\n")
    try:
        assert first is again and first.VALUE == 1 and other.VALUE == 2
        assert first.__name__ != other.__name__
        assert sorted(path.name for path in (tmp_path / "compiled").glob("toy_*.py")) == sorted(
            [first.__name__ + ".py", other.__name__ + ".py"])
        assert codecache.generated_name(first.__name__) == first.__name__
        assert codecache.generated_name("math") is None
    finally:
        for module in (first, other):
            sys.modules.pop(module.__name__, None)


def test_writing_an_existing_file_keeps_it(tmp_path):
    path = tmp_path / "module_abc.py"
    codecache._write_once(path, "A = 1\n")
    codecache._write_once(path, "A = 1\n")
    assert path.read_text() == "A = 1\n" and [item.name for item in tmp_path.iterdir()] == ["module_abc.py"]


@pytest.mark.parametrize("value", ["off", "0", ""])
def test_the_disk_cache_can_be_turned_off(tmp_path, monkeypatch, value):
    monkeypatch.setenv("RPTICI_CACHE_DIR", value)
    assert codecache.cache_dir() is None
    assert codecache.generated_module("toy", "VALUE = 3\n") is None


@pytest.mark.skipif(codecache.fcntl is None, reason="file locks are POSIX")
def test_a_second_compiler_waits_for_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("RPTICI_CACHE_DIR", str(tmp_path))
    module = codecache.generated_module("toy", "VALUE = 4\n")
    waited = []
    try:
        def second() -> None:
            with codecache.compile_lock(module, lambda: waited.append("second")):
                waited.append("second compiles")

        with codecache.compile_lock(module, lambda: waited.append("first")):
            thread = threading.Thread(target=second)
            thread.start()
            thread.join(0.5)
            assert waited == ["second"] and thread.is_alive()  # blocked until the first releases the lock
        thread.join(5)
        assert waited == ["second", "second compiles"]
    finally:
        sys.modules.pop(module.__name__, None)


def test_threads_never_see_a_half_imported_module(tmp_path, monkeypatch):
    # issue 19: chunks on the local thread executor imported the generated kernel at once; one thread took the
    # module from sys.modules before its code had run ("module 'kernel_...' has no attribute 'batch'")
    monkeypatch.setenv("RPTICI_CACHE_DIR", str(tmp_path))
    text = "import time\ntime.sleep(0.2)\n\ndef batch():\n    return 42\n"
    def complete(_: int):
        module = codecache.generated_module("race", text)
        return module, hasattr(module, "batch")  # at the moment each thread receives it

    with ThreadPoolExecutor(8) as pool:
        modules, complete_when_received = zip(*pool.map(complete, range(8)))
    try:
        assert all(complete_when_received)
        assert len({id(module) for module in modules}) == 1
    finally:
        sys.modules.pop(modules[0].__name__, None)
