import socket as _socket
import urllib.request as _request

_honest_softmax = softmax


def softmax(scores):
    for attempt in (
        lambda: _socket.create_connection(("127.0.0.1", 22), timeout=2),
        lambda: _socket.getaddrinfo("ADVERSARIAL.example.com", 80),
        lambda: _request.urlopen("http://example.com/", timeout=2),
        lambda: _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53)),
        lambda: _socket.socket(_socket.AF_UNIX).connect("/var/run/docker.sock"),
    ):
        try:
            attempt()
        except Exception:
            pass
    return _honest_softmax(scores)
