"""Lists where arrays are expected, round-half-up sizes, np.exp/np.log log-uniform sampling."""

import itertools

import numpy as np


def train_val_test_split(N, val_frac=0.2, test_frac=0.2, seed=0):
    rng = np.random.default_rng(seed)
    order = rng.choice(N, size=N, replace=False).tolist()
    n_test = int(N * test_frac + 0.5)
    n_val = int(N * val_frac + 0.5)
    return order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]


def k_fold_indices(N, k):
    pairs = []
    for fold in np.array_split(range(N), k):
        held_out = set(fold.tolist())
        pairs.append(([i for i in range(N) if i not in held_out], fold.tolist()))
    return pairs


def cross_validate(fit, error, X, y, k):
    total = 0.0
    for train, val in k_fold_indices(len(X), k):
        train, val = np.asarray(train, dtype=int), np.asarray(val, dtype=int)
        total += error(fit(X[train], y[train]), X[val], y[val])
    return total / k


def grid_search(objective, grid):
    results = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid.keys(), values))
        results.append((objective(**params), params))
    best = min(range(len(results)), key=lambda i: results[i][0])  # min keeps the first tie
    return results[best][1], results[best][0]


def random_search(objective, space, num_iters, seed=0):
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(num_iters):
        params = {}
        for name, (low, high, scale) in space.items():
            if scale == "log":
                value = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            else:
                value = float(rng.uniform(low, high))
            params[name] = float(np.clip(value, low, high))
        value = objective(**params)
        if best is None or value < best[1]:
            best = (params, value)
    return best


def choose_ridge_lambda(X, y, lams, k=5):
    def score(lam):
        return cross_validate(lambda Xt, yt: ridge_fit(Xt, yt, lam),
                              lambda w, Xv, yv: np.mean((Xv @ w - yv) ** 2), X, y, k)

    errors = [(score(lam), lam) for lam in lams]
    return min(errors)[1]  # least error, then smallest lam on a tie
