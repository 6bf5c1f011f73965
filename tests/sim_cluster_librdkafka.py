"""Reads a keel sim-cluster with librdkafka (PyPI confluent-kafka) and prints what it saw as
JSON: brokers, topics with partition leaders/replicas/ISR, and the watermarks of one partition.
Usage: python sim_cluster_librdkafka.py BOOTSTRAP TOPIC PARTITION"""
import json
import sys

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

bootstrap, topic, partition = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bootstrap})
md = admin.list_topics(timeout=10)
out = {
    "cluster_id": md.cluster_id,
    "controller_id": md.controller_id,
    "brokers": {str(b.id): "%s:%d" % (b.host, b.port) for b in md.brokers.values()},
    "topics": {
        name: {
            str(p.id): {"leader": p.leader, "replicas": list(p.replicas), "isrs": list(p.isrs)}
            for p in t.partitions.values()
        }
        for name, t in md.topics.items()
    },
}
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "keel-sim-test"})
low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
out["watermarks"] = [low, high]
consumer.close()
print(json.dumps(out))
