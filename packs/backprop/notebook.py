# The notebook of the backprop pack, in the "percent" format: `grader assign --pack` builds
# assignment.ipynb from it. `# %% [setup]` and `# %% [writefile] NAME.py` are filled in by the
# engine (the standard set-up cell; a file's stubs and the cell running its public checks).

# %% [markdown]
# # Assignment: Backpropagation
#
# Last time we trained linear classifiers with gradients we derived by hand for the whole
# loss at once. For a network of several layers that derivation gets out of hand; instead we
# **backpropagate**: every layer knows only how to compute its output from its input (the
# forward pass) and how to turn the gradient of the loss with respect to its output into the
# gradients with respect to its inputs (the backward pass, one application of the chain rule).
# Chaining the backward passes in reverse order gives the gradient of the loss for every
# parameter.
#
# You implement, in NumPy, an affine (fully connected) layer and the ReLU, forward and
# backward, then assemble them into a two-layer classifier
# `affine - relu - affine - softmax` with its loss and gradients, and train it on a small
# dataset that no linear classifier can separate.
#
# **How to work.** Each of the two files, `layers.py` and `net.py`, has a section below with a
# `%%writefile NAME.py` cell holding it: fill in each region between
# `# ==== YOUR CODE HERE ====` and `# ==== END OF YOUR CODE ====` (replace the
# `raise NotImplementedError(...)` line) and run the cell to save the file. The cells after it
# check your code and use it; a function you have not written yet prints
# `not implemented yet: ...` instead of failing. Read each docstring: it gives the shapes, what
# to return and what not to use.
#
# **Conventions.** A batch `x` has shape `(N, D)`, one example per row; an affine layer has
# weights `w` of shape `(D, M)` and a bias `b` of shape `(M,)`, and computes `x @ w + b`. A
# backward function gets `dout`, the gradient of the loss with respect to the layer's output,
# and returns one gradient per input, each of the shape of its input. Use NumPy only (no torch
# in your files), and never modify an array argument.

# %% [setup]

# %% [markdown]
# ## 1. Layers (`layers.py`)
#
# An **affine layer** maps `x` to `out = x @ w + b`. Given `dout = dL/dout`, the chain rule
# gives `dx = dout @ w.T`, `dw = x.T @ dout` and, because the same bias is added to every
# row, `db` is `dout` summed over the rows. A quick check that you have the products the right
# way round: every gradient has the shape of the thing it is the gradient of.
#
# The **ReLU** `max(0, x)` passes the upstream gradient through the units that are on
# (`x > 0`) and blocks it at the others. At `x == 0` the ReLU has a kink; we use the
# subgradient 0 there, as PyTorch does.
#
# Implement `affine_forward`, `affine_backward`, `relu_forward` and `relu_backward`.
#
# Questions to think about:
#
# - Why does `affine_backward` need `x` (and `relu_backward` need `x`) from the forward pass?
#   What would a framework have to keep in memory for a deep network?
# - If a hidden unit's input is negative for every example, what are the gradients of its
#   incoming weights? (This is a "dead" ReLU.)
# - Why is `db` a sum over the examples and not a mean?

# %% [writefile] layers.py

# %%
layers = fresh("layers")


def numeric_gradient(f, a, h=1e-6):
    """Centered differences of the scalar function f at the array a (one entry at a time)."""
    a = a.astype(float)
    grad = np.zeros_like(a)
    for ix in np.ndindex(a.shape):
        old = a[ix]
        a[ix] = old + h
        up = f(a)
        a[ix] = old - h
        down = f(a)
        a[ix] = old
        grad[ix] = (up - down) / (2 * h)
    return grad


rng = np.random.default_rng(0)
x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5)
dout = rng.normal(size=(4, 5))

with unless_missing():
    # The scalar "loss" sum(dout * out) has exactly dout as its gradient for out, so the numeric
    # gradient of it checks the backward pass.
    dx, dw, db = layers.affine_backward(dout, x, w, b)
    numeric_dw = numeric_gradient(lambda w_: np.sum(dout * layers.affine_forward(x, w_, b)), w)
    print("affine: largest |dw - numeric dw| =", np.max(np.abs(dw - numeric_dw)))
    print("db equals dout summed over the rows:", np.allclose(db, dout.sum(axis=0)))

with unless_missing():
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    print("relu:         ", layers.relu_forward(z))
    print("its gradient: ", layers.relu_backward(np.ones_like(z), z))  # 0 at z = 0 too

# %% [markdown]
# ## 2. A two-layer network (`net.py`)
#
# The network computes `scores = relu(X @ W1 + b1) @ W2 + b2` and charges the softmax
# cross-entropy of the scores, averaged over the `N` examples, plus the penalty
# `reg * (sum(W1**2) + sum(W2**2))` (the biases are not penalized). Its forward pass is your
# layers in order; its backward pass starts from the gradient of the loss with respect to the
# scores, `(softmax(scores) - one_hot(y)) / N`, and goes through the same layers in reverse.
#
# Implement `two_layer_loss(X, y, params, reg)`: it returns the loss and a dict `grads` with a
# gradient for each of `W1`, `b1`, `W2`, `b2`. Import your layers by name (the file does so
# already); the grader checks `net.py` with the course's own layers, so a mistake in
# `layers.py` costs points only there. Keep the softmax stable: subtract each row's largest
# score before exponentiating.
#
# Questions to think about:
#
# - What is the loss at initialization, when the weights are tiny and every score is about 0?
#   (Compare with `log(C)`.)
# - Why does the gradient of `reg * sum(W**2)` have a factor 2?
# - Over the classes, what do the entries of `grads["b2"]` sum to when `reg = 0`? Why?

# %% [writefile] net.py

# %%
layers = fresh("layers")
net = fresh("net")

# A gradient check of the whole network on a small random problem.
rng = np.random.default_rng(1)
X_small, y_small = rng.normal(size=(5, 4)), rng.integers(0, 3, size=5)
params = {
    "W1": rng.normal(size=(4, 6)),
    "b1": rng.normal(size=6),
    "W2": rng.normal(size=(6, 3)),
    "b2": rng.normal(size=3),
}

with unless_missing():
    loss, grads = net.two_layer_loss(X_small, y_small, params, reg=0.1)
    for key, value in params.items():

        def loss_of(moved, key=key):
            return net.two_layer_loss(X_small, y_small, {**params, key: moved}, reg=0.1)[0]

        numeric = numeric_gradient(loss_of, value, h=1e-5)
        mine = grads[key]
        error = np.max(np.abs(mine - numeric) / np.maximum(1e-8, np.abs(mine) + np.abs(numeric)))
        print(f"{key}: relative error {error:.1e}")  # about 1e-7 or smaller when it is right

# %%
# Three interleaved spirals, one class each: no straight line separates them.
rng = np.random.default_rng(0)
points, classes = 100, 3
X_spiral = np.zeros((points * classes, 2))
y_spiral = np.repeat(np.arange(classes), points)
for c in range(classes):
    radius = np.linspace(0.0, 1.0, points)
    angle = np.linspace(4.0 * c, 4.0 * (c + 1), points) + 0.2 * rng.normal(size=points)
    X_spiral[c * points : (c + 1) * points] = np.column_stack(
        [radius * np.sin(angle), radius * np.cos(angle)]
    )

hidden = 50
params = {
    "W1": 0.5 * rng.normal(size=(2, hidden)),
    "b1": np.zeros(hidden),
    "W2": 0.5 * rng.normal(size=(hidden, classes)),
    "b2": np.zeros(classes),
}

with unless_missing():
    # Full-batch gradient descent, step size 1.
    for step in range(1001):
        loss, grads = net.two_layer_loss(X_spiral, y_spiral, params, reg=1e-3)
        params = {key: params[key] - 1.0 * grads[key] for key in params}
        if step % 200 == 0:
            print(f"step {step:4d}: loss {loss:.3f}")
    hidden_units = layers.relu_forward(layers.affine_forward(X_spiral, params["W1"], params["b1"]))
    scores = layers.affine_forward(hidden_units, params["W2"], params["b2"])
    print(f"training accuracy: {np.mean(np.argmax(scores, axis=1) == y_spiral):.0%}")
