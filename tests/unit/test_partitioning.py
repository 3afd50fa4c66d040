"""Kafka's murmur2 partitioner, byte for byte: a key must land where any Kafka client puts it."""

import pytest

from streams.partitioning import murmur2, partition_for

#: Kafka's own test vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
#: testMurmur2), as Java's signed ints: tails of 0, 2 and 3 bytes after the 4-byte words, and
#: two of 1 byte ("a", "hello"), as the Python murmur2 this replaced gave them (git b562781;
#: tests/integration/test_produce.py held that one to librdkafka's partitioner).
VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
    b"a": -1563381124,
    b"hello": 2132663229,
}


@pytest.mark.parametrize(("key", "signed"), VECTORS.items())
def test_murmur2_matches_kafkas_vectors(key: bytes, signed: int) -> None:
    assert murmur2(key) == signed & 0xFFFFFFFF


def test_partition_is_the_positive_hash_modulo_the_partitions() -> None:
    for key, signed in VECTORS.items():
        expected = (signed & 0x7FFFFFFF) % 12
        assert partition_for(key, 12) == expected
        assert partition_for(key.decode(), 12) == expected  # a str key is its UTF-8 bytes
    assert murmur2(b"") == 275646681  # no words, no tail: the seed, mixed


def test_no_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="partitions"):
        partition_for(b"acct-1", 0)
