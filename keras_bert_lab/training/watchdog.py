"""Waits for TCP addresses to answer; as a script, stops a stuck worker.

TensorFlow's gRPC channels retry a dead address for minutes, and
`MultiWorkerMirroredStrategy` waits for every peer with no deadline while
holding the GIL, so neither an exception nor a Python thread in the
worker can end the wait. `wait_for_address` is the probe; run as a script
(`python watchdog.py PID TIMEOUT ADDRESS...`, which imports nothing from
TensorFlow), it probes the peers from a separate process and, when one
never answers, prints the error and kills the worker PID.
"""

import os
import signal
import socket
import sys
import time


def wait_for_address(address, setting, timeout):
  """Waits until `host:port` accepts TCP connections, or fails clearly.

  Args:
    address: `host:port`, optionally with a `grpc://` prefix.
    setting: what to name in the error (a flag or `TF_CONFIG`).
    timeout: seconds to keep trying (peers may still be starting).

  Raises:
    ValueError: nothing listens at `address` within `timeout` seconds.

  Example:
    >>> server = socket.create_server(("localhost", 0))   # a peer, listening
    >>> port = server.getsockname()[1]
    >>> wait_for_address(f"grpc://localhost:{port}", "--tpu", timeout=10)
    >>> server.close()
  """
  host, _, port = address.removeprefix("grpc://").rpartition(":")
  deadline = time.monotonic() + timeout
  while True:
    try:
      with socket.create_connection((host, int(port)), timeout=5):
        return
    except OSError as e:
      if time.monotonic() >= deadline:
        raise ValueError(
            f"{setting}: nothing answers at {address} after {timeout:g} s "
            f"({e}); check the address and that the process there is "
            "running.") from None
      time.sleep(1)


def main(argv):
  pid, timeout, addresses = int(argv[1]), float(argv[2]), argv[3:]
  try:
    for address in addresses:
      wait_for_address(address, f"TF_CONFIG's cluster member {address}",
                       timeout)
  except ValueError as e:
    print(f"FATAL: {e}", file=sys.stderr, flush=True)
    try:
      # SIGKILL: the strategy's preemption notifier catches SIGTERM.
      os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
      pass


if __name__ == "__main__":
  main(sys.argv)
