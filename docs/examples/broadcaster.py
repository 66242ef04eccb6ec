#!/usr/bin/env python3
"""A broadcaster's backend against nova-streaming, in the Python 3 standard library alone.

It gets an OAuth2 client-credentials token, creates a stream, publishes a
synthetic test picture and tone to it with FFmpeg for a while, follows the
stream's WebSocket (printing what it says: live, viewers, metrics, ended),
then deletes the stream and exits 0. Any failure exits 1 with the reason.

    NOVA_URL=http://127.0.0.1:8080 NOVA_CLIENT_ID=... NOVA_CLIENT_SECRET=... \\
        python3 docs/examples/broadcaster.py --duration 30

Credentials: --client-id/--client-secret (a client with streams:read and
streams:write), or --admin-token. Every WebSocket message is printed as one
line "[ws] <json>". Needs ffmpeg with libx264 and aac on the PATH.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

_print_lock = threading.Lock()


def say(*parts):
    with _print_lock:
        print(*parts, flush=True)


class Failure(Exception):
    """Something that ends the run with exit status 1."""


# ---------------------------------------------------------------- REST API


class Api:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.bearer = None

    def call(self, method, path, body=None, form=None, basic=None, headers=None):
        """One request; the decoded JSON answer (None when empty). Raises Failure on a non-2xx answer."""
        data, sent = None, dict(headers or {})
        if body is not None:
            data, sent["content-type"] = json.dumps(body).encode(), "application/json"
        elif form is not None:
            data, sent["content-type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        if basic is not None:
            sent["authorization"] = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
        elif self.bearer is not None:
            sent["authorization"] = "Bearer " + self.bearer
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as err:
            raise Failure(f"{method} {path} answered {err.code}: {err.read().decode('utf-8', 'replace')}") from None
        except urllib.error.URLError as err:
            raise Failure(f"{method} {path}: {err.reason}") from None
        return json.loads(text) if text else None


# ---------------------------------------------------------------- WebSocket (RFC 6455), client side

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CONTINUATION, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
_MAX_MESSAGE = 1 << 20


class WebSocket:
    """Just enough of RFC 6455 for a status feed: the handshake, text messages
    (fragmented or not), pings answered, and a closing handshake. Frames a
    client sends are masked, as §5.3 requires."""

    def __init__(self, url, timeout=10.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise Failure(f"not a WebSocket URL: {url}")
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        sock = socket.create_connection((parts.hostname, port), timeout=timeout)
        if secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        key = base64.b64encode(os.urandom(16)).decode()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sock.sendall(
            (
                f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk or len(answer) > 65536:
                sock.close()
                raise Failure("the WebSocket handshake got no complete answer")
            answer += chunk
        head, _, self._buffer = answer.partition(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        if lines[0].split(" ")[1:2] != ["101"]:
            sock.close()
            raise Failure(f"WebSocket upgrade refused: {lines[0]}")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            sock.close()
            raise Failure("WebSocket handshake: wrong Sec-WebSocket-Accept")
        sock.settimeout(None)
        self._sock = sock
        self._send_lock = threading.Lock()
        self._closing = False
        self.close_code = None
        self.close_reason = ""

    def _read(self, n):
        while len(self._buffer) < n:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _frame(self):
        first, second = self._read(2)
        if first & 0x70:
            raise ConnectionError("reserved bits set (no extension was negotiated)")
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        if length > _MAX_MESSAGE:
            raise ConnectionError(f"frame of {length} bytes")
        mask = self._read(4) if second & 0x80 else None
        payload = self._read(length)
        if mask:  # servers do not mask (§5.1), but unmasking costs nothing
            payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    def _send(self, opcode, payload):
        header = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        header += mask
        with self._send_lock:
            self._sock.sendall(bytes(header) + bytes(b ^ mask[i & 3] for i, b in enumerate(payload)))

    def send_text(self, text):
        self._send(_TEXT, text.encode("utf-8"))

    def recv(self):
        """The next message (str for text, bytes for binary); None once the connection has closed."""
        parts, kind = [], None
        try:
            while True:
                fin, opcode, payload = self._frame()
                if opcode == _PING:
                    self._send(_PONG, payload)
                elif opcode == _PONG:
                    pass
                elif opcode == _CLOSE:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self.close_reason = payload[2:].decode("utf-8", "replace")
                    if not self._closing:
                        self._closing = True
                        self._send(_CLOSE, payload[:2])
                    self._sock.close()
                    return None
                else:
                    if opcode in (_TEXT, _BINARY):
                        parts, kind = [payload], opcode
                    elif opcode == _CONTINUATION and kind is not None:
                        parts.append(payload)
                    else:
                        raise ConnectionError(f"unexpected opcode {opcode}")
                    if fin:
                        data = b"".join(parts)
                        return data.decode("utf-8") if kind == _TEXT else data
        except (OSError, ConnectionError) as err:
            if self.close_code is None:
                self.close_code, self.close_reason = 1006, str(err)
            self._sock.close()
            return None

    def close(self, code=1000):
        """Starts the closing handshake; recv() returns None once the server has answered."""
        if self._closing:
            return
        self._closing = True
        try:
            self._send(_CLOSE, struct.pack("!H", code))
        except OSError:
            pass

    def abort(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ---------------------------------------------------------------- the stream's status feed


class StatusFeed(threading.Thread):
    """Reads the stream's WebSocket on a thread, printing every message and noting the ones main() waits for."""

    def __init__(self, ws):
        super().__init__(daemon=True)
        self.ws = ws
        self.snapshot = threading.Event()
        self.live = threading.Event()
        self.ended = threading.Event()
        self.pong = threading.Event()

    def run(self):
        while True:
            text = self.ws.recv()
            if text is None:
                say(f"[ws] closed: {self.ws.close_code} {self.ws.close_reason}".rstrip())
                self.snapshot.set()  # nothing more will come: let main() stop waiting
                return
            if not isinstance(text, str):
                continue
            say("[ws] " + text)
            message = json.loads(text)
            kind = message.get("type")
            if kind == "snapshot":
                say(f">> joined: {'live' if message['live'] else 'not live yet'}, viewers {message['viewers']}")
                if message["live"]:
                    self.live.set()
                self.snapshot.set()
            elif kind == "stream_started":
                say(">> live" + (": " + renditions(message["renditions"]) if message["renditions"] else ""))
                self.live.set()
            elif kind == "quality_changed":
                say(">> renditions: " + renditions(message["renditions"]))
            elif kind == "viewer_count_changed":
                say(f">> viewers: {message['viewers']} (peak {message['peak']})")
            elif kind == "stream_ended":
                say(f">> ended: {message['reason']}")
                self.ended.set()
            elif kind == "pong":
                self.pong.set()


def renditions(listed):
    return ", ".join(f"{r['name']} {r['width']}x{r['height']}" for r in listed)


def with_token(url, token):
    if not token:
        return url
    return url + ("&" if "?" in url else "?") + "token=" + urllib.parse.quote(token, safe="")


def ffmpeg_command(ffmpeg, url, seconds, size, fps):
    gop = str(fps * 2)  # a keyframe every 2 s: segments can cut there
    return [
        ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostats", "-re",
        "-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-b:v", "1500k",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000",
        "-f", "flv", url,
    ]  # fmt: skip


def main():
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=env("NOVA_URL", "http://127.0.0.1:8080"), help="the server's HTTP base (NOVA_URL)")
    parser.add_argument("--client-id", default=env("NOVA_CLIENT_ID"), help="API client id (NOVA_CLIENT_ID)")
    parser.add_argument("--client-secret", default=env("NOVA_CLIENT_SECRET"), help="API client secret (NOVA_CLIENT_SECRET)")
    parser.add_argument("--admin-token", default=env("NOVA_ADMIN_TOKEN"), help="the admin token, instead of a client (NOVA_ADMIN_TOKEN)")
    parser.add_argument("--rtmp-url", default=env("NOVA_RTMP_URL"), help="RTMP base to publish to, e.g. rtmp://host:1935/live (default: the API's publish_url)")
    parser.add_argument("--duration", type=float, default=float(env("NOVA_DURATION", "30")), help="seconds to broadcast (NOVA_DURATION, 30)")
    parser.add_argument("--title", default="broadcaster.py example")
    parser.add_argument("--private", action="store_true", help="a private stream: the WebSocket then needs a viewer token, minted here")
    parser.add_argument("--viewer-token", default=env("NOVA_VIEWER_TOKEN"), help="token for the WebSocket (?token=), instead of minting one")
    parser.add_argument("--size", default="1280x720", help="picture size (1280x720)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--ffmpeg", default="ffmpeg", help="FFmpeg executable")
    args = parser.parse_args()

    api = Api(args.server)
    if args.client_id and args.client_secret:
        tokens = api.call("POST", "/api/v1/auth/token", form={"grant_type": "client_credentials"}, basic=(args.client_id, args.client_secret))
        api.bearer = tokens["access_token"]
        say(f"access token for scopes: {tokens['scope']} (expires in {tokens['expires_in']} s)")
    elif args.admin_token:
        api.bearer = args.admin_token
        say("using the admin token")
    else:
        raise Failure("give --client-id and --client-secret (or NOVA_CLIENT_ID/NOVA_CLIENT_SECRET), or --admin-token")

    stream = api.call("POST", "/api/v1/streams", body={"title": args.title, "private": args.private},
                      headers={"idempotency-key": base64.urlsafe_b64encode(os.urandom(18)).decode()})
    stream_id = stream["id"]
    say(f"stream {stream_id} created")
    publish_url = f"{args.rtmp_url.rstrip('/')}/{stream['stream_key']}" if args.rtmp_url else stream["publish_url"]
    say(f"  watch at: {stream['hls_url']}")

    ffmpeg = None
    ws = None
    try:
        token = args.viewer_token
        if token is None and args.private:
            token = api.call("POST", f"/api/v1/streams/{stream_id}/playback-tokens", body={"expires_in": int(args.duration) + 600})["token"]
            say("viewer token minted for the WebSocket")
        ws = WebSocket(with_token(stream["ws_url"], token))
        feed = StatusFeed(ws)
        feed.start()
        if not feed.snapshot.wait(10) or ws.close_code is not None:
            raise Failure(f"the WebSocket sent no snapshot (closed: {ws.close_code} {ws.close_reason})")
        ws.send_text(json.dumps({"type": "ping"}))  # the one message a client may send; answered with a pong

        say(f"publishing {args.duration:g} s of test picture and tone to {publish_url.rsplit('/', 1)[0]}/…")
        ffmpeg = subprocess.Popen(ffmpeg_command(args.ffmpeg, publish_url, args.duration, args.size, args.fps), stdin=subprocess.PIPE)
        deadline = time.monotonic() + args.duration + 60
        next_poll = time.monotonic() + 5
        while ffmpeg.poll() is None:
            if time.monotonic() > deadline:
                raise Failure("FFmpeg ran a minute past its duration")
            if time.monotonic() >= next_poll:
                now = api.call("GET", f"/api/v1/streams/{stream_id}")
                say(f"[api] status {now['status']}, viewers {now['viewers']}, renditions {len(now['renditions'])}")
                next_poll += 5
            time.sleep(0.2)
        if ffmpeg.returncode != 0:
            raise Failure(f"FFmpeg exited with status {ffmpeg.returncode}")
        if not feed.live.is_set():
            raise Failure("the WebSocket never said the stream was live")
        if not feed.ended.wait(20):
            raise Failure("the WebSocket did not say the stream ended")
        if not feed.pong.is_set():
            raise Failure("no pong came back for the ping")
    finally:
        if ffmpeg is not None and ffmpeg.poll() is None:
            try:
                ffmpeg.communicate(b"q", timeout=5)  # FFmpeg's own clean stop
            except subprocess.TimeoutExpired:
                ffmpeg.kill()
        if ws is not None:
            ws.close()
        # ends it if still live, and revokes its stream key: nobody can publish to it again
        deleted = api.call("DELETE", f"/api/v1/streams/{stream_id}")
        say(f"stream {stream_id} deleted: status {deleted['status']}, end reason {deleted['end_reason']}")
        if ws is not None:
            feed.join(5)
            ws.abort()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as failure:
        print(f"broadcaster.py: {failure}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
