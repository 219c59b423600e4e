"""The plugin loads without torch and says which packages are missing and how to install them."""

import subprocess
import sys
import textwrap

import eurosat_landcover
import pytest
from eurosat_landcover.toolbelt import dependencies, installer

BLOCKED = ("torch", "torchvision", "timm")


class _BlockImports:
    """A meta-path finder that makes `import torch` (and friends) fail as if not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


@pytest.fixture
def without_torch(monkeypatch):
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_BlockImports(), *sys.meta_path])
    with pytest.raises(ImportError):
        __import__("torch")
    return BLOCKED


def test_missing_packages_are_named(without_torch):
    missing = dependencies.missing_packages()
    assert {"torch", "torchvision", "timm"} <= set(missing)
    command = installer.install_command(missing)
    assert "pip install --target" in command and "'torch>=2.14,<2.15'" in command and "numpy==" in command


def test_plugin_loads_and_explains_without_torch(without_torch, iface):
    plugin = eurosat_landcover.classFactory(iface)
    plugin.initGui()
    try:
        warnings = iface.messageBar().get_messages(1)  # Qgis.Warning
        assert any("torch" in m and "pip install" in m for m in warnings), warnings
        plugin.action.trigger()
        assert plugin.dock is not None and plugin.dock.isVisible()
        notice = plugin.dock.notice
        assert notice is not None and notice.isVisibleTo(plugin.dock)
        assert "torch" in notice.text() and "pip install" in notice.text()
    finally:
        plugin.unload()


def test_plugin_modules_do_not_import_torch_at_load(repo_root):
    """Importing the plugin package and plugin.py in a fresh interpreter imports no torch."""
    code = textwrap.dedent(
        """
        import sys
        import eurosat_landcover, eurosat_landcover.plugin
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchvision", "timm"})
        print(heavy)
        assert not heavy, heavy
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
