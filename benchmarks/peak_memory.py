"""Peak resident memory of this process (Linux ``/proc``), for benchmarks."""


def reset_peak_rss():
    """Resets the peak resident set size (VmHWM) to the current one."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def peak_rss_mb():
    """Peak resident set size (VmHWM) in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
