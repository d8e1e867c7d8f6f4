# mistake: adam-t-fixed
def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m_new = beta1 * m + (1 - beta1) * dw
    v_new = beta2 * v + (1 - beta2) * dw**2
    step = 1
    m_hat = m_new / (1 - beta1**step)
    v_hat = v_new / (1 - beta2**step)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m_new, v_new
