#!/usr/bin/python3
"""Tray switch latency: clicks machines in the app's real tray menu (com.canonical.dbusmenu) and
times how long until a new `docker` invocation reaches the new host.

    tray_switch.py BUSNAME PATH CONFIG_JSON ROUNDS NAME=DAEMON_ID NAME=DAEMON_ID

For each round it clicks the other machine, polls the docker CLI's config.json until its
currentContext names that machine (the app's side of the switch), then runs
`docker info --format {{.ID}}` (no DOCKER_HOST: the context decides) and checks the daemon ID
is the new host's. Prints per-round and median figures in milliseconds.
Run with Debian's python3 (python3-dbus)."""
import json
import statistics
import subprocess
import sys
import time

import dbus

bus_name, path, config_json, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
hosts = dict(a.split("=", 1) for a in sys.argv[5:])
names = list(hosts)

bus = dbus.SessionBus()
item = bus.get_object(bus_name, path)
menu_path = item.Get("org.kde.StatusNotifierItem", "Menu", dbus_interface=dbus.PROPERTIES_IFACE)
menu = dbus.Interface(bus.get_object(bus_name, menu_path), "com.canonical.dbusmenu")


def menu_id(name):
    _, root = menu.GetLayout(0, -1, dbus.Array([], signature="s"))
    for ident, props, _ in root[2]:
        if str(props.get("label", "")).replace("_", "").startswith(name + "  ("):
            return int(ident)
    sys.exit("no tray item for %s" % name)


def current_context():
    try:
        with open(config_json) as f:
            return json.load(f).get("currentContext")
    except (OSError, ValueError):
        return None


switch_ms, docker_ms, total_ms = [], [], []
for i in range(rounds):
    target = names[(i + 1) % len(names)]
    ident = menu_id(target)
    t0 = time.perf_counter()
    menu.Event(ident, "clicked", dbus.Int32(0, variant_level=1), dbus.UInt32(int(time.time())))
    while current_context() != "berth-" + target:
        if time.perf_counter() - t0 > 10:
            sys.exit("the switch to %s did not happen within 10 s" % target)
        time.sleep(0.0005)
    t1 = time.perf_counter()
    out = subprocess.run(["docker", "info", "--format", "{{.ID}}"], capture_output=True, text=True)
    t2 = time.perf_counter()
    if out.returncode != 0 or out.stdout.strip() != hosts[target]:
        sys.exit("docker did not reach %s: %s %s" % (target, out.stdout, out.stderr))
    switch_ms.append((t1 - t0) * 1000)
    docker_ms.append((t2 - t1) * 1000)
    total_ms.append((t2 - t0) * 1000)
    print("  round %d -> %s: switch %.1f ms, docker info %.1f ms, total %.1f ms"
          % (i + 1, target, switch_ms[-1], docker_ms[-1], total_ms[-1]))
    time.sleep(0.3)

print("tray switch -> context written: median %.1f ms" % statistics.median(switch_ms))
print("new docker invocation on the new host: median %.1f ms" % statistics.median(docker_ms))
print("tray click -> docker answered by the new host: median %.1f ms (target <= 100 ms for the switch)"
      % statistics.median(total_ms))
