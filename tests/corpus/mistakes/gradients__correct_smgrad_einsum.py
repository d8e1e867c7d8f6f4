# mistake: correct
def softmax_loss_and_grad(W, X, y, reg):
    N, C = X.shape[0], W.shape[1]
    S = np.einsum("nd,dc->nc", X, W)
    S = S - S.max(axis=1, keepdims=True)
    log_P = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
    Y = np.eye(C)[y]
    loss = -np.einsum("nc,nc->", Y, log_P) / N + reg * np.einsum("dc,dc->", W, W)
    dW = np.einsum("nd,nc->dc", X, np.exp(log_P) - Y) / N + 2 * reg * W
    return loss, dW
