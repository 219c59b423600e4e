"""The triton guard: in a QGIS GUI with Mesa's libLLVM loaded, `import triton` must fail cleanly."""

from __future__ import annotations

import sys

import pytest
from eurosat_landcover.qgis_bridge import compat


@pytest.fixture
def fresh_guard(monkeypatch):
    for name in [n for n in sys.modules if n == "triton" or n.startswith("triton.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(compat, "_BLOCKED", False)
    return monkeypatch


def test_blocks_triton_when_llvm_is_loaded(fresh_guard):
    fresh_guard.setattr(compat, "_llvm_loaded", lambda: True)
    assert compat.avoid_triton_llvm_clash()
    with pytest.raises(ImportError):
        import triton  # noqa: F401
    assert compat.avoid_triton_llvm_clash()  # idempotent


def test_leaves_triton_alone_offscreen(fresh_guard, qgis_app):
    fresh_guard.setattr(compat, "_llvm_loaded", lambda: False)
    assert not compat.avoid_triton_llvm_clash()  # offscreen test app, no libLLVM
    assert "triton" not in sys.modules or sys.modules["triton"] is not None
