#!/usr/bin/python3
"""A partner organisation's XMPP user whose client is slixmpp (Debian's python3-slixmpp), for the end-to-end tests.

Driven by test/support/slixmpp-client.ts over JSON lines: commands on stdin, events on stdout. Everything
protocol-related is slixmpp's own (its plugins build and read the stanzas); this file only translates.

usage: partner_client.py JID PASSWORD HOST PORT
"""
import asyncio
import json
import sys
import threading

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout


def emit(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class PartnerUser(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ("xep_0030", "xep_0054", "xep_0184", "xep_0199", "xep_0308", "xep_0380", "xep_0444"):
            self.register_plugin(plugin)
        # Receipts are asked for per message (the 'receipt' flag); received ones are acknowledged by the plugin.
        self["xep_0184"].auto_request = False
        self.auto_authorize = True
        self.auto_subscribe = True
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_message)
        self.add_event_handler("receipt_received", lambda m: emit("receipt", id=m["receipt"], frm=str(m["from"])))
        self.add_event_handler("reactions", lambda m: emit("reactions", id=m["reactions"]["id"], frm=str(m["from"]), emojis=sorted(m["reactions"].get_values(all_chars=True))))
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("disconnected", lambda _: emit("disconnected"))
        self.add_event_handler("failed_auth", lambda _: emit("failed_auth"))

    async def on_session_start(self, _):
        await self.get_roster()
        self.send_presence()
        emit("online", jid=str(self.boundjid))

    def on_message(self, msg):
        if msg["type"] == "error":
            emit("error", id=msg["id"], frm=str(msg["from"]), condition=msg["error"]["condition"], type=msg["error"]["type"], text=msg["error"]["text"])
            return
        if msg["body"] or msg["replace"]["id"]:
            emit("message", id=msg["id"], frm=str(msg["from"]), body=msg["body"], replace=msg["replace"]["id"] or None)

    def on_presence(self, p):
        emit("presence", frm=str(p["from"]), type=p["type"], show=p["show"] or None, status=p["status"] or None)

    async def run_command(self, c):
        op = c["op"]
        if op == "message":
            m = self.make_message(mto=c["to"], mbody=c["body"], mtype="chat")
            m["id"] = c["id"]
            if c.get("receipt"):
                m["request_receipt"] = True
            if c.get("replace"):
                m["replace"]["id"] = c["replace"]
            if c.get("eme"):
                m["eme"]["namespace"] = c["eme"]
            m.send()
        elif op == "react":
            self["xep_0444"].send_reactions(c["to"], c["id"], c["emojis"])
        elif op == "subscribe":
            self.send_presence(pto=c["to"], ptype="subscribe")
        elif op == "presence":
            self.send_presence(pshow=c.get("show"), pstatus=c.get("status"))
        elif op == "disco":
            try:
                info = await self["xep_0030"].get_info(jid=c["to"], timeout=20)
                q = info["disco_info"]
                emit("disco", to=c["to"], identities=[list(i) for i in q["identities"]], features=sorted(q["features"]))
            except (IqError, IqTimeout) as e:
                emit("iq_error", op=op, to=c["to"], error=str(e))
        elif op == "vcard":
            try:
                r = await self["xep_0054"].get_vcard(jid=c["to"], timeout=20)
                v = r["vcard_temp"]
                emit("vcard", to=c["to"], fn=v["FN"], title=v["TITLE"])
            except (IqError, IqTimeout) as e:
                emit("iq_error", op=op, to=c["to"], error=str(e))
        elif op == "ping":
            try:
                rtt = await self["xep_0199"].ping(jid=c["to"], timeout=20)
                emit("pong", to=c["to"], rtt=rtt)
            except (IqError, IqTimeout) as e:
                emit("iq_error", op=op, to=c["to"], error=str(e))
        elif op == "quit":
            self.disconnect()


def main():
    jid, password, host, port = sys.argv[1:5]
    xmpp = PartnerUser(jid, password)
    loop = asyncio.get_event_loop()

    def read_commands():
        for line in sys.stdin:
            if line.strip():
                command = json.loads(line)
                loop.call_soon_threadsafe(lambda c=command: asyncio.ensure_future(xmpp.run_command(c)))
        loop.call_soon_threadsafe(xmpp.disconnect)

    threading.Thread(target=read_commands, daemon=True).start()
    # The loopback partner server's c2s is plaintext (the S2S link is what this test is about); SCRAM needs no TLS.
    xmpp.connect(address=(host, int(port)), force_starttls=False, disable_starttls=True)
    loop.run_until_complete(xmpp.disconnected)


if __name__ == "__main__":
    main()
