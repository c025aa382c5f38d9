"""keep_freed_memory: glibc thresholds set where it is glibc, nothing done when asked not to."""

import ctypes

import pytest

from probgates.infer import allocator, keep_freed_memory


def _is_glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "gnu_get_libc_version")
    except OSError:
        return False


@pytest.mark.skipif(not _is_glibc(), reason="needs glibc")
def test_keep_freed_memory_sets_the_glibc_thresholds(monkeypatch):
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # idempotent


def test_system_setting_leaves_the_allocator_alone(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "_glibc", lambda: calls.append("looked up"))
    monkeypatch.setenv(allocator.ENV_VAR, "System")
    assert keep_freed_memory() is False
    assert calls == []


def test_no_glibc_means_nothing_changes(monkeypatch):
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert keep_freed_memory() is False
