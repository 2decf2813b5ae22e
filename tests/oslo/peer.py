"""The Python side of the oslo.messaging interop tests.

Runs the real oslo.messaging (rabbit driver) against the broker the Rust
tests use, in one of two roles:

    peer.py server URL EXCHANGE TOPIC SERVER
        Serves the `Storage` endpoint (the same methods as the Rust trait in
        tests/src/oslo.rs) until stdin closes. Prints `ready` once its
        queues exist.

    peer.py client URL EXCHANGE TOPIC
        Reads a JSON list of operations from stdin, runs them with an
        RPCClient, and prints one JSON list of outcomes (each with the
        seconds it took). An operation is
        {"kind": "call" | "cast", "method": ..., "args": {...},
         "context": {...}, "prepare": {...}} where "prepare" holds
        RPCClient.prepare() options (server, fanout, timeout,
        call_monitor_timeout, version). An outcome is {"ok": result} or
        {"error": {"class": ..., "exc_type": ..., "value": ...}}.

    peer.py config-client CONFIG_FILE TOPIC
        The same client, configured by an oslo.config file as an OpenStack
        service is (`[DEFAULT] transport_url`, `control_exchange`,
        `[oslo_messaging_rabbit]`).

    peer.py config-server CONFIG_FILE TOPIC SERVER
        The server, configured by such a file.
"""

import json
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging as messaging


class VolumeNotFound(Exception):
    """An OpenStack-style exception: a message built from keyword args."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        super().__init__("Volume %(volume_id)s could not be found." % kwargs)


class Storage:
    """The endpoint: every method takes the context first, as oslo's do."""

    def __init__(self, name):
        self.name = name
        self.recorded = []

    def whoami(self, ctxt):
        return self.name

    def add(self, ctxt, a, b):
        return a + b

    def echo_context(self, ctxt):
        return ctxt

    def fail(self, ctxt, kind):
        if kind == "not_found":
            raise VolumeNotFound(volume_id=7)
        raise ValueError("invalid kind: %s" % kind)

    def slow(self, ctxt, seconds):
        time.sleep(seconds)
        return seconds

    def record(self, ctxt, note):
        self.recorded.append(note)

    def notes(self, ctxt):
        return list(self.recorded)


def transport(url, args=()):
    conf = cfg.CONF
    conf(list(args), project="peer")
    rpc = messaging.get_rpc_transport(conf, url=url)
    if not args:
        # Reply and fanout queues outlive a process by this long (default
        # 30 minutes): short, so that test runs leave nothing behind. (A
        # config file says its own.)
        conf.set_override("rabbit_transient_queues_ttl", 5,
                          group="oslo_messaging_rabbit")
    return rpc


def serve(url, exchange, topic, server):
    target = messaging.Target(topic=topic, server=server, exchange=exchange)
    run_server(transport(url), target, server)


def config_serve(config_file, topic, server):
    rpc = transport(None, ["--config-file", config_file])
    run_server(rpc, messaging.Target(topic=topic, server=server), server)


def run_server(transport, target, server):
    rpc = messaging.get_rpc_server(
        transport, target, [Storage(server)], executor="threading")
    rpc.start()
    print("ready", flush=True)
    sys.stdin.read()
    rpc.stop()
    rpc.wait()


def outcome(run):
    started = time.monotonic()
    try:
        result = {"ok": run()}
    except messaging.RemoteError as e:
        result = {"error": {"class": "RemoteError", "exc_type": e.exc_type,
                            "value": e.value, "traceback": e.traceback}}
    except Exception as e:
        result = {"error": {"class": type(e).__name__, "exc_type": None,
                            "value": str(e)}}
    result["seconds"] = time.monotonic() - started
    return result


def client(url, exchange, topic):
    run_client(transport(url), messaging.Target(topic=topic, exchange=exchange))


def config_client(config_file, topic):
    rpc = transport(None, ["--config-file", config_file])
    run_client(rpc, messaging.Target(topic=topic))


def run_client(transport, target):
    operations = json.load(sys.stdin)
    rpc = messaging.get_rpc_client(transport, target, timeout=10)
    outcomes = []
    for op in operations:
        prepared = rpc.prepare(**op.get("prepare", {}))
        ctxt = op.get("context", {})
        args = op.get("args", {})
        if op["kind"] == "call":
            outcomes.append(outcome(
                lambda: prepared.call(ctxt, op["method"], **args)))
        else:
            outcomes.append(outcome(
                lambda: prepared.cast(ctxt, op["method"], **args)))
    print(json.dumps(outcomes), flush=True)


if __name__ == "__main__":
    role, rest = sys.argv[1], sys.argv[2:]
    if role == "server":
        serve(*rest)
    elif role == "client":
        client(*rest)
    elif role == "config-client":
        config_client(*rest)
    elif role == "config-server":
        config_serve(*rest)
    else:
        sys.exit("usage: peer.py server|client URL EXCHANGE TOPIC [SERVER], "
                 "or peer.py config-client|config-server CONFIG_FILE TOPIC "
                 "[SERVER]")
