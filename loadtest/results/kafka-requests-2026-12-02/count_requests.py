"""Count a broker's requests by API, client and (for produce) topic, from kafka-request.log lines
logged at DEBUG (kafka.request.logger, switched on for ~10 s with kafka.admin.ConfigCommand
--entity-type broker-loggers). Usage: python count_requests.py kafka-request.log"""
import json
import re
import sys
from collections import Counter

requests, partitions, size = Counter(), Counter(), Counter()
for line in open(sys.argv[1]):
    start = line.find("{")
    try:
        entry = json.loads(line[start:line.rindex("}") + 1])
    except ValueError:
        continue
    header = entry["requestHeader"]
    client = re.sub(r"\d+", "N", header.get("clientId") or "")
    requests[(header["requestApiKeyName"], client)] += 1
    if header["requestApiKeyName"] == "PRODUCE":
        for topic in entry["request"]["topicData"]:
            name = topic["name"].rsplit(".", 1)[-1]
            partitions[name] += len(topic["partitionData"])
            size[name] += sum(p["recordsSizeInBytes"] for p in topic["partitionData"])
for (api, client), n in requests.most_common():
    print(f"{n:6d} {api:20s} {client}")
print(f"{sum(requests.values()):6d} requests")
for name, n in partitions.most_common():
    print(f"produce to {name}: {n} partition batches, {size[name]:,} bytes, {size[name] / n:,.0f} per batch")
