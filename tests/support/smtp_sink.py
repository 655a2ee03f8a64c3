"""A real SMTP server for the tests (aiosmtpd), on 127.0.0.1:PORT.

Every message it receives is written to DIR as one JSON file (its envelope,
its headers, and its text body decoded), first to a temporary name and then
renamed, so a reader never sees half a file. It prints "ready" once it
listens and stops on SIGTERM.

    target/smtp-venv/bin/python tests/support/smtp_sink.py PORT DIR
"""

import asyncio
import email
import email.policy
import json
import os
import signal
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {name: str(value) for name, value in message.items()},
            "text": body.get_content().replace("\r\n", "\n") if body is not None else "",
        }
        self.count += 1
        name = os.path.join(self.directory, f"{os.getpid()}-{self.count}.json")
        with open(name + ".tmp", "w") as out:
            json.dump(record, out)
        os.rename(name + ".tmp", name)
        return "250 Message accepted for delivery"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
