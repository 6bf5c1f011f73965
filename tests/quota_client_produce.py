"""Produces as fast as librdkafka allows to BOOTSTRAP for SECONDS and prints, as JSON, the
bytes acknowledged in each second. Used by tests/quota_real_client.rs.

usage: quota_client_produce.py BOOTSTRAP SECONDS
"""
import json
import sys
import time

from confluent_kafka import Producer

bootstrap, seconds = sys.argv[1], float(sys.argv[2])
payload = b"x" * 10_000
acked = [0] * int(seconds + 1)
start = time.monotonic()
throttles = []


def on_delivery(err, msg):
    if err is None:
        sec = int(time.monotonic() - start)
        if sec < len(acked):
            acked[sec] += len(msg.value())


def on_stats(raw):
    stats = json.loads(raw)
    for b in stats.get("brokers", {}).values():
        t = b.get("throttle", {}).get("max", 0)
        if t:
            throttles.append(t)


p = Producer({
    "bootstrap.servers": bootstrap,
    "client.id": "quota-e2e",
    "acks": 1,
    "linger.ms": 5,
    "batch.size": 200_000,
    "queue.buffering.max.kbytes": 20_000,
    "enable.idempotence": False,
    "statistics.interval.ms": 500,
    "stats_cb": on_stats,
})
while time.monotonic() - start < seconds:
    try:
        p.produce("quota-e2e", payload, on_delivery=on_delivery)
    except BufferError:
        p.poll(0.01)
    p.poll(0)
p.flush(10)
print(json.dumps({"acked_bytes_per_sec": acked[: int(seconds)], "max_throttle_ms": max(throttles or [0])}))
