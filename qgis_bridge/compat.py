"""Keep QGIS alive with pip's torch: block triton where its bundled LLVM would crash QGIS.

Linux torch wheels ship `triton`, which bundles its own LLVM. QGIS's GUI loads Mesa's libLLVM for
OpenGL (llvmpipe, e.g. under Xvfb or without a GPU driver); importing triton's native module into
that process is a segmentation fault, and timm -> torchvision -> torch._dynamo imports triton.
Triton only serves torch.compile, which the engine does not use, so inside a QGIS GUI process (or
whenever libLLVM is already mapped) `import triton` is made to fail with ImportError, which torch
handles ("no triton"). Nothing changes in qgis_process, the CLI or tests without a display.
"""

from __future__ import annotations

import sys

_BLOCKED = False


def _llvm_loaded() -> bool:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            return "libLLVM" in fh.read()
    except OSError:
        return False


def _qgis_gui_on_screen() -> bool:
    try:
        from qgis.PyQt.QtWidgets import QApplication

        app = QApplication.instance()
        return app is not None and app.platformName() not in ("offscreen", "minimal", "")
    except Exception:
        return False


def avoid_triton_llvm_clash() -> bool:
    """Block `import triton` when it would crash this process; True when blocked (idempotent)."""
    global _BLOCKED
    if _BLOCKED:
        return True
    if not sys.platform.startswith("linux") or sys.modules.get("triton") is not None:
        return False
    if "triton" in sys.modules or _llvm_loaded() or _qgis_gui_on_screen():
        sys.modules["triton"] = None  # `import triton` -> ImportError: torch runs without it
        _BLOCKED = True
        try:
            from ..toolbelt.log import log

            log(
                "triton is disabled in this QGIS session: its bundled LLVM crashes QGIS when Mesa's "
                "libLLVM is loaded; inference does not need it"
            )
        except Exception:
            pass
    return _BLOCKED
