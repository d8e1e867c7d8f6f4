# mistake: adam-no-bias
def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * dw ** 2
    w -= lr * m / (v ** 0.5 + eps)
    return w, m, v
