"""The layout of the events' streams: one key as before, or partitions chosen by user."""

from __future__ import annotations

import uuid
from dataclasses import replace

from redis.crc import key_slot

from app.adapters.redis.streams import EventStreams, dead_letter_key, partition_of
from tests.support.events import sample_event

USER = uuid.UUID("6f1c3f0e-2b7d-4c1a-9a53-2f4e8b9d0c11")


def test_one_partition_is_the_stream_key_of_before() -> None:
    streams = EventStreams("user-service:", "events:users")
    assert streams.keys == streams.consumed == ("user-service:events:users",)
    assert streams.key_for(sample_event(USER)) == "user-service:events:users"


def test_partitions_carry_a_hash_tag_each_under_the_key_prefix() -> None:
    streams = EventStreams("user-service:", "events:users", 3)
    assert streams.keys == (
        "user-service:{events:users:0}",
        "user-service:{events:users:1}",
        "user-service:{events:users:2}",
    )
    assert streams.consumed == (*streams.keys, "user-service:events:users")
    assert streams.describe() == "user-service:{events:users:0..2}"


def test_a_partition_and_its_dead_letters_share_a_slot_and_partitions_do_not() -> None:
    keys = EventStreams("user-service:", "events:users", 8).keys
    for key in keys:
        assert key_slot(key.encode()) == key_slot(dead_letter_key(key).encode())
    assert len({key_slot(key.encode()) for key in keys}) == len(keys)


def test_the_partition_of_a_user_is_crc32_of_its_text_and_the_same_for_all_its_events() -> None:
    # zlib.crc32(b"6f1c3f0e-2b7d-4c1a-9a53-2f4e8b9d0c11") == 912885577, any language.
    assert partition_of(USER, 1000) == 912885577 % 1000
    streams = EventStreams("p:", "events", 16)
    assert {streams.key_for(sample_event(USER)) for _ in range(20)} == {
        streams.keys[partition_of(USER, 16)]
    }


def test_events_without_a_user_spread_by_their_own_id() -> None:
    streams = EventStreams("p:", "events", 4)
    anonymous = [replace(sample_event(), user_id=None) for _ in range(200)]
    assert {streams.key_for(event) for event in anonymous} == set(streams.keys)
    assert streams.key_for(anonymous[0]) == streams.keys[partition_of(anonymous[0].id, 4)]
