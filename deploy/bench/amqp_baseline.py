#!/usr/bin/env python3
"""Baseline for `certfleet bench amqp`: the same workload with pika.

Publishes N persistent messages to a quorum queue with publisher confirms,
keeping up to WINDOW unconfirmed (asynchronous SelectConnection, acks with the
multiple flag settle many at once), then consumes them with manual acks
(one ack per message) and the same prefetch. Prints one JSON line.
"""
import argparse
import json
import time
import uuid

import pika


def publish(params, queue, count, size, window):
    body = b"x" * size
    state = {"sent": 0, "confirmed": 0, "nacked": 0, "start": None, "end": None}
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")

    def on_open(connection):
        connection.channel(on_open_callback=on_channel)

    def on_channel(channel):
        state["channel"] = channel
        channel.confirm_delivery(on_confirm, callback=lambda _: start(channel))

    def start(channel):
        state["start"] = time.perf_counter()
        fill(channel)

    def fill(channel):
        while state["sent"] < count and state["sent"] - state["confirmed"] - state["nacked"] < window:
            channel.basic_publish("", queue, body, props)
            state["sent"] += 1

    def on_confirm(frame):
        method = frame.method
        tag = method.delivery_tag
        done = state["confirmed"] + state["nacked"]
        settled = tag - done if method.multiple else 1
        if isinstance(method, pika.spec.Basic.Nack):
            state["nacked"] += settled
        else:
            state["confirmed"] += settled
        if state["confirmed"] + state["nacked"] >= count:
            state["end"] = time.perf_counter()
            connection.close()
        else:
            fill(state["channel"])

    connection = pika.SelectConnection(params, on_open_callback=on_open)
    connection.ioloop_stop = False

    def on_close(_connection, _reason):
        connection.ioloop.stop()

    connection.add_on_close_callback(on_close)
    connection.ioloop.start()
    if state["nacked"]:
        raise SystemExit(f"{state['nacked']} messages nacked")
    return count / (state["end"] - state["start"])


def consume(params, queue, count, prefetch):
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    state = {"received": 0}

    def on_message(ch, method, _properties, _body):
        ch.basic_ack(method.delivery_tag)
        state["received"] += 1
        if state["received"] >= count:
            ch.stop_consuming()

    start = time.perf_counter()
    channel.basic_consume(queue, on_message, auto_ack=False)
    channel.start_consuming()
    elapsed = time.perf_counter() - start
    connection.close()
    return count / elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--prefetch", type=int, default=1000)
    args = parser.parse_args()

    params = pika.URLParameters(args.url)
    queue = f"certfleet.bench.pika.{uuid.uuid4().hex[:8]}"
    setup = pika.BlockingConnection(params)
    channel = setup.channel()
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    try:
        publish_rate = publish(params, queue, args.messages, args.size, args.window)
        consume_rate = consume(params, queue, args.messages, args.prefetch)
    finally:
        channel.queue_delete(queue)
        setup.close()
    print(json.dumps({"publish_per_s": publish_rate, "consume_per_s": consume_rate}))


if __name__ == "__main__":
    main()
