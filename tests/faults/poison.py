"""Publishes one message whose content-type is not UTF-8 (bytes 0xff 0xfe):
a property string amqprs cannot decode. Used by the fault matrix
(tests/tests/faults.rs) to check that such a message cannot keep a server
off the broker.

    poison.py HOST:PORT EXCHANGE ROUTING_KEY
"""
import sys

import amqp

host, exchange, routing_key = sys.argv[1:4]
with amqp.Connection(host=host, userid="guest", password="guest") as connection:
    channel = connection.channel()
    channel.confirm_select()
    message = amqp.Message(b"poison", content_type=b"\xff\xfe")
    channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
    print("published")
