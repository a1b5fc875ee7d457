"""Runs for tests/test_sweep.py: cheap, deterministic, and importable by name on workers
(Dask workers get this folder on their PYTHONPATH; joblib's processes inherit sys.path).

A config may carry "marker_dir": each call then leaves a file ``<seed>-<pid>-<random>`` there,
written before the run's work, so a test counts the calls of each config and sees which
process made them.
"""
import os
import secrets
import signal
import time
from pathlib import Path

import numpy as np


def fit(config):
    """Logistic regression by gradient descent on 64 points drawn from the config's seed:
    {"loss": final cross-entropy, "w": the weights}. Sleeps config["sleep"] seconds first."""
    _mark(config)
    time.sleep(config.get("sleep", 0))
    rng = np.random.default_rng(config["seed"])
    X = rng.standard_normal((64, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(64) > 0).astype(float)
    w = np.zeros(4)
    for _ in range(config.get("steps", 50)):
        p = 1 / (1 + np.exp(-(X @ w)))
        w -= config.get("lr", 0.5) * X.T @ (p - y) / len(y)
    p = np.clip(1 / (1 + np.exp(-(X @ w))), 1e-12, 1 - 1e-12)
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return {"loss": float(loss), "w": [float(v) for v in w]}


def crash_once(config):
    """Kill this process (SIGKILL) the first time a config with "crash" runs; ``fit`` after."""
    flag = Path(config["marker_dir"]) / f"crashed-{config['seed']}"
    if config.get("crash") and not flag.exists():
        flag.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return fit(config)


def crash_always(config):
    """Kill this process (SIGKILL) whenever a config with "crash" runs."""
    if config.get("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    return fit(config)


def fail(config):
    """Raise for a config with "fail"; ``fit`` otherwise."""
    if config.get("fail"):
        _mark(config)
        raise ValueError("this run fails")
    return fit(config)


def not_json(config):
    return {"loss": float("nan")}


def _mark(config):
    if "marker_dir" in config:
        name = f"{config['seed']}-{os.getpid()}-{secrets.token_hex(4)}"
        (Path(config["marker_dir"]) / name).touch()


def calls(marker_dir):
    """{seed: [pid of each call]} from the markers in ``marker_dir``."""
    seen = {}
    for path in Path(marker_dir).iterdir():
        seed, pid, _ = path.name.split("-") if path.name[0].isdigit() else (None, None, None)
        if seed is not None:
            seen.setdefault(int(seed), []).append(int(pid))
    return seen
