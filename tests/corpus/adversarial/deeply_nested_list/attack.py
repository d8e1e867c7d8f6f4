def softmax(scores):
    value = [1.0]
    for _ in range(10_000):
        value = [value]
    return value
