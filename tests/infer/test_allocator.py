"""keep_freed_memory: glibc thresholds set where it is glibc, nothing done when asked not to."""

import pytest

from probgates.infer import allocator, keep_freed_memory


@pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc")
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
