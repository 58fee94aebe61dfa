import numpy as np

from seqlab.bands import align, band, seed_label, series_of


def test_band_at_shared_steps_is_numpys_mean_and_sample_std():
    rng = np.random.default_rng(0)
    steps = np.arange(0, 500, 10)
    values = rng.normal(2.0, 0.5, size=(5, len(steps)))
    b = band([(steps, v) for v in values])
    assert np.array_equal(b.step, steps) and np.all(b.n == 5)
    assert np.allclose(b.mean, values.mean(axis=0), rtol=0, atol=1e-12)
    assert np.allclose(b.std, values.std(axis=0, ddof=1), rtol=0, atol=1e-12)
    assert np.allclose(b.hi - b.lo, 2 * values.std(axis=0, ddof=1))


def test_vector_band_is_elementwise_over_seeds():
    rng = np.random.default_rng(1)
    steps = [5, 10, 15]
    vectors = rng.lognormal(size=(3, 3, 12))  # (seeds, steps, input steps t)
    b = band([(steps, v) for v in vectors])
    assert b.mean.shape == (3, 12)
    assert np.allclose(b.mean, vectors.mean(axis=0)) and np.allclose(b.std, vectors.std(axis=0, ddof=1))


def test_runs_logged_at_other_steps_are_interpolated_onto_the_union_of_steps():
    a = (np.array([0, 10, 20, 30]), np.array([4.0, 3.0, 2.0, 1.0]))
    b_ = (np.array([0, 20]), np.array([6.0, 2.0]))  # logs every 20 steps: at 10 it is halfway, 4.0
    b = band([a, b_])
    assert list(b.step) == [0, 10, 20, 30]
    assert np.allclose(b.mean[:3], [5.0, 3.5, 2.0])
    assert np.allclose(b.std[:3], np.std([[4.0, 3.0, 2.0], [6.0, 4.0, 2.0]], axis=0, ddof=1))
    # past its last step the second run says nothing: the mean is the first run's alone, no std
    assert b.n[3] == 1 and b.mean[3] == 1.0 and np.isnan(b.std[3])


def test_a_non_finite_record_is_left_out_not_bridged_over():
    steps = [0, 10, 20]
    b = band([(steps, [1.0, np.nan, 3.0]), (steps, [3.0, 5.0, 5.0]), (steps, [2.0, 6.0, 4.0])])
    assert list(b.n) == [3, 2, 3]
    assert np.isclose(b.mean[1], 5.5) and np.isclose(b.std[1], np.std([5.0, 6.0], ddof=1))


def test_vectors_of_other_lengths_pad_the_shorter_with_nothing():
    grid, values = align([([1], [[1.0, 2.0, 3.0]]), ([1], [[3.0, 4.0]])])
    assert values.shape == (2, 1, 3) and np.isnan(values[1, 0, 2])
    b = band([([1], [[1.0, 2.0, 3.0]]), ([1], [[3.0, 4.0]])])
    assert np.allclose(b.mean[0], [2.0, 3.0, 3.0]) and list(b.n[0]) == [2, 2, 1]


def test_no_runs_give_an_empty_band():
    b = band([])
    assert len(b.step) == 0 and b.mean.size == 0


def test_seed_labels_name_their_series():
    assert series_of(seed_label("lstm", 3)) == "lstm" and series_of("gru") == "gru"
