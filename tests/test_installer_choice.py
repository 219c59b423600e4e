"""The PyTorch build chosen from simulated detection inputs, the refusals, pruning, Remove and the device line."""

import subprocess
import sys
from pathlib import Path

import pytest
from eurosat_landcover.toolbelt import installer
from eurosat_landcover.toolbelt.deps_folder import add_to_sys_path
from eurosat_landcover.toolbelt.torch_build import (
    Machine,
    TorchSource,
    choose_source,
    detect_machine,
    fallback_to_default,
)

# What `nvidia-smi` prints on a machine with an H100 and a driver supporting CUDA 13.0 (banner shortened).
SMI_QUERY = "NVIDIA H100 80GB HBM3, 580.95.05\n"
SMI_BANNER = """
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 580.95.05              Driver Version: 580.95.05      CUDA Version: 13.0     |
+-----------------------------------------------------------------------------------------+
"""


def _smi(query=SMI_QUERY, banner=SMI_BANNER):
    calls = []

    def run(command):
        calls.append(command)
        return query if any(a.startswith("--query-gpu") for a in command) else banner

    return run, calls


def test_detects_an_nvidia_gpu_from_nvidia_smi():
    run, calls = _smi()
    machine = detect_machine(run=run, which=lambda name: "/usr/bin/nvidia-smi", system="Linux", arch="x86_64")
    assert machine == Machine("Linux", "x86_64", "NVIDIA H100 80GB HBM3", "580.95.05", (13, 0))
    assert calls[0][0] == "/usr/bin/nvidia-smi"


@pytest.mark.parametrize(
    ("which", "query"),
    [(lambda name: None, SMI_QUERY), (lambda name: "/usr/bin/nvidia-smi", None), (lambda name: "/x", "")],
    ids=["no nvidia-smi", "nvidia-smi fails (no driver loaded)", "no GPU listed"],
)
def test_no_usable_nvidia_gpu(which, query):
    run, _ = _smi(query=query)
    machine = detect_machine(run=run, which=which, system="Linux", arch="x86_64")
    assert machine.gpu is None
    source = choose_source(machine)
    assert (source.kind, source.index_url) == ("cpu", "https://download.pytorch.org/whl/cpu")


@pytest.mark.parametrize(
    ("cuda", "kind", "index"),
    [
        ((13, 0), "cuda", "https://download.pytorch.org/whl/cu130"),
        ((13, 1), "cuda", "https://download.pytorch.org/whl/cu130"),
        ((12, 9), "cuda", "https://download.pytorch.org/whl/cu128"),
        ((12, 6), "cuda", "https://download.pytorch.org/whl/cu126"),
        ((12, 4), "cpu", "https://download.pytorch.org/whl/cpu"),
        ((11, 8), "cpu", "https://download.pytorch.org/whl/cpu"),
    ],
)
@pytest.mark.parametrize("system", ["Linux", "Windows"])
def test_cuda_build_follows_the_driver(cuda, kind, index, system):
    banner = SMI_BANNER.replace("CUDA Version: 13.0", f"CUDA Version: {cuda[0]}.{cuda[1]}")
    run, _ = _smi(banner=banner)
    machine = detect_machine(run=run, which=lambda name: "nvidia-smi", system=system, arch="x86_64")
    source = choose_source(machine)
    assert (source.kind, source.index_url) == (kind, index)
    assert "H100" in source.reason
    if kind == "cpu":
        assert "update the NVIDIA driver" in source.reason


def test_platforms_without_nvidia():
    assert choose_source(Machine("Darwin", "arm64")).kind == "default"  # Apple silicon: PyPI's build has MPS
    assert choose_source(Machine("Darwin", "arm64")).index_url is None
    windows = choose_source(Machine("Windows", "AMD64"))
    assert (windows.kind, windows.index_url) == ("cpu", None)  # PyPI's Windows build is the CPU one
    intel_mac = choose_source(Machine("Darwin", "x86_64"))
    assert intel_mac.refusal and "Intel" in intel_mac.refusal


def test_unreachable_torch_index_falls_back_to_the_default_index():
    source = fallback_to_default(choose_source(Machine("Linux", "x86_64")), "Name or service not known")
    assert source.index_url is None and source.kind == "cpu"
    assert "download.pytorch.org/whl/cpu cannot be reached (Name or service not known)" in source.reason
    assert source.pip_options() == []
    cuda = TorchSource("cuda", "https://download.pytorch.org/whl/cu130", "GPU")
    assert cuda.pip_options() == ["--extra-index-url", "https://download.pytorch.org/whl/cu130"]


def test_the_chosen_index_goes_to_pip_for_torch_only():
    cpu = choose_source(Machine("Linux", "x86_64"))
    assert installer.index_options(cpu, ["torch", "timm"]) == ["--extra-index-url", cpu.index_url]
    assert installer.index_options(cpu, ["timm"]) == []
    assert installer.index_options(cpu, ["torchvision"], "https://mirror/simple") == [
        "--index-url",
        "https://mirror/simple",
        "--extra-index-url",
        "https://download.pytorch.org/whl/cpu",
    ]


def test_the_plan_falls_back_when_the_pytorch_index_is_unreachable(tmp_path):
    """torch is in the venv already, so pip resolves without downloading; the plan says it fell back."""

    def probe(url):
        return "simulated: unreachable" if "download.pytorch.org" in url else None

    linux = Machine("Linux", "x86_64")
    plan = installer.make_plan(["torch>=2.14,<2.15"], target=tmp_path / "t", machine=linux, probe=probe)
    assert plan.packages == [] and plan.index_options == [] and plan.source.index_url is None
    assert "cannot be reached (simulated: unreachable); using the default package index" in plan.source.reason


def test_refused_without_network(tmp_path):
    """A real connection to a closed local port: refused before anything is downloaded, with a manual command."""
    with pytest.raises(installer.InstallRefused) as refused:
        installer.make_plan(["tifffile"], target=tmp_path / "deps", index_url="http://127.0.0.1:9/simple")
    assert "http://127.0.0.1:9/simple cannot be reached" in refused.value.reason
    assert "pip install --target" in refused.value.manual and "tifffile" in refused.value.manual
    assert not (tmp_path / "deps").exists()


def test_refused_without_pip(tmp_path):
    """A Python without pip (a venv made --without-pip): refused, with how to get pip and the command."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "nopip")], check=True, timeout=120)
    python = str(tmp_path / "nopip" / "bin" / "python")
    assert installer.pip_problem(python) == f"pip is not installed for {python}"
    with pytest.raises(installer.InstallRefused) as refused:
        installer.make_plan(["tifffile"], target=tmp_path / "deps", python=python)
    assert "pip is not installed" in refused.value.reason
    assert "pip install --target" in refused.value.manual


def test_refused_for_an_intel_mac(tmp_path):
    with pytest.raises(installer.InstallRefused) as refused:
        installer.make_plan(["torch"], target=tmp_path / "d", machine=Machine("Darwin", "x86_64"), probe=lambda u: None)
    assert "Intel Macs" in str(refused.value)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("debian", "--target"),
        ("osgeo4w", "OSGeo4W Shell"),
        ("macos-app", "In Terminal run"),
        ("flatpak", "flatpak run --command=python3 org.qgis.qgis -m pip install --target"),
        ("conda", "conda install -c conda-forge pytorch"),
    ],
)
def test_manual_instructions_per_platform(monkeypatch, kind, expected):
    monkeypatch.setattr(installer, "platform_kind", lambda: kind)
    text = installer.manual_instructions(["torch", "timm"], target=Path("/p/eurosat_landcover_deps/py3.11"))
    assert expected in text
    if kind != "conda":
        assert "'torch>=2.14,<2.15'" in text and "'timm>=0.9.16,<1.1'" in text and "numpy==" in text


def test_prune_protected_keeps_the_plugins_packages(tmp_path):
    for name in ("numpy", "numpy-1.24.2.dist-info", "numpy.libs", "osgeo", "tifffile", "tifffile-2026.3.3.dist-info"):
        (tmp_path / name).mkdir()
    removed = installer.prune_protected(tmp_path)
    assert sorted(removed) == ["numpy", "numpy-1.24.2.dist-info", "numpy.libs", "osgeo"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tifffile", "tifffile-2026.3.3.dist-info"]


def test_remove_deletes_the_folder_and_nothing_else(tmp_path):
    root = tmp_path / "eurosat_landcover_deps"
    (root / "py3.11" / "pkg").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    assert installer.remove(root) == root
    assert not root.exists() and (tmp_path / "other").is_dir()
    assert installer.remove(root) is None
    with pytest.raises(installer.InstallFailed):
        installer.remove(tmp_path / "other")


def test_remove_of_a_folder_in_use_finishes_at_the_next_load(tmp_path, monkeypatch):
    """Windows keeps loaded libraries locked: Remove leaves a marker, the plugin's next load deletes the folder."""
    root = tmp_path / "eurosat_landcover_deps"
    (root / "py3.11" / "torch").mkdir(parents=True)

    def locked(self, target):
        raise PermissionError(13, "The process cannot access the file because it is being used")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "rename", locked)
        marker = installer.remove(root)
        assert marker.name == "eurosat_landcover_deps.remove-pending" and marker.is_file() and root.is_dir()
        with pytest.raises(installer.InstallFailed, match="in use by this QGIS session"):
            installer.repair_plan(target=root / "py3.11")
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert add_to_sys_path(root / "py3.11") is False
    assert not root.exists() and not marker.exists() and str(root / "py3.11") not in sys.path


def test_add_to_sys_path_puts_the_folder_first(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert add_to_sys_path(tmp_path / "absent") is False
    assert add_to_sys_path(tmp_path) is True and sys.path[0] == str(tmp_path)
    assert add_to_sys_path(tmp_path) is True and sys.path.count(str(tmp_path)) == 1


def test_add_to_sys_path_removes_a_numpy_copy_first(tmp_path, monkeypatch):
    """A folder filled by the manual command holds numpy too: it is removed before the folder goes first."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy-1.24.2.dist-info").mkdir()
    (tmp_path / "tifffile").mkdir()
    assert add_to_sys_path(tmp_path) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tifffile"]


@pytest.mark.parametrize(
    ("probe", "machine", "text", "warning"),
    [
        ({"torch": "2.14.1+cu130", "cuda_build": "13.0", "cuda": True, "gpus": ["NVIDIA H100"], "mps": False},
         Machine("Linux", "x86_64", "NVIDIA H100", "580", (13, 0)), "GPU: NVIDIA H100", None),
        ({"torch": "2.14.1+cpu", "cuda_build": None, "cuda": False, "gpus": [], "mps": False},
         Machine("Linux", "x86_64", "NVIDIA H100", "580", (13, 0)), "CPU", "is a CPU build"),
        ({"torch": "2.14.1+cu130", "cuda_build": "13.0", "cuda": False, "gpus": [], "mps": False},
         Machine("Linux", "x86_64", "NVIDIA T4", "525", (12, 0)), "CPU", "which driver 525 cannot run"),
        ({"torch": "2.14.1", "cuda_build": None, "cuda": False, "gpus": [], "mps": True},
         Machine("Darwin", "arm64"), "Apple GPU (MPS)", None),
        ({"torch": "2.14.1+cpu", "cuda_build": None, "cuda": False, "gpus": [], "mps": False},
         Machine("Linux", "x86_64"), "no GPU found", None),
    ],
)  # fmt: skip
def test_device_summary(probe, machine, text, warning):
    line, warn = installer.device_summary(probe, machine)
    assert text in line
    assert (warn is None) if warning is None else (warning in warn and "Repair" in warn)


def test_python_for_pip_skips_another_python_on_path(tmp_path, monkeypatch):
    """Inside QGIS sys.executable may be a `python3` found on PATH that is another interpreter (a pyenv shim):
    pip must run with this Python, so a candidate that reports another installation is skipped."""
    shim = tmp_path / "python3"
    shim.write_text("#!/bin/sh\necho 3 11 /root/.pyenv/versions/3.11.7\n")
    shim.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(shim))
    found = installer.python_for_pip()
    assert found is not None and found != str(shim)
    assert Path(found).parent == Path(sys.exec_prefix) / "bin"
