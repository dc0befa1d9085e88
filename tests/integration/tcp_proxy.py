"""A fault-injecting TCP proxy for tests: forwards 127.0.0.1:<port> to a
target, and can cut the link (drop every connection and refuse new ones
until healed). Runs on its own thread; every socket is on 127.0.0.1."""
import selectors
import socket
import threading


class Proxy:
    def __init__(self, target_port, port=0):
        self.target = ("127.0.0.1", target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(64)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.peer = {}  # socket -> its other end
        self.cut_now = False
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def cut(self):
        with self.lock:
            self.cut_now = True

    def heal(self):
        with self.lock:
            self.cut_now = False

    def close(self):
        self.stopping = True
        self.thread.join(timeout=5)
        for s in list(self.peer):
            self._drop(s)
        self.sel.close()
        self.lsock.close()

    def _drop(self, s):
        other = self.peer.pop(s, None)
        for x in (s, other):
            if x is None:
                continue
            self.peer.pop(x, None)
            try:
                self.sel.unregister(x)
            except (KeyError, ValueError):
                pass
            x.close()

    def _accept(self):
        try:
            c, _ = self.lsock.accept()
        except BlockingIOError:
            return
        if self.cut_now:
            c.close()
            return
        try:
            t = socket.create_connection(self.target, timeout=2)
        except OSError:
            c.close()
            return
        c.setblocking(False)
        t.setblocking(False)
        self.peer[c] = t
        self.peer[t] = c
        self.sel.register(c, selectors.EVENT_READ, None)
        self.sel.register(t, selectors.EVENT_READ, None)

    def _pump(self, s):
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        other = self.peer.get(s)
        if not data or other is None:
            self._drop(s)
            return
        try:
            other.setblocking(True)
            other.sendall(data)
            other.setblocking(False)
        except OSError:
            self._drop(s)

    def _run(self):
        while not self.stopping:
            with self.lock:
                cut = self.cut_now
            if cut:
                for s in list(self.peer):
                    self._drop(s)
            for key, _ in self.sel.select(timeout=0.05):
                if key.fileobj is self.lsock:
                    self._accept()
                elif key.fileobj in self.peer:
                    self._pump(key.fileobj)
