"""Ticket login through proxmoxer (Debian python3-proxmoxer 1.2), as a
script without an API token does it: ProxmoxAPI(host, user=..., password=...)
posts /access/ticket, then sends the PVEAuthCookie cookie and, on writes, the
CSRFPreventionToken header. It creates and starts a container, lists the
node's tasks, the cluster's storage and the container's interfaces.

Prints one JSON object of what it saw; clienttest's Go test judges it.
Environment: PVE_HOST (host:port), PVE_USER, PVE_PASSWORD, PVE_CA.
"""
import json
import os
import time

from proxmoxer import ProxmoxAPI
from proxmoxer.backends.https import AuthenticationError

NODE = "pve"
TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"


def api(password):
    return ProxmoxAPI(os.environ["PVE_HOST"], user=os.environ["PVE_USER"], password=password,
                      verify_ssl=os.environ["PVE_CA"], timeout=30)


def wait(pve, upid, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        st = pve.nodes(NODE).tasks(upid).status.get()
        if st["status"] == "stopped":
            return st
        if time.monotonic() > deadline:
            raise TimeoutError("task %s still running" % upid)
        time.sleep(0.05)


seen = {}
try:
    api("wrong password")
    seen["wrong_password"] = "logged in"
except AuthenticationError as e:
    seen["wrong_password"] = str(e)

pve = api(os.environ["PVE_PASSWORD"])
vmid = int(pve.cluster.nextid.get())
upid = pve.nodes(NODE).lxc.create(
    vmid=vmid, ostemplate=TEMPLATE, hostname="ct-ticket", storage="local-zfs",
    rootfs="local-zfs:8", memory=512, net0="name=eth0,bridge=vmbr0,ip=10.42.0.150/24,gw=10.42.0.1")
seen["create_upid"] = upid
seen["create_status"] = wait(pve, upid)
seen["interfaces_stopped"] = pve.nodes(NODE).lxc(vmid).interfaces.get()
seen["start_status"] = wait(pve, pve.nodes(NODE).lxc(vmid).status.start.post())
seen["interfaces"] = pve.nodes(NODE).lxc(vmid).interfaces.get()
seen["tasks"] = pve.nodes(NODE).tasks.get()
seen["tasks_vzstart"] = pve.nodes(NODE).tasks.get(typefilter="vzstart", limit=10)
seen["storage"] = pve.storage.get()
seen["storage_dir"] = pve.storage.get(type="dir")
print(json.dumps(seen))
