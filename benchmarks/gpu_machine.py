"""What a machine offers gpu_check.py: an NVIDIA GPU, the CUDA major version its driver
supports, the CuPy wheel that matches it, a package registry (or none), and the CuPy and
PyTorch its Python already has.

Nothing here imports CuPy: it may be missing, or broken, and a broken import must not take
the check down with it, so ``python_stack`` asks a child process.

    gpu = probe_gpu()        # {"gpus": ["NVIDIA H200"], "driver": "580.159.03",
                             #  "cuda_major": 13, "why": None}
    cupy_wheel(13)           # "cupy-cuda13x[ctk]>=14"
"""
import ctypes
import json
import os
import re
import socket
import subprocess
import sys
import urllib.parse

# The newest CuPy wheel for each CUDA major version, newest first. A driver runs code built
# for its own CUDA major and every older one, so a driver newer than the newest entry gets
# the newest wheel. [ctk] brings NVIDIA's CUDA libraries (cuBLAS, NVRTC, cuRAND) from the
# registry: the machine then needs only a driver. CUDA 11 stops at CuPy 13, without [ctk].
WHEELS = ((13, "cupy-cuda13x[ctk]>=14"), (12, "cupy-cuda12x[ctk]>=14"), (11, "cupy-cuda11x>=13"))

# The oldest Linux driver of each CUDA major (CUDA's release notes, "CUDA Toolkit and
# Corresponding Driver Versions"), for an nvidia-smi that does not print "CUDA Version".
DRIVERS = ((580, 13), (525, 12), (450, 11))


def cupy_wheel(cuda_major):
    """The pip requirement of the CuPy wheel for a driver of CUDA ``cuda_major``; None when
    no CuPy wheel runs on a driver that old (before CUDA 11)."""
    if cuda_major is None:
        return None
    return next((wheel for major, wheel in WHEELS if cuda_major >= major), None)


def smi_cuda_major(text):
    """The CUDA major version in nvidia-smi's banner ("... CUDA Version: 13.0 |"), or None."""
    match = re.search(r"CUDA Version:\s*(\d+)\.\d+", text)
    return int(match[1]) if match else None


def driver_cuda_major(driver):
    """The CUDA major version a driver ("580.159.03") supports, from DRIVERS; None if older."""
    match = re.match(r"\s*(\d+)\.", driver or "")
    if not match:
        return None
    return next((cuda for oldest, cuda in DRIVERS if int(match[1]) >= oldest), None)


def smi_gpus(text):
    """[(name, driver version)] from ``nvidia-smi --query-gpu=name,driver_version
    --format=csv,noheader``: one "NVIDIA H200, 580.159.03" line per GPU."""
    rows = [line.rsplit(",", 1) for line in text.splitlines() if line.count(",") >= 1]
    return [(name.strip(), driver.strip()) for name, driver in rows
            if name.strip() and re.match(r"\d+\.", driver.strip())]


def _run(argv, timeout):
    """(exit status, stdout + stderr) of a command; (None, why) if it cannot be started."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return None, f"{argv[0]}: not found"
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"{argv[0]}: {e}"
    return done.returncode, done.stdout + done.stderr


def driver_api(libcuda="libcuda.so.1"):
    """(device count, CUDA major, why) from the CUDA driver library itself, for machines
    without nvidia-smi. why is None when the driver answered."""
    try:
        lib = ctypes.CDLL(libcuda)
    except OSError:
        return 0, None, f"CUDA driver: {libcuda} not loadable"
    version, count = ctypes.c_int(0), ctypes.c_int(0)
    if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return 0, None, "CUDA driver: cuDriverGetVersion failed"
    major = version.value // 1000
    status = lib.cuInit(0)
    if status != 0:
        return 0, major, f"CUDA driver: cuInit failed with error {status}"
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return 0, major, "CUDA driver: no device"
    return count.value, major, None


def probe_gpu(nvidia_smi="nvidia-smi", libcuda="libcuda.so.1", timeout=30):
    """{"gpus": [names], "driver": version or None, "cuda_major": int or None, "why": None,
    or one line saying why there is no usable GPU}. nvidia-smi first; the driver API when
    nvidia-smi is missing or finds nothing."""
    status, text = _run([nvidia_smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                        timeout)
    gpus = smi_gpus(text) if status == 0 else []
    if gpus:
        driver = gpus[0][1]
        banner_status, banner = _run([nvidia_smi], timeout)
        major = smi_cuda_major(banner) if banner_status == 0 else None
        _, api_major, _ = (0, None, None) if major else driver_api(libcuda)
        return {"gpus": [name for name, _ in gpus], "driver": driver,
                "cuda_major": major or api_major or driver_cuda_major(driver), "why": None}
    smi_why = (text.strip().splitlines() or ["no GPU listed"])[-1] if status is not None else text
    count, major, api_why = driver_api(libcuda)
    if count:
        return {"gpus": [f"CUDA device {i}" for i in range(count)], "driver": None,
                "cuda_major": major, "why": None}
    return {"gpus": [], "driver": None, "cuda_major": major,
            "why": f"nvidia-smi: {smi_why.removeprefix(nvidia_smi + ': ')}; {api_why}"}


def index_host():
    """(host, port) that pip would contact first: the proxy if one is set, else the index
    (PIP_INDEX_URL, else PyPI)."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urllib.parse.urlsplit(proxy or os.environ.get("PIP_INDEX_URL")
                                or "https://pypi.org/simple")
    return url.hostname, url.port or (443 if url.scheme == "https" else 80)


def registry_reachable(timeout=5.0):
    """True when the package registry (or the proxy to it) accepts a connection."""
    host, port = index_host()
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


# Run in a child by python_stack: what this Python has, and whether CuPy can compute on
# the GPU (a reduction needs NVRTC to compile its kernel, the commonest missing piece).
PROBE = r"""
import json, platform
out = {"python": platform.python_version()}
import numpy
out["numpy"] = numpy.__version__
try:
    import cupy
except Exception as e:
    out["cupy_error"] = f"{type(e).__name__}: {e}"
    out["cupy_missing"] = isinstance(e, ModuleNotFoundError) and e.name == "cupy"
else:
    out["cupy"] = cupy.__version__
    try:
        rt = cupy.cuda.runtime
        out["cuda_runtime"], out["cuda_driver"] = rt.runtimeGetVersion(), rt.driverGetVersion()
        out["cupy_devices"] = rt.getDeviceCount()
        out["cupy_gpu"] = rt.getDeviceProperties(0)["name"].decode()
        assert int(cupy.arange(4).sum()) == 6
    except Exception as e:
        out["cupy_error"] = f"{type(e).__name__}: {e}".splitlines()[0]
try:
    import torch
    out["torch"], out["torch_cuda"] = torch.__version__, torch.version.cuda
    out["torch_sees_gpu"] = torch.cuda.is_available()
except Exception as e:
    out["torch_error"] = f"{type(e).__name__}: {e}".splitlines()[0]
print("PROBE " + json.dumps(out))
"""


def python_stack(python=sys.executable, env=None, timeout=120):
    """What ``python`` has: versions of Python, NumPy, CuPy, PyTorch, the CUDA runtime and
    driver CuPy sees; "cupy_error" (and "cupy_missing": True when it is not installed) if
    CuPy cannot compute on the GPU; "probe_error" if the child itself failed."""
    try:
        done = subprocess.run([python, "-c", PROBE], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"probe_error": f"no answer in {timeout} s", "cupy_error": "probe timed out"}
    for line in done.stdout.splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[len("PROBE "):])
    why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return {"probe_error": why, "cupy_error": why}
