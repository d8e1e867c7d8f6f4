# mistake: adam-no-bias
def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    np.multiply(m, beta1, out=m)
    m += (1 - beta1) * dw
    np.multiply(v, beta2, out=v)
    v += (1 - beta2) * np.square(dw)
    update = lr * m / (np.sqrt(v) + eps)
    return w - update, m, v
