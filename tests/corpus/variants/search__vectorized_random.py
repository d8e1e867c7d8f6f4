"""Random search drawing every sample up front (vectorized); train taken first in the split."""

import numpy as np


def train_val_test_split(N, val_frac=0.2, test_frac=0.2, seed=0):
    order = np.random.default_rng(seed).permutation(N)
    n_val, n_test = round(N * val_frac), round(N * test_frac)
    n_train = N - n_val - n_test
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


def random_search(objective, space, num_iters, seed=0):
    rng = np.random.default_rng(seed)
    samples = {}
    for name, (low, high, scale) in space.items():
        if scale == "log":
            draws = np.exp(np.log(low) + (np.log(high) - np.log(low)) * rng.random(num_iters))
        else:
            draws = low + (high - low) * rng.random(num_iters)
        samples[name] = np.clip(draws, low, high)
    values = []
    for i in range(num_iters):
        values.append(objective(**{name: float(s[i]) for name, s in samples.items()}))
    best = int(np.argmin(values))  # the first of equal minima
    return {name: float(s[best]) for name, s in samples.items()}, values[best]


def choose_ridge_lambda(X, y, lams, k=5):
    lams = np.sort(np.asarray(lams, dtype=float))
    errors = []
    for lam in lams:
        errors.append(cross_validate(lambda A, b: ridge_fit(A, b, lam),
                                     lambda w, A, b: np.mean((A @ w - b) ** 2), X, y, k))
    return lams[int(np.argmin(errors))]
