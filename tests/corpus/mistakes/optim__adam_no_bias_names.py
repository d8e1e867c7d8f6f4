# mistake: adam-no-bias
def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    first_moment = beta1 * m + (1 - beta1) * dw
    second_moment = beta2 * v + (1 - beta2) * dw * dw
    next_w = w - lr * first_moment / (np.sqrt(second_moment) + eps)
    return next_w, first_moment, second_moment
