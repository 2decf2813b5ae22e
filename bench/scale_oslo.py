"""oslo.messaging's side of `cargo xtask bench --only scale`.

    scale_oslo.py URL EXCHANGE TOPIC FIRST COUNT classic|stream

Starts COUNT RPC servers (`s<FIRST>` ... on TOPIC) on one transport, as
one OpenStack service process hosting them would; prints `ready`, then
`got N` each time its servers together received N casts (a multiple of
COUNT), and `stopped` once a line on stdin has stopped them all.
"""

import eventlet
from eventlet import tpool

# As an OpenStack service of the eventlet era (nova-compute, cinder-volume)
# runs: monkey-patched, its servers on green threads.
eventlet.monkey_patch()

import sys  # noqa: E402
import threading  # noqa: E402

from oslo_config import cfg  # noqa: E402
import oslo_messaging as messaging  # noqa: E402


class Counter:
    def __init__(self, every):
        self.every = every
        self.received = 0
        self.lock = threading.Lock()

    def echo(self, ctxt, payload):
        return payload

    def sink(self, ctxt, payload):
        with self.lock:
            self.received += 1
            if self.received % self.every == 0:
                print("got %d" % self.received, flush=True)


def main(url, exchange, topic, first, count, fanout):
    url = "rabbit://" + url.split("://", 1)[1].replace("%2f", "")
    conf = cfg.CONF
    conf([], project="scale")
    messaging.set_transport_defaults(control_exchange=exchange)
    transport = messaging.get_rpc_transport(conf, url=url)
    if fanout == "stream":
        # oslo.messaging asks for both with stream fanout, and a prefetch.
        for option, value in [("rabbit_stream_fanout", True),
                              ("rabbit_transient_quorum_queue", True),
                              ("rabbit_qos_prefetch_count", 64)]:
            conf.set_override(option, value, group="oslo_messaging_rabbit")
    counter = Counter(count)
    servers = []
    for n in range(first, first + count):
        target = messaging.Target(topic=topic, server="s%d" % n)
        server = messaging.get_rpc_server(
            transport, target, [counter], executor="eventlet")
        server.start()
        servers.append(server)
    print("ready", flush=True)
    # Read stdin off the hub, so the servers' green threads keep running.
    tpool.execute(sys.stdin.readline)
    for server in servers:
        server.stop()
    for server in servers:
        server.wait()
    transport.cleanup()
    print("stopped", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]),
         int(sys.argv[5]), sys.argv[6])
