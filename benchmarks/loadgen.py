"""Open-loop HTTP load from its own process: N requests per second for S seconds, latency measured
from each request's scheduled start (so a slow server cannot hide its queue). With --concurrency,
closed-loop instead: that many clients send back-to-back for S seconds (maximum throughput).
Prints JSON. The client is aiohttp: httpx's connection pool slows down as requests queue, so at a
few hundred requests a second it measured itself rather than the server."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import aiohttp


async def main(
    base: str,
    rate: float,
    seconds: float,
    paths: list[str],
    headers: dict[str, str] | None = None,
    concurrency: int = 0,
) -> dict:
    if concurrency:
        return await closed_loop(base, seconds, paths, headers or {}, concurrency)
    total = int(rate * seconds)
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=200)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout, headers=headers) as client:
        for path in paths:  # warm up: first requests load modules and caches
            for _ in range(20):
                async with client.get(path.replace("{offset}", "0")) as response:
                    await response.read()
        start = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            path = random.choice(paths).replace("{offset}", str(random.randrange(0, 100_000)))
            try:
                async with client.get(path) as response:
                    body = await response.read()
                # CKAN says "success" near the top; parsing every body would make the client the bottleneck
                if response.status != 200 or b'"success":false' in body[:512]:
                    errors.append(f"{response.status} {path}")
            except Exception as exc:
                errors.append(f"{type(exc).__name__} {path}")
            latencies.append(time.perf_counter() - scheduled)

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": total,
        "achieved_rps": total / elapsed,
        "errors": len(errors),
        "error_samples": errors[:5],
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000,
    }


async def closed_loop(base: str, seconds: float, paths: list[str], headers: dict[str, str], clients: int) -> dict:
    """`clients` connections each sending its next request as soon as the last one is answered."""
    done = 0
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout, headers=headers) as client:
        for path in paths[:20]:
            async with client.get(path.replace("{offset}", "0")) as response:
                await response.read()
        started = time.perf_counter()
        stop = started + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                path = random.choice(paths).replace("{offset}", str(random.randrange(0, 100_000)))
                try:
                    async with client.get(path) as response:
                        await response.read()
                    if response.status != 200:
                        errors.append(f"{response.status} {path}")
                except Exception as exc:
                    errors.append(f"{type(exc).__name__} {path}")
                done += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {"requests": done, "throughput_rps": done / elapsed, "errors": len(errors), "error_samples": errors[:5]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--header", action="append", default=[], help="'Name: value', sent with every request")
    parser.add_argument("--concurrency", type=int, default=0, help="closed loop with this many clients")
    parser.add_argument("--paths-file", help="a file of paths, one a line (instead of arguments)")
    parser.add_argument("paths", nargs="*")
    opts = parser.parse_intermixed_args()  # paths may follow the options
    paths = opts.paths + (open(opts.paths_file).read().split() if opts.paths_file else [])
    headers = dict(h.split(": ", 1) for h in opts.header)
    print(json.dumps(asyncio.run(main(opts.base, opts.rate, opts.seconds, paths, headers, opts.concurrency))))
