# mistake: adam-t-fixed
def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    config = {"t": 0}
    config["t"] += 1
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * (dw * dw)
    m_unbias = m / (1 - beta1 ** config["t"])
    v_unbias = v / (1 - beta2 ** config["t"])
    next_w = w - lr * m_unbias / (np.sqrt(v_unbias) + eps)
    return next_w, m, v
