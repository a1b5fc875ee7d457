"""Hypothesis strategies for the property tests: shapes, batches and well-scaled values."""
import numpy
from hypothesis import settings
from hypothesis import strategies as st


def examples(fraction=1.0, **kwargs):
    """@settings for a property test: ``fraction`` of the active profile's max_examples
    (never a fixed number, so `--hypothesis-profile=thorough` really explores more),
    no deadline (the first call of a test pays for imports and BLAS warm-up)."""
    n = max(1, round(settings.default.max_examples * fraction))
    return settings(max_examples=n, deadline=None, **kwargs)

batch_sizes = st.integers(1, 6)
widths = st.integers(1, 7)
seeds = st.integers(0, 2**31 - 1)


def matrices(rng_seed, rows, cols, scale=1.0):
    """A float64 (rows, cols) matrix of N(0, scale²) values from a seed."""
    return numpy.random.default_rng(rng_seed).standard_normal((rows, cols)) * scale


def away_from_kink(a, margin=1e-3):
    """Push values away from 0, where ReLU's derivative jumps (no finite difference there)."""
    return numpy.where(numpy.abs(a) < margin, numpy.sign(a + 1e-12) * margin * 2, a)


@st.composite
def batches(draw, max_width=7):
    """(seed, N, n_in, n_out) for a small dense problem."""
    return (draw(seeds), draw(batch_sizes), draw(st.integers(1, max_width)),
            draw(st.integers(1, max_width)))


def probabilities(seed, rows, cols):
    """A (rows, cols) array of values in (0.01, 0.99), as sigmoid outputs are."""
    return numpy.random.default_rng(seed).uniform(0.01, 0.99, (rows, cols))


def one_hot(seed, rows, cols):
    labels = numpy.random.default_rng(seed).integers(0, cols, rows)
    return numpy.eye(cols)[labels]


def to_xp(xp, a, dtype=numpy.float64):
    """A host array copied to the backend under test, in float64 by default."""
    return xp.asarray(numpy.asarray(a), dtype=dtype)
