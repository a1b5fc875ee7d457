"""Measuring what a call allocates: the memory bounds the hostile-input tests state."""
import tracemalloc


def peak_while(call, expected=()):
    """The call's result (or the ``expected`` error it raised) and the peak bytes Python
    allocated meanwhile (tracemalloc: NumPy's arrays included)."""
    tracemalloc.start()
    try:
        result = call()
    except expected as e:
        result = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak
