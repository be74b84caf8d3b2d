#!/usr/bin/python3
"""The desktop services a headless session lacks, for tests:
- a minimal org.kde.StatusNotifierWatcher: tray icons (libayatana-appindicator) register with it,
  and the items it records are written to the file argv[1], one "busname path" per line;
- a minimal org.freedesktop.Notifications server: each notification is appended to the file
  argv[2] as a JSON line {"summary", "body"}.
Run with Debian's python3 (python3-dbus, python3-gi)."""
import json
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

OUT = sys.argv[1]
NOTES = sys.argv[2] if len(sys.argv) > 2 else None
IFACE = "org.kde.StatusNotifierWatcher"

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.SessionBus()


class Watcher(dbus.service.Object):
    def __init__(self):
        super().__init__(bus, "/StatusNotifierWatcher")
        self.items = []

    @dbus.service.method(IFACE, in_signature="s", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        if service.startswith("/"):
            item = "%s %s" % (sender, service)
        else:
            item = "%s /StatusNotifierItem" % service
        self.items.append(item)
        with open(OUT, "a") as f:
            f.write(item + "\n")
        self.StatusNotifierItemRegistered(item)

    @dbus.service.method(IFACE, in_signature="s")
    def RegisterStatusNotifierHost(self, service):
        pass

    @dbus.service.signal(IFACE, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.signal(IFACE, signature="s")
    def StatusNotifierHostRegistered(self, host):
        pass

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, iface, prop):
        return self.GetAll(iface)[prop]

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        return {
            "RegisteredStatusNotifierItems": dbus.Array([i.replace(" ", "") for i in self.items], signature="s"),
            "IsStatusNotifierHostRegistered": dbus.Boolean(True),
            "ProtocolVersion": dbus.Int32(0),
        }


class Notifications(dbus.service.Object):
    def __init__(self):
        super().__init__(bus, "/org/freedesktop/Notifications")
        self.next_id = 0

    @dbus.service.method("org.freedesktop.Notifications", in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout):
        self.next_id += 1
        with open(NOTES, "a") as f:
            f.write(json.dumps({"app": str(app), "summary": str(summary), "body": str(body)}) + "\n")
        return dbus.UInt32(self.next_id)

    @dbus.service.method("org.freedesktop.Notifications", out_signature="as")
    def GetCapabilities(self):
        return dbus.Array(["body"], signature="s")

    @dbus.service.method("org.freedesktop.Notifications", out_signature="ssss")
    def GetServerInformation(self):
        return ("berth-test", "berth", "1", "1.2")

    @dbus.service.method("org.freedesktop.Notifications", in_signature="u")
    def CloseNotification(self, ident):
        pass


name = dbus.service.BusName("org.kde.StatusNotifierWatcher", bus)
watcher = Watcher()
if NOTES:
    notes_name = dbus.service.BusName("org.freedesktop.Notifications", bus)
    notifications = Notifications()
print("watcher ready", flush=True)
GLib.MainLoop().run()
