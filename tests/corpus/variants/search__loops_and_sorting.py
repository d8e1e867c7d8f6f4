"""A k-fold loop that builds folds by hand, cross-validation summing then dividing, a grid search
by recursion over the names, a search that keeps (value, index) pairs, an argsort-based lambda."""

import numpy as np


def k_fold_indices(N, k):
    base, extra = divmod(N, k)
    pairs, start = [], 0
    for i in range(k):
        stop = start + base + (1 if i < extra else 0)
        val = np.arange(start, stop)
        train = np.concatenate([np.arange(0, start), np.arange(stop, N)]).astype(np.int64)
        pairs.append((train, val))
        start = stop
    return pairs


def cross_validate(fit, error, X, y, k):
    X, y = np.asarray(X), np.asarray(y)
    total = 0.0
    for train, val in k_fold_indices(X.shape[0], k):
        model = fit(np.take(X, train, axis=0), np.take(y, train, axis=0))
        total = total + error(model, np.take(X, val, axis=0), np.take(y, val, axis=0))
    return total / k


def grid_search(objective, grid):
    names = list(grid.keys())
    best = {"params": None, "value": None}

    def visit(i, chosen):
        if i == len(names):
            value = objective(**chosen)
            if best["params"] is None or value < best["value"]:
                best["params"], best["value"] = dict(chosen), value
            return
        for option in grid[names[i]]:
            chosen[names[i]] = option
            visit(i + 1, chosen)
        del chosen[names[i]]

    visit(0, {})
    return best["params"], best["value"]


def random_search(objective, space, num_iters, seed=0):
    rng = np.random.default_rng(seed)
    tried = []
    for i in range(num_iters):
        params = {}
        for name, (low, high, scale) in space.items():
            if scale == "log":
                params[name] = float(10 ** rng.uniform(np.log10(low), np.log10(high)))
            else:
                params[name] = float(rng.uniform(low, high))
            params[name] = min(high, max(low, params[name]))
        tried.append((objective(**params), i, params))
    value, _, params = min(tried, key=lambda entry: (entry[0], entry[1]))
    return params, value


def choose_ridge_lambda(X, y, lams, k=5):
    lams = list(lams)
    errors = []
    for lam in lams:
        errors.append(cross_validate(lambda A, b: ridge_fit(A, b, lam),
                                     lambda w, A, b: float(((A @ w - b) ** 2).mean()), X, y, k))
    order = np.lexsort((np.asarray(lams, dtype=float), np.asarray(errors)))  # error, then lam
    return lams[int(order[0])]
