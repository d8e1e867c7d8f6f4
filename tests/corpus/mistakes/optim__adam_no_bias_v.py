# mistake: adam-no-bias
def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m_new = beta1 * m + (1 - beta1) * dw
    v_new = beta2 * v + (1 - beta2) * np.square(dw)
    m_hat = m_new / (1 - beta1 ** t)
    w_new = w - lr * m_hat / (np.sqrt(v_new) + eps)
    return w_new, m_new, v_new
