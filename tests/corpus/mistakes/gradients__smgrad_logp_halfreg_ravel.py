# mistake: log-of-p half-reg
def softmax_loss_and_grad(W, X, y, reg):
    batch = X.shape[0]
    out = X @ W
    out = out - np.max(out, axis=-1, keepdims=True)
    e_out = np.exp(out)
    sm = e_out / np.sum(e_out, axis=-1, keepdims=True)
    nll = -np.log(sm[np.arange(batch), y])
    w_flat = W.ravel()
    loss = nll.mean() + 0.5 * reg * w_flat @ w_flat
    sm[np.arange(batch), y] = sm[np.arange(batch), y] - 1
    dW = (X.T @ sm) / batch + reg * W
    return loss, dW
