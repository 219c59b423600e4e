"""Which Python packages the engine needs and which of them the running Python lacks.

Checked with importlib's finders only, so nothing heavy (torch) is imported at plugin load.
"""

import importlib.util
import sys

# import name -> pip package name
REQUIRED_PACKAGES = {
    "numpy": "numpy<2",
    "torch": "torch",
    "torchvision": "torchvision",
    "timm": "timm",
    "safetensors": "safetensors",
}


def is_importable(name: str) -> bool:
    """True when `import name` can be expected to succeed, without importing it."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_packages() -> list:
    """pip names of the required packages that cannot be imported."""
    return [pip_name for name, pip_name in REQUIRED_PACKAGES.items() if not is_importable(name)]


def install_command(packages: list) -> str:
    """The command that installs `packages` into the Python that runs QGIS, keeping numpy below 2
    (Debian's and OSGeo4W's GDAL and QGIS bindings are built against numpy 1.x)."""
    python = sys.executable if "python" in (sys.executable or "").lower() else "python3"
    names = [p for p in packages if not p.startswith("numpy")] + ["numpy<2"]
    return f"{python} -m pip install " + " ".join(f'"{n}"' if "<" in n else n for n in names)


def missing_message(packages: list) -> str:
    """One readable sentence naming the missing packages and the command to install them."""
    return (
        f"EuroSAT Land Cover needs the Python package(s) {', '.join(packages)}, which the Python "
        f"running QGIS cannot import. Install them with:\n{install_command(packages)}\n"
        "then restart QGIS."
    )
