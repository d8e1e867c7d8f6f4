# The notebook of this pack, in the "percent" format: `grader assign` builds assignment.ipynb
# from it. `# %% [markdown]` starts a markdown cell (each line behind "# "), `# %%` a code cell;
# `# %% [setup]` is the standard set-up cell and `# %% [writefile] NAME.py` the cell holding
# that file's stubs followed by the cell that runs its public checks (docs/AUTHORING.md).

# %% [markdown]
# # Assignment: Loss Functions and Optimization
#
# In this assignment you implement, in NumPy, the pieces of the lecture: the softmax
# cross-entropy and multiclass SVM (hinge) losses with L2, L1 and elastic-net penalties; their
# gradients and the numeric gradient check; gradient descent, minibatch SGD, SGD with momentum
# and Adam; step and cosine learning-rate decay; validation splits, k-fold cross-validation, grid
# and random search; and finally the two losses as PyTorch autograd functions with a hand-written
# backward pass.
#
# **How to work.** The code lives in six files, one section each below. Every section has a
# `%%writefile NAME.py` cell holding that file: fill in each region between
# `# ==== YOUR CODE HERE ====` and `# ==== END OF YOUR CODE ====` (replace the
# `raise NotImplementedError(...)` line), then run the cell to save the file. The cells after it
# use your functions the way the lecture does; a function you have not written yet prints
# `not implemented yet: ...` instead of failing. Read each docstring: it gives the shapes, what
# to return and what not to use.
#
# **Conventions.** `X` has shape `(N, D)` (one example per row), `y` holds `N` integer labels in
# `[0, C)`, `W` has shape `(D, C)` and the scores are `S = X @ W`, shape `(N, C)`. The slides
# write `f(x, W) = Wx` with `W` of shape `C x D`; we use the transpose, as CS231n and EECS 498
# do. Losses return a number; functions must not modify their array arguments (the `*_step`
# optimizer updates may). See `README.md` for how to test and submit your work.

# %% [setup]

# %% [markdown]
# ## 1. Losses and penalties (`losses.py`)
#
# A linear classifier scores every class: `S = X @ W`. A **loss** says how unhappy we are with
# those scores. The **softmax cross-entropy** turns each row into probabilities and charges
# `-log` of the probability of the correct class; the **multiclass SVM (hinge) loss** charges
# every wrong class that comes within `margin` of the correct one. A **penalty** `R(W)` (L2, L1
# or elastic net) prefers simple weights; **ridge regression** is least squares with an L2
# penalty, with a closed-form solution.
#
# Implement `softmax`, `cross_entropy_loss`, `svm_loss`, `squared_svm_loss`, `l2_penalty`,
# `l1_penalty`, `elastic_net_penalty` and `ridge_fit`. Keep them stable: scores as large as
# `1e4` must give finite results (subtract each row's maximum first).
#
# Questions from the lecture to think about (the grader checks that your code behaves this way):
#
# - What are the smallest and largest possible cross-entropy losses? Can it be negative?
# - What happens to the cross-entropy as the correct class's score grows? As it shrinks?
# - What is the cross-entropy when all `C` scores are equal?
# - Does the cross-entropy change if you add the same constant to every score of a row?
# - What is the hinge loss when all scores are equal (at initialization, `W` is small)?
# - If the car image's margins already hold, does a small change in its scores change the loss?
# - If `W` gives hinge loss 0, what is the loss of `2 W`? Is the `W` with loss 0 unique?
# - What would the hinge loss be if the sum also ran over the correct class `j = y_i`?
# - How do `l2_penalty(c * W)` and `l1_penalty(c * W)` relate to `l2_penalty(W)` and
#   `l1_penalty(W)`? Can a penalty be negative?

# %% [writefile] losses.py

# %%
losses = fresh("losses")

# The lecture's three training images, one row each; columns are the classes (cat, car, frog).
scores = np.array([[3.2, 5.1, -1.7],   # a cat
                   [1.3, 4.9, 2.0],    # a car
                   [2.2, 2.5, -3.1]])  # a frog
labels = np.array([0, 1, 2])

with unless_missing():
    for i, name in enumerate(["cat", "car", "frog"]):
        loss_i = losses.svm_loss(scores[i : i + 1], labels[i : i + 1])
        print(f"hinge loss of the {name} image: {loss_i:.1f}")    # 2.9, 0.0, 12.9
    print(f"mean hinge loss: {losses.svm_loss(scores, labels):.2f}")  # 5.27
    doubled = losses.svm_loss(2 * scores[1:2], labels[1:2])
    print(f"car image with every score doubled: {doubled:.1f}")  # still 0

with unless_missing():
    print("softmax of the cat image's scores:", losses.softmax(scores[:1]))
    cross_entropy = losses.cross_entropy_loss(scores[:1], labels[:1])
    print(f"cross-entropy of the cat image: {cross_entropy:.2f}")  # 2.04

with unless_missing():
    # The slide's example: w1 and w2 give x = [1, 1, 1, 1] the same score; which is preferred?
    w1, w2 = np.array([1.0, 0, 0, 0]), np.array([0.25, 0.25, 0.25, 0.25])
    print("L2 penalty of w1, w2:", losses.l2_penalty(w1), losses.l2_penalty(w2))
    print("L1 penalty of w1, w2:", losses.l1_penalty(w1), losses.l1_penalty(w2))

# %% [markdown]
# ## 2. Gradients and the gradient check (`gradients.py`)
#
# To train `W` we need the gradient of the loss. Derive it on paper and implement it in
# `softmax_loss_and_grad` and `svm_loss_and_grad` (both return `(loss, dW)` for the loss plus
# `reg * sum(W**2)`). Then check it the way practitioners do: compare it with a **numeric
# gradient**, `(f(x + h) - f(x - h)) / 2h` one coordinate at a time (`numeric_gradient`), using
# the **relative error** (`relative_error`) and `gradient_check`.
#
# Questions to think about:
#
# - Why the centered difference `(f(x + h) - f(x - h)) / 2h` rather than `(f(x + h) - f(x)) / h`?
# - The hinge loss has kinks. What can a gradient check report near one?
# - Why compare with a *relative* error rather than `|a - b|`?
# - Your gradients must agree with your own numeric gradient, with PyTorch's autograd of the
#   reference loss, and with `torch.autograd.gradcheck`.

# %% [writefile] gradients.py

# %%
gradients = fresh("gradients")

rng = np.random.default_rng(0)
X = rng.normal(size=(20, 5))
y = rng.integers(0, 3, size=20)
W = 0.1 * rng.normal(size=(5, 3))
reg = 0.1

for name in ["softmax_loss_and_grad", "svm_loss_and_grad"]:
    loss_and_grad = getattr(gradients, name)
    with unless_missing():
        loss, dW = loss_and_grad(W, X, y, reg)
        passed, error = gradients.gradient_check(
            lambda W: loss_and_grad(W, X, y, reg)[0],  # the loss, as a function of W
            lambda W: loss_and_grad(W, X, y, reg)[1],  # your analytic gradient
            W,
        )
        print(f"{name}: loss {loss:.4f}, relative error {error:.1e}, passed: {passed}")

# %% [markdown]
# ## 3. Optimizers (`optim.py`)
#
# **Gradient descent** repeats `w = w - lr * dw`. **Minibatch SGD** estimates the gradient on a
# small random batch. **Momentum** keeps a velocity `v = rho * v + dw` and steps along it
# (`w = w - lr * v`, as PyTorch does), which damps oscillations and speeds up progress along
# shallow directions. **Adam** adds a per-coordinate scale from a running average of squared
# gradients, with bias correction for the first steps.
#
# Implement `sgd_step`, `sgd_momentum_step`, `adam_step`, `gradient_descent` and `minibatch_sgd`.
#
# Questions to think about:
#
# - What does SGD with momentum do when `rho = 0`?
# - On `f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2` (minimum at `(1, 3)`), what happens with the
#   step sizes 0.01, 0.10, 0.11 and 0.12? Why is there a sharp limit?
# - Why does Adam need a bias correction in its first steps?

# %% [writefile] optim.py

# %%
optim = fresh("optim")


def grad_f(w):
    # f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2, minimum at (1, 3)
    x, y = w
    r1, r2 = x + 2 * y - 7, 2 * x + y - 5
    return np.array([2 * r1 + 4 * r2, 4 * r1 + 2 * r2])


with unless_missing():
    for lr in [0.01, 0.10, 0.11, 0.12]:
        path = optim.gradient_descent(grad_f, np.array([0.0, 0.0]), lr, num_steps=20)
        distance = np.linalg.norm(path[-1] - np.array([1.0, 3.0]))
        print(f"lr = {lr:.2f}: after 20 steps w = {path[-1]}, distance to (1, 3) = {distance:.3g}")

with unless_missing():
    # Train a softmax classifier on three well-separated blobs with minibatch SGD + momentum.
    gradients = fresh("gradients")
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, size=300)
    X = np.column_stack([centers[y] + 0.5 * rng.normal(size=(300, 2)), np.ones(300)])
    W, history = optim.minibatch_sgd(
        lambda W, X_batch, y_batch: gradients.softmax_loss_and_grad(W, X_batch, y_batch, 1e-3),
        np.zeros((3, 3)), X, y, lr=0.1, batch_size=32, num_steps=200, rho=0.9,
    )
    accuracy = np.mean(np.argmax(X @ W, axis=1) == y)
    print(f"minibatch SGD: loss {history[0]:.3f} -> {history[-1]:.3f}, accuracy {accuracy:.0%}")

# %% [markdown]
# ## 4. Learning-rate schedules (`schedules.py`)
#
# A large step early and a small one late: **step decay** multiplies the learning rate by
# `gamma` every `step_size` epochs (PyTorch's `StepLR`); **cosine decay** glides from `lr0` to
# `lr_min` over `T` epochs along half a cosine (`CosineAnnealingLR`), and stays at `lr_min`
# afterwards.
#
# Implement `step_decay` and `cosine_decay`.
#
# Questions to think about:
#
# - What learning rate does each schedule give at `t = 0`? Can it ever increase?
# - Where does cosine decay end up at `t = T`, and halfway, at `t = T / 2`?

# %% [writefile] schedules.py

# %%
import matplotlib.pyplot as plt

schedules = fresh("schedules")

epochs = np.arange(101)
curves = {}
with unless_missing():
    curves["step decay (step_size=30, gamma=0.1)"] = [
        schedules.step_decay(0.1, t, step_size=30) for t in epochs
    ]
with unless_missing():
    curves["cosine decay (T=100)"] = [schedules.cosine_decay(0.1, t, T=100) for t in epochs]

if curves:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, lrs in curves.items():
        ax.plot(epochs, lrs, label=label)
    ax.set_xlabel("epoch t")
    ax.set_ylabel("learning rate")
    ax.legend()
    plt.show()

# %% [markdown]
# ## 5. Choosing hyperparameters (`search.py`)
#
# Hyperparameters such as `lam` or the learning rate are chosen on **validation** data, never on
# the test set: split the data into train / validation / test (`train_val_test_split`), or, with
# little data, use **k-fold cross-validation** (`k_fold_indices`, `cross_validate`). Search the
# values on a **grid** (`grid_search`) or, usually better, at **random** (`random_search`,
# log-uniform for scales such as learning rates). `choose_ridge_lambda` puts it together for
# ridge regression.
#
# Questions to think about:
#
# - Why must the test set not be used to choose `lam`?
# - Why does random search often beat grid search with the same number of trials?
# - Why sample learning rates and regularization strengths on a log scale?
# - What is the risk when the best value found lies on the border of the searched range?
#
# Below, the lecture's latitude/temperature example: three training cities and predictions for
# latitudes 42, 39, 30, 19 and 9, without regularization (`lam = 0`) and with `lam = 0.02`. A
# column of ones gives the line its intercept (and is penalized like every other coefficient).

# %% [writefile] search.py

# %%
losses = fresh("losses")
search = fresh("search")

latitude = np.array([42.0, 39.0, 30.0])
temperature = np.array([33.0, 38.0, 62.0])
X_train = np.column_stack([latitude, np.ones(3)])  # a bias column of ones
query = np.array([42.0, 39.0, 30.0, 19.0, 9.0])
X_query = np.column_stack([query, np.ones(5)])

with unless_missing():
    for lam in [0.0, 0.02]:
        w = losses.ridge_fit(X_train, temperature, lam)
        print(f"lam = {lam}: predictions {np.round(X_query @ w, 1)}")
        # lecture: lam = 0    -> 32.0, 39.4, 61.7, 88.9, 113.6
        #          lam = 0.02 -> 36.0, 40.6, 54.3, 71.1, 86.4

with unless_missing():
    # Leave-one-out cross-validation (k = 3 folds for 3 cities) over a few candidate lambdas.
    lams = [0.0, 0.001, 0.01, 0.02, 0.1, 1.0]
    best_lam = search.choose_ridge_lambda(X_train, temperature, lams, k=3)
    print("lambda chosen by 3-fold cross-validation:", best_lam)

with unless_missing():
    train_idx, val_idx, test_idx = search.train_val_test_split(10, seed=0)
    print("train / validation / test indices:", train_idx, val_idx, test_idx)
    best, value = search.random_search(
        lambda lr: (np.log10(lr) + 3) ** 2, {"lr": (1e-6, 1.0, "log")}, num_iters=30
    )
    print(f"random search for the best lr (true optimum 1e-3): {best['lr']:.2g}")

# %% [markdown]
# ## 6. The losses as PyTorch autograd functions (`torch_losses.py`)
#
# PyTorch can differentiate almost anything, but you can also supply the backward pass yourself:
# a `torch.autograd.Function` has a `forward` that computes the output (and saves what it needs
# with `ctx.save_for_backward`) and a `backward` that turns the upstream gradient into the
# gradient for each input. Implement `SoftmaxCrossEntropy` and `MulticlassHinge` this way: no
# autograd inside, the same device and dtype as the input scores.
#
# Questions to think about:
#
# - `torch.autograd.gradcheck` compares your backward with finite differences. Why does it need
#   `float64` inputs?
# - `torch.nn.functional.multi_margin_loss` divides by the number of classes `C`; how does it
#   relate to `svm_loss`?

# %% [writefile] torch_losses.py

# %%
import torch
import torch.nn.functional as F

torch_losses = fresh("torch_losses")

generator = torch.Generator().manual_seed(0)
scores = torch.randn(6, 4, dtype=torch.float64, generator=generator, requires_grad=True)
labels = torch.tensor([0, 1, 2, 3, 0, 1])

with unless_missing():
    loss = torch_losses.SoftmaxCrossEntropy.apply(scores, labels)
    expected = F.cross_entropy(scores, labels)
    print(f"SoftmaxCrossEntropy {loss.item():.6f} vs F.cross_entropy {expected.item():.6f}")
    ok = torch.autograd.gradcheck(
        lambda s: torch_losses.SoftmaxCrossEntropy.apply(s, labels), (scores,)
    )
    print("SoftmaxCrossEntropy passes gradcheck:", ok)

with unless_missing():
    loss = torch_losses.MulticlassHinge.apply(scores, labels)
    expected = 4 * F.multi_margin_loss(scores, labels)  # C * multi_margin_loss, C = 4
    print(f"MulticlassHinge {loss.item():.6f} vs C * F.multi_margin_loss {expected.item():.6f}")
    ok = torch.autograd.gradcheck(
        lambda s: torch_losses.MulticlassHinge.apply(s, labels), (scores,)
    )
    print("MulticlassHinge passes gradcheck:", ok)
