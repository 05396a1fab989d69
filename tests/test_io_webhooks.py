import time

import pytest

from pipeline.io.webhooks import DeliveryError, post_json, retried
from tests.receivers import Receiver


def test_a_message_arrives_as_json_in_one_try():
    with Receiver() as receiver:
        assert post_json(receiver.url, {"text": "hello"}, timeout_s=2, retries=3, backoff_s=0.01) == 1
    assert receiver.received == [{"text": "hello"}]


def test_server_errors_are_retried_until_one_succeeds():
    with Receiver(answers=(500, 503)) as receiver:
        assert post_json(receiver.url, {"n": 1}, timeout_s=2, retries=3, backoff_s=0.01) == 3
    assert len(receiver.tries) == 3 and receiver.received == [{"n": 1}]


def test_a_receiver_that_always_fails_is_tried_retries_plus_one_times_then_reported():
    with Receiver(always=500) as receiver:
        with pytest.raises(DeliveryError, match=r"HTTP 500 after 3 tries"):
            post_json(receiver.url, {"n": 1}, timeout_s=2, retries=2, backoff_s=0.01)
    assert len(receiver.tries) == 3 and receiver.received == []


def test_backoff_doubles_between_tries():
    with Receiver(always=500) as receiver:
        began = time.monotonic()
        with pytest.raises(DeliveryError):
            post_json(receiver.url, {}, timeout_s=2, retries=2, backoff_s=0.2)
        assert time.monotonic() - began >= 0.2 + 0.4


def test_a_receiver_that_does_not_answer_in_time_times_out_each_try():
    with Receiver(delay_s=3.0) as receiver:
        began = time.monotonic()
        with pytest.raises(DeliveryError, match=r"no answer within 0.3s after 2 tries"):
            post_json(receiver.url, {}, timeout_s=0.3, retries=1, backoff_s=0.01)
        assert time.monotonic() - began < 2.5  # gave up long before the receiver answered
    assert len(receiver.tries) == 2


def test_a_client_error_is_not_retried():
    with Receiver(always=404) as receiver:
        with pytest.raises(DeliveryError, match=r"refused with HTTP 404 \(not retried\)"):
            post_json(receiver.url, {}, timeout_s=2, retries=3, backoff_s=0.01)
    assert len(receiver.tries) == 1


def test_nothing_listening_is_a_delivery_error():
    with Receiver() as receiver:
        url = receiver.url
    with pytest.raises(DeliveryError, match=r"after 2 tries"):
        post_json(url, {}, timeout_s=1, retries=1, backoff_s=0.01)


def test_only_http_urls_are_posted_to(tmp_path):
    target = tmp_path / "file"
    with pytest.raises(DeliveryError, match=r"not an http\(s\) URL \(starts 'file'\)"):
        post_json(f"file://{target}", {}, timeout_s=1, retries=0, backoff_s=0.01)
    assert not target.exists()


def test_another_sender_is_retried_until_it_succeeds():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("reset by peer")

    assert retried(flaky, retries=3, backoff_s=0.01) == 3


def test_another_sender_that_keeps_failing_or_is_misconfigured_is_reported():
    calls = []

    def down():
        calls.append(1)
        raise ConnectionError("reset by peer")

    with pytest.raises(DeliveryError, match=r"ConnectionError: reset by peer after 3 tries"):
        retried(down, retries=2, backoff_s=0.01)
    assert len(calls) == 3

    def wrong():
        calls.append(1)
        raise ValueError("no block named 'x'")

    with pytest.raises(DeliveryError, match=r"ValueError: no block named 'x' \(not retried\)"):
        retried(wrong, retries=2, backoff_s=0.01)
    assert len(calls) == 4
