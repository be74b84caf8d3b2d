#!/usr/bin/env python3
"""A small stateful DigitalOcean API for the tests, meant to run behind `prism proxy --errors`
on DigitalOcean's OpenAPI contract (Prism then rejects requests that break the contract and
answers 500 when this fake's answers do). Droplets go new -> active and get the IPv4 address
given with --ipv4 (an address in a subnet the test owns; the fake never hands out public IPs),
actions go in-progress -> completed and change the droplet's status, deletes are real.
With --authorized-keys FILE, a droplet going active appends its SSH keys to FILE, as cloud-init
does on a real droplet (the test points it at a test host's authorized keys).

Usage: fake_do.py PORT TOKEN [--ipv4 A.B.C.D] [--authorized-keys FILE] [--spec FILE]
Standard library + PyYAML only (for the droplet template from the contract's own example).
"""
import argparse
import base64
import copy
import hashlib
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

ACTIVE_AFTER = 0.4  # seconds from create to active, and for an action to complete
lock = threading.Lock()
ids = itertools.count(1000)
state = {"keys": {}, "droplets": {}, "actions": {}}
args = None
template = None
regions = None


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def fingerprint(public_key):
    parts = public_key.split()
    raw = base64.b64decode(parts[1] + "==") if len(parts) > 1 else public_key.encode()
    h = hashlib.md5(raw).hexdigest()
    return ":".join(h[i:i + 2] for i in range(0, 32, 2))


def droplet_view(d):
    """The droplet as the API shows it now (status and networks move on with time)."""
    out = copy.deepcopy(d["body"])
    if out["status"] == "new" and time.time() - d["created"] >= ACTIVE_AFTER:
        d["body"]["status"] = "active"
        if args.authorized_keys:
            with open(args.authorized_keys, "a") as f:
                for k in d["keys"]:
                    f.write(state["keys"][k]["public_key"].strip() + "\n")
        d["body"]["networks"]["v4"] = [
            {"ip_address": args.ipv4, "netmask": "255.255.255.0", "gateway": args.gateway, "type": "public"},
            {"ip_address": args.private_ipv4, "netmask": "255.255.0.0", "gateway": "0.0.0.0", "type": "private"},
        ]
        out = copy.deepcopy(d["body"])
    return out


def action_view(a):
    if a["status"] == "in-progress" and time.time() - a["started"] >= ACTIVE_AFTER:
        a["status"] = "completed"
        a["completed_at"] = now()
        d = state["droplets"].get(a["resource_id"])
        if d:
            d["body"]["status"] = "off" if a["type"] in ("power_off", "shutdown") else "active"
    return {k: v for k, v in a.items() if k != "started"}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self):
        self.send(404, {"id": "not_found", "message": "The resource you were accessing could not be found."})

    def authorized(self):
        if self.headers.get("Authorization") != f"Bearer {args.token}":
            self.send(401, {"id": "Unauthorized", "message": "Unable to authenticate you."})
            return False
        return True

    def key_by(self, ident):
        """A key by ID or fingerprint, as the API looks them up."""
        if ident.isdigit():
            return state["keys"].get(int(ident))
        return next((k for k in state["keys"].values() if k["fingerprint"] == ident), None)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        if not self.authorized():
            return
        path, _, query = self.path.partition("?")
        with lock:
            if path == "/v2/account":
                return self.send(200, {"account": {
                    "droplet_limit": 25, "floating_ip_limit": 3, "email": "berth-tests@example.com",
                    "name": "Berth Tests", "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
                    "email_verified": True, "status": "active", "status_message": ""}})
            if path == "/v2/account/keys":
                keys = list(state["keys"].values())
                return self.send(200, {"ssh_keys": keys, "links": {}, "meta": {"total": len(keys)}})
            m = re.fullmatch(r"/v2/account/keys/([0-9a-f:]+)", path)
            if m:
                k = self.key_by(m.group(1))
                return self.send(200, {"ssh_key": k}) if k else self.not_found()
            if path == "/v2/regions":
                return self.send(200, {"regions": regions, "links": {}, "meta": {"total": len(regions)}})
            if path == "/v2/droplets":
                tag = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("tag_name")
                ds = [droplet_view(d) for d in state["droplets"].values()]
                ds = [d for d in ds if tag is None or tag in d["tags"]]
                return self.send(200, {"droplets": ds, "links": {}, "meta": {"total": len(ds)}})
            m = re.fullmatch(r"/v2/droplets/(\d+)", path)
            if m:
                d = state["droplets"].get(int(m.group(1)))
                return self.send(200, {"droplet": droplet_view(d)}) if d else self.not_found()
            m = re.fullmatch(r"/v2/actions/(\d+)", path)
            if m:
                a = state["actions"].get(int(m.group(1)))
                return self.send(200, {"action": action_view(a)}) if a else self.not_found()
        self.not_found()

    def do_POST(self):
        if not self.authorized():
            return
        body = self.body()
        with lock:
            if self.path == "/v2/account/keys":
                fp = fingerprint(body["public_key"])
                if any(k["fingerprint"] == fp for k in state["keys"].values()):
                    return self.send(422, {"id": "unprocessable_entity", "message": "SSH Key is already in use on your account"})
                key = {"id": next(ids), "fingerprint": fp, "public_key": body["public_key"], "name": body["name"]}
                state["keys"][key["id"]] = key
                return self.send(201, {"ssh_key": key})
            if self.path == "/v2/droplets":
                keys = []
                for k in body.get("ssh_keys", []):
                    found = self.key_by(str(k))
                    if not found:
                        return self.send(422, {"id": "unprocessable_entity", "message": f"ssh key {k} not found"})
                    keys.append(found["id"])
                region = next((r for r in regions if r["slug"] == body["region"]), None)
                if not region or body["size"] not in region["sizes"]:
                    return self.send(422, {"id": "unprocessable_entity",
                                           "message": "You specified an invalid size for Droplet creation."})
                d = copy.deepcopy(template)
                did = next(ids)
                d.update({"id": did, "name": body["name"], "status": "new", "created_at": now(),
                          "tags": body.get("tags", []), "size_slug": body["size"],
                          "networks": {"v4": [], "v6": []}})
                d["region"]["slug"] = body["region"]
                state["droplets"][did] = {"body": d, "created": time.time(), "keys": keys}
                aid = next(ids)
                state["actions"][aid] = {"id": aid, "status": "in-progress", "type": "create", "started_at": now(),
                                         "completed_at": None, "resource_id": did, "resource_type": "droplet",
                                         "region_slug": body["region"], "started": time.time()}
                return self.send(202, {"droplet": d, "links": {"actions": [
                    {"id": aid, "rel": "create", "href": f"http://127.0.0.1/v2/actions/{aid}"}]}})
            m = re.fullmatch(r"/v2/droplets/(\d+)/actions", self.path)
            if m:
                did = int(m.group(1))
                if did not in state["droplets"]:
                    return self.not_found()
                aid = next(ids)
                a = {"id": aid, "status": "in-progress", "type": body["type"], "started_at": now(),
                     "completed_at": None, "resource_id": did, "resource_type": "droplet",
                     "region_slug": state["droplets"][did]["body"]["region"]["slug"], "started": time.time()}
                state["actions"][aid] = a
                return self.send(201, {"action": action_view(a)})
        self.not_found()

    def do_DELETE(self):
        if not self.authorized():
            return
        with lock:
            m = re.fullmatch(r"/v2/droplets/(\d+)", self.path)
            if m and state["droplets"].pop(int(m.group(1)), None):
                return self.send(204)
            m = re.fullmatch(r"/v2/account/keys/(\d+)", self.path)
            if m and state["keys"].pop(int(m.group(1)), None):
                return self.send(204)
        self.not_found()


def main():
    global args, template, regions
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("token")
    p.add_argument("--ipv4", default="192.0.2.10")
    p.add_argument("--gateway", default="192.0.2.1")
    p.add_argument("--private-ipv4", default="10.132.0.10")
    p.add_argument("--authorized-keys")
    p.add_argument("--spec", default=__file__.rsplit("/", 1)[0] + "/digitalocean-openapi.yaml")
    args = p.parse_args()
    spec = yaml.load(open(args.spec), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    template = spec["components"]["examples"]["droplet_single"]["value"]["droplet"]
    # The contract's region example (nyc3), plus two more made from it; one is full.
    nyc3 = spec["components"]["responses"]["all_regions"]["content"]["application/json"]["schema"]["example"]["regions"][0]
    regions = [nyc3, dict(nyc3, slug="ams3", name="Amsterdam 3"),
               dict(nyc3, slug="sfo1", name="San Francisco 1", available=False, sizes=[])]
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"fake DigitalOcean on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
