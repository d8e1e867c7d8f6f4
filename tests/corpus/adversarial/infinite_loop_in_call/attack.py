def l2_penalty(W):
    while True:
        pass
