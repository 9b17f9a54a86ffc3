"""Background threads that must not slow the work that sets the pace."""

from __future__ import annotations

import os
import threading


def lower_thread_priority(niceness: int = 10) -> None:
    """Lower the calling thread's priority (Linux schedules threads on their own).

    Used as a thread-pool initializer: preparation and flattening may use whatever CPU is idle,
    while the request-response chain with a source, which sets the pace, comes first.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass  # not Linux, or not allowed: the thread simply keeps its priority
