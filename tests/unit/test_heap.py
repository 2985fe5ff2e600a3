"""Freed memory kept in the training process (ast_lobes.training.heap),
judged by the kernel's own count of the process's page faults."""

import os
import platform
import subprocess
import sys

import pytest

from ast_lobes.training import heap

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# An image stem's training step (8 MiB activations), the faults it costs
STEPS = """
import resource, sys
import torch
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    from ast_lobes.training.heap import keep_freed_memory
    print(keep_freed_memory())
stem = torch.nn.Sequential(
    torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.GELU(),
    torch.nn.BatchNorm2d(8), torch.nn.Conv2d(8, 8, 3, padding=1),
)
image = torch.randn(8, 1, 128, 250)
stem(image).sum().backward()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    stem(image).sum().backward()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults_of_steps(mode, **environment):
    """The log line (with ``keep``) and the page faults of five steps
    in a new process."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith("MALLOC_") and key != "GLIBC_TUNABLES"
    }  # fmt: skip
    env.update(environment)
    lines = subprocess.run(
        [sys.executable, "-c", STEPS, mode], env=env, check=True,
        capture_output=True, text=True, timeout=300,
    ).stdout.splitlines()  # fmt: skip
    return lines[:-1], int(lines[-1])


@pytest.mark.skipif(not GLIBC, reason="glibc's thresholds")
def test_kept_memory_spares_the_steps_page_faults():
    _, faults_by_default = faults_of_steps("default")
    lines, faults_kept = faults_of_steps("keep")
    assert lines[0].startswith("freed memory kept for the next steps")
    # glibc's default returns the 8 MiB blocks every step: thousands
    # of faults a step, against about a sixth of them when kept
    assert faults_by_default > 5000
    assert faults_kept * 3 < faults_by_default


@pytest.mark.skipif(not GLIBC, reason="glibc's thresholds")
def test_thresholds_set_in_the_environment_are_left_alone():
    lines, faults = faults_of_steps("keep", MALLOC_TRIM_THRESHOLD_="0")
    assert lines == [
        "freed memory: glibc's thresholds as the environment sets them "
        "(MALLOC_TRIM_THRESHOLD_)"
    ]
    assert faults > 5000  # trimmed at every free, as the user asked


def test_another_c_library_keeps_its_own_policy(monkeypatch):
    for key in heap.ENVIRONMENT_KEYS + ("GLIBC_TUNABLES",):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    line = heap.apply_thresholds(1024, 32)
    assert line == "freed memory: the C library's own policy (not glibc)"
