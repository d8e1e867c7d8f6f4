# mistake: adam-no-bias
def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1.0 - beta1) * dw
    v = beta2 * v + (1.0 - beta2) * np.power(dw, 2)
    v_corr = v / (1.0 - np.power(beta2, t))
    w = w - lr * m / (np.sqrt(v_corr) + eps)
    return w, m, v
