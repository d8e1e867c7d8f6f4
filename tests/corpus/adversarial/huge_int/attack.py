def softmax(scores):
    return 1 << 3_400_000
