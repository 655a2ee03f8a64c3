#!/usr/bin/env python3
"""Soak test: steady chat load from many simulated visitors, watching the
server's memory. Python 3 standard library only.

Starts the server binary itself (default flags, so the real 60/60 s per-IP chat
limit applies) on a free loopback port. Each simulated client has its own
keep-alive connection bound to its own source address in 127.0.0.0/8
(127.1.x.y), so the per-IP limiter sees distinct visitors; no client sends
more than 50 requests a minute. Half the clients echo the session they were
given (their conversations accumulate turns); the other half never send one
(each of their requests starts a conversation). Every 5 s the server's
VmRSS is read from /proc/PID/status.

Usage: benches/soak.py [SERVER_BINARY]     (default: target/release/support-chat)
Environment (all optional):
  SOAK_SECONDS   load duration, default 300
  SOAK_RATE      total requests per second, default 300
  SOAK_CLIENTS   simulated clients (source addresses), default 2000
  SOAK_WARMUP    seconds before the RSS baseline is taken, default min(60, 20 % of SOAK_SECONDS)
  SOAK_RSS_MB    allowed RSS growth after warm-up, MiB, default 20
  SOAK_RSS_PCT   allowed RSS growth after warm-up, percent, default 10
                 (the run fails when the growth exceeds BOTH limits)
  SOAK_SERVER_ARGS  extra server flags, split on spaces (default none)

Exit status 1 on any non-200 response (all requests are valid and under the
limit, so 4xx is as wrong as 5xx), any connection error or timeout, or RSS
growth after warm-up above the limits; 2 on a setup problem.
"""

import asyncio
import json
import math
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

CHAT_PATH = "/public/v1/support/chat"
MAX_PER_CLIENT_PER_MIN = 50
SAMPLE_EVERY = 5.0
REQUEST_TIMEOUT = 15.0

MESSAGES = [
    "How do I apply for a business loan?",
    "What interest rate would I pay?",
    "Can I repay my loan early?",
    "How long does a decision take?",
    "What documents do you need from me?",
    "Is there a fee for early repayment?",
    "Can a sole trader apply?",
    "How much can my company borrow?",
    "I want to speak to a person",
    "Do you need a personal guarantee?",
    "My payment failed, what happens now?",
    "Can I change my repayment date?",
    "What is the weather like today?",
    "Do you offer asset finance for vans?",
    "How do I update my bank details?",
]


def env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def source_address(i):
    # 127.1.0.1 .. 127.1.0.250, 127.1.1.1 ..: 250 per /24, never .0 or .255.
    return f"127.1.{i // 250}.{i % 250 + 1}"


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def make_widget_fixture(root):
    """The throwaway widget build the integration tests use; the server
    refuses to start without one, and the soak never asks for it."""
    site = root / "site"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg/support_chat_widget.js").write_text("export default function init() {}")
    (site / "pkg/support_chat_widget_bg.wasm").write_bytes(b"\0asm\x01\0\0\0")
    (site / "widget.js").write_text(
        'var version = "__SUPPORT_CHAT_VERSION__"; var max = "__SUPPORT_CHAT_MAX_CHARS__";'
    )
    (site / "widget.css").write_text(":host{}")
    return site


class Stats:
    def __init__(self):
        self.statuses = Counter()
        self.errors = Counter()
        self.latencies = []
        self.reconnects = 0
        self.session_kept = 0
        self.session_lost = 0
        self.sessions_started = 0
        self.first_failures = []

    def fail(self, what):
        if len(self.first_failures) < 5:
            self.first_failures.append(what)


class ConnectionClosed(Exception):
    pass


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    keep_alive = headers.get("connection", "").lower() != "close"
    return status, body, keep_alive


class Client:
    def __init__(self, index, port, echo, stats):
        self.addr = source_address(index)
        self.port = port
        self.echo = echo
        self.stats = stats
        self.session = None
        self.reader = self.writer = None

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, local_addr=(self.addr, 0)
        )

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, raw):
        self.writer.write(raw)
        await self.writer.drain()
        try:
            return await read_response(self.reader)
        except asyncio.IncompleteReadError as e:
            if not e.partial:
                raise ConnectionClosed() from e
            raise

    async def send(self):
        body = {"message": random.choice(MESSAGES)}
        if self.echo and self.session:
            body["session"] = self.session
        payload = json.dumps(body).encode()
        raw = (
            f"POST {CHAT_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        started = time.perf_counter()
        try:
            reused = self.writer is not None
            if not reused:
                await self.connect()
            try:
                status, data, keep_alive = await asyncio.wait_for(self.exchange(raw), REQUEST_TIMEOUT)
            except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                # The server closed an idle keep-alive connection before reading
                # the request: what any HTTP client retries, once, on a new one.
                self.close()
                self.stats.reconnects += 1
                await self.connect()
                status, data, keep_alive = await asyncio.wait_for(self.exchange(raw), REQUEST_TIMEOUT)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ConnectionClosed, ValueError) as e:
            self.close()
            kind = type(e).__name__
            self.stats.errors[kind] += 1
            self.stats.fail(f"{self.addr}: {kind}: {e}")
            return
        self.stats.latencies.append(time.perf_counter() - started)
        self.stats.statuses[status] += 1
        if not keep_alive:
            self.close()
        if status != 200:
            self.stats.fail(f"{self.addr}: HTTP {status}: {data[:200]!r}")
            return
        session = json.loads(data)["session"]
        if "session" in body:
            if session == body["session"]:
                self.stats.session_kept += 1
            else:
                self.stats.session_lost += 1
        else:
            self.stats.sessions_started += 1
        self.session = session

    async def run(self, interval, start, deadline):
        # A fixed schedule from a random phase: the clients together make a
        # steady rate, and no client exceeds 60/interval requests a minute.
        next_at = start + random.uniform(0, interval)
        loop = asyncio.get_running_loop()
        while next_at < deadline:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            await self.send()
            next_at += interval
        self.close()


async def sampler(pid, start, deadline, samples):
    loop = asyncio.get_running_loop()
    while True:
        samples.append((loop.time() - start, rss_kib(pid), cpu_seconds(pid)))
        if loop.time() >= deadline:
            return
        await asyncio.sleep(min(SAMPLE_EVERY, max(0.0, deadline - loop.time())))


async def load(port, pid, clients, rate, seconds, stats, samples):
    interval = clients / rate
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + seconds
    workers = [Client(i, port, echo=i % 2 == 0, stats=stats) for i in range(clients)]
    tasks = [asyncio.create_task(c.run(interval, start, deadline)) for c in workers]
    monitor = asyncio.create_task(sampler(pid, start, deadline, samples))
    await asyncio.gather(*tasks)
    await monitor
    return loop.time() - start


def wait_healthy(port, proc, timeout=15.0):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = math.ceil(p / 100 * len(sorted_values)) - 1  # nearest rank
    return sorted_values[max(0, min(len(sorted_values) - 1, k))]


def main():
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else "target/release/support-chat")
    seconds = env_float("SOAK_SECONDS", 300.0)
    rate = env_float("SOAK_RATE", 300.0)
    clients = int(env_float("SOAK_CLIENTS", 2000))
    warmup = env_float("SOAK_WARMUP", min(60.0, seconds * 0.2))
    limit_mb = env_float("SOAK_RSS_MB", 20.0)
    limit_pct = env_float("SOAK_RSS_PCT", 10.0)
    extra = os.environ.get("SOAK_SERVER_ARGS", "").split()

    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"soak: no server binary at {binary}", file=sys.stderr)
        return 2
    per_client_per_min = rate / clients * 60
    if per_client_per_min > MAX_PER_CLIENT_PER_MIN:
        print(f"soak: {rate:g} req/s over {clients} clients is {per_client_per_min:.1f}/min each;"
              f" raise SOAK_CLIENTS to at least {int(rate * 60 / MAX_PER_CLIENT_PER_MIN) + 1}",
              file=sys.stderr)
        return 2
    if clients > 250 * 255:
        print("soak: at most 63,750 clients (127.1.0.0/16)", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = clients * 2 + 256  # ours and, inherited, the server's
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            print(f"soak: open-file limit {hard} is below the {want} needed", file=sys.stderr)
            return 2
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        return soak(tmp, binary, seconds, rate, clients, warmup, limit_mb, limit_pct, extra)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def soak(tmp, binary, seconds, rate, clients, warmup, limit_mb, limit_pct, extra):
    per_client_per_min = rate / clients * 60
    site = make_widget_fixture(tmp)
    repo_public = Path(__file__).resolve().parent.parent / "public"
    port = free_port()
    log = open(tmp / "server.log", "wb")
    cmd = [str(binary), "--addr", f"127.0.0.1:{port}", "--admin-addr", "127.0.0.1:0",
           "--database", f"sqlite://{tmp}/records.db", "--widget-dir", str(site),
           "--public-dir", str(repo_public if repo_public.is_dir() else tmp), *extra]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    stats, samples = Stats(), []
    try:
        if not wait_healthy(port, proc):
            print("soak: the server did not come up:", file=sys.stderr)
            print((tmp / "server.log").read_text(errors="replace")[-2000:], file=sys.stderr)
            return 2
        print(f"soak: server pid {proc.pid} on 127.0.0.1:{port}; {clients} clients "
              f"({source_address(0)}..{source_address(clients - 1)}), {rate:g} req/s "
              f"({per_client_per_min:.1f}/min each), {seconds:g} s, warm-up {warmup:g} s", flush=True)
        elapsed = asyncio.run(load(port, proc.pid, clients, rate, seconds, stats, samples))
        alive = proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

    lat = sorted(stats.latencies)
    total = sum(stats.statuses.values()) + sum(stats.errors.values())
    rss = [(t, r) for t, r, _ in samples if r is not None]
    warm_t, warm = next(((t, r) for t, r in rss if t >= warmup), rss[-1] if rss else (None, None))
    end = rss[-1][1] if rss else None
    peak = max((r for _, r in rss), default=None)
    cpu = [c for _, _, c in samples if c is not None]
    growth_kib = (end - warm) if warm is not None and end is not None else None
    growth_pct = 100.0 * growth_kib / warm if growth_kib is not None and warm else None
    non_200 = sum(n for s, n in stats.statuses.items() if s != 200)
    server_errors = sum(n for s, n in stats.statuses.items() if s >= 500)

    mib = lambda kib: f"{kib / 1024:.1f} MiB" if kib is not None else "n/a"
    rows = [
        ("duration", f"{elapsed:.1f} s"),
        ("requests", f"{total} ({total / elapsed:.1f}/s)"),
        ("statuses", ", ".join(f"{s}: {n}" for s, n in sorted(stats.statuses.items())) or "none"),
        ("5xx", str(server_errors)),
        ("connection errors", ", ".join(f"{k}: {n}" for k, n in stats.errors.items()) or "0"),
        ("keep-alive reconnects", str(stats.reconnects)),
        ("latency p50 / p99 / max", f"{percentile(lat, 50) * 1000:.2f} / {percentile(lat, 99) * 1000:.2f}"
                                    f" / {(lat[-1] if lat else float('nan')) * 1000:.2f} ms"),
        ("latency mean", f"{statistics.fmean(lat) * 1000:.2f} ms" if lat else "n/a"),
        ("sessions started", str(stats.sessions_started)),
        ("session echoes kept / lost", f"{stats.session_kept} / {stats.session_lost}"),
        ("server CPU", f"{cpu[-1] - cpu[0]:.1f} s" if len(cpu) > 1 else "n/a"),
        (f"RSS at warm-up end ({warm_t or 0:.0f} s)", mib(warm)),
        ("RSS at end", mib(end)),
        ("RSS max", mib(peak)),
        ("RSS growth after warm-up", f"{mib(growth_kib)} ({growth_pct:+.1f} %)" if growth_pct is not None else "n/a"),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("RSS samples (s: MiB): " + ", ".join(f"{t:.0f}: {r / 1024:.1f}" for t, r in rss))

    problems = []
    if not alive:
        problems.append("the server exited during the run")
    if non_200:
        problems.append(f"{non_200} non-200 responses ({server_errors} of them 5xx)")
    if stats.errors:
        problems.append(f"{sum(stats.errors.values())} connection errors or timeouts")
    if growth_kib is None:
        problems.append("no RSS samples")
    elif growth_kib / 1024 > limit_mb and growth_pct > limit_pct:
        problems.append(f"RSS grew {growth_kib / 1024:.1f} MiB ({growth_pct:.1f} %) after warm-up,"
                        f" over both {limit_mb:g} MiB and {limit_pct:g} %")
    for line in stats.first_failures:
        print(f"  e.g. {line}")
    if problems:
        print("soak: FAILED: " + "; ".join(problems))
        print("server log tail:\n" + (tmp / "server.log").read_text(errors="replace")[-1500:])
    else:
        print("soak: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
