#!/usr/bin/python3
"""Reads and clicks a StatusNotifierItem's real D-Bus menu (com.canonical.dbusmenu).

    tray_client.py BUSNAME PATH layout          -> JSON list of {id, label, checked, enabled}
    tray_client.py BUSNAME PATH click LABEL     -> sends the "clicked" event to that item
                                                (a machine: its name)
"""
import json
import sys
import time

import dbus

bus = dbus.SessionBus()
bus_name, path, cmd = sys.argv[1], sys.argv[2], sys.argv[3]
item = bus.get_object(bus_name, path)
menu_path = item.Get("org.kde.StatusNotifierItem", "Menu", dbus_interface=dbus.PROPERTIES_IFACE)
menu = dbus.Interface(bus.get_object(bus_name, menu_path), "com.canonical.dbusmenu")


def flatten(node, out, depth=0):
    ident, props, children = node
    label = str(props.get("label", "")).replace("_", "") if "label" in props else ""
    if ident != 0:
        out.append({
            "id": int(ident),
            "label": label,
            "type": str(props.get("type", "standard")),
            "checked": int(props.get("toggle-state", -1)) == 1 if "toggle-state" in props else None,
            "enabled": bool(props.get("enabled", True)),
            "depth": depth,
        })
    for child in children:
        flatten(child, out, depth + (0 if ident == 0 else 1))
    return out


def layout():
    _, root = menu.GetLayout(0, -1, dbus.Array([], signature="s"))
    return flatten(root, [])


if cmd == "layout":
    print(json.dumps(layout()))
elif cmd == "click":
    want = sys.argv[4]
    # A machine's label carries its state ("dev  (running)"): its name is enough.
    items = [i for i in layout() if i["label"] == want or i["label"].startswith(want + "  (")]
    if not items:
        sys.exit("no menu item labelled %r in %s" % (want, [i["label"] for i in layout()]))
    menu.Event(items[0]["id"], "clicked", dbus.Int32(0, variant_level=1), dbus.UInt32(int(time.time())))
    print("clicked %s" % want)
else:
    sys.exit("unknown command " + cmd)
