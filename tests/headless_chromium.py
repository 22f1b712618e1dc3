"""A headless Chromium driven through the DevTools protocol (the ``websocket-client`` package),
and a PNG reader (zlib and numpy), for the test that opens ``report.html`` in a real browser.

:class:`Chromium` starts ``chromium --headless`` with a private profile and a DevTools port the
system picks, talks to its one page over a websocket, records every event it receives (console
messages, exceptions, log entries, network requests) and stops the process it started.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import numpy as np

BINARIES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The first Chromium on the PATH (Debian's package installs ``chromium``)."""
    return next((p for p in map(shutil.which, BINARIES) if p), None)


class Chromium:
    """One headless browser and its page (``with Chromium(binary) as browser: ...``)."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900, timeout: float = 60):
        import websocket  # the dev extra: websocket-client

        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._id = 0
        self._profile = tempfile.mkdtemp(prefix="lrbench-chromium-")
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
                "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}", "about:blank"]  # fmt: skip
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.stderr: list[str] = []
        found = threading.Event()
        self._reader = threading.Thread(target=self._drain, args=(found,), daemon=True)
        self._reader.start()
        if not found.wait(timeout):
            self.close()
            raise RuntimeError("chromium did not open its DevTools port:\n" + "".join(self.stderr))
        port = self._port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout)

    def _drain(self, found: threading.Event) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if "DevTools listening on ws://" in line:
                found.set()

    def _port(self) -> int:
        line = next(x for x in self.stderr if "DevTools listening on ws://" in x)
        return int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer, recording the events that arrive first."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)
        raise TimeoutError(method)

    def wait_for(self, event: str) -> dict[str, Any]:
        """Wait for an event (or find it among those already recorded)."""
        for e in self.events:
            if e.get("method") == event:
                return e
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            self.events.append(msg)
            if msg.get("method") == event:
                return msg
        raise TimeoutError(event)

    def open(self, url: str) -> None:
        """Navigate to ``url`` with console, log and network events on; return once loaded."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def page_size(self) -> tuple[float, float]:
        """The width and height of the whole page, in CSS pixels."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        return size["width"], size["height"]

    def screenshot(self, top: float = 0, height: float | None = None, scale: float = 1.0) -> bytes:
        """A PNG of the page from ``top`` down ``height`` CSS pixels (default: the rest of the
        page), its full width, drawn at ``scale``."""
        width, total = self.page_size()
        clip = {"x": 0, "y": top, "width": width, "height": height or total - top, "scale": scale}
        result = self.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        return base64.b64decode(result["data"])

    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors and error log entries seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(str(p.get("exceptionDetails")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(str(p.get("args")))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(str(p["entry"].get("text")))
        return out

    def requests(self) -> list[str]:
        """The URL of every request the page made."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)  # it ends at the end of the process's stderr
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------ PNG


def read_png(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (the PNG specification, sections 11 and
    9: chunks, zlib stream, per-row filters None, Sub, Up, Average and Paeth) to a
    ``(height, width, channels)`` uint8 array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = channels = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        f, line = rows[y, 0], rows[y, 1:]
        if f == 0:
            cur = line.copy()
        elif f == 1:  # Sub: a running sum along each channel, modulo 256
            cur = np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint8).ravel()
        elif f == 2:  # Up
            cur = line + prev
        else:
            cur = _unfilter_slow(int(f), line, prev, channels)
        out[y], prev = cur, cur
    return out.reshape(height, width, channels)


def _unfilter_slow(f: int, line: np.ndarray, prev: np.ndarray, ch: int) -> np.ndarray:
    """Average (3) and Paeth (4), pixel by pixel (each depends on the one left of it)."""
    cur = line.astype(np.int32)
    up = prev.astype(np.int32)
    for x in range(0, cur.size, ch):
        a = cur[x - ch : x] if x else np.zeros(ch, dtype=np.int32)
        b = up[x : x + ch]
        if f == 3:
            pred = (a + b) // 2
        else:
            c = up[x - ch : x] if x else np.zeros(ch, dtype=np.int32)
            p = a + b - c
            pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
            pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        cur[x : x + ch] = (cur[x : x + ch] + pred) & 255
    return cur.astype(np.uint8)


def save(data: bytes, path: Path) -> Path:
    path.write_bytes(data)
    return path
