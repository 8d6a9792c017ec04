"""A command's whole process tree, sampled: resident memory and CPU time of it and every process it starts."""

import psutil


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its descendants (those that vanish mid-count count 0)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def tree_private_bytes(process: psutil.Process) -> int:
    """Resident bytes of the tree less its file-backed and shared pages (Linux ``rss - shared``).

    What the processes hold themselves; memory-mapped files the kernel can drop (a memory-mapped image
    cache, the libraries) are left out.
    """
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            info = member.memory_info()
            total += info.rss - getattr(info, "shared", 0)
        except psutil.Error:
            pass
    return total


def tree_cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds (user + system) of ``process``, its living descendants and the children it has waited for.

    A descendant that ended counts once its parent has waited for it (``children_user``/``children_system``);
    Beam's and TFX's worker processes are all waited for.
    """
    total = 0.0
    try:
        times = process.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
    except psutil.Error:
        return total
    for member in process.children(recursive=True):
        try:
            times = member.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total
