"""A container's life through proxmoxer (Debian python3-proxmoxer 1.2), as
the Ansible proxmox modules drive it: nextid, create, wait for the task,
start, config, stop, delete, plus the refusals a script has to handle.

Prints one JSON object of what it saw; clienttest's Go test judges it.
Environment: PVE_HOST (host:port), PVE_USER, PVE_TOKEN_NAME, PVE_TOKEN_VALUE,
PVE_CA (CA bundle for the simulator's certificate).
"""
import json
import os
import sys
import time

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

NODE = "pve"
TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"


def api(token_value):
    return ProxmoxAPI(os.environ["PVE_HOST"], user=os.environ["PVE_USER"],
                      token_name=os.environ["PVE_TOKEN_NAME"], token_value=token_value,
                      verify_ssl=os.environ["PVE_CA"], timeout=30)


def wait(pve, upid, timeout=30):
    """Polls the task until it stops; proxmoxer 1.2 has no helper for it."""
    deadline = time.monotonic() + timeout
    polls = 0
    while True:
        polls += 1
        st = pve.nodes(NODE).tasks(upid).status.get()
        if st["status"] == "stopped":
            return {"exitstatus": st.get("exitstatus"), "type": st.get("type"), "polls": polls}
        if time.monotonic() > deadline:
            raise TimeoutError("task %s still running" % upid)
        time.sleep(0.05)


def refused(fn):
    try:
        fn()
    except ResourceException as e:
        return {"status": e.status_code, "reason": e.content, "errors": e.errors, "text": str(e)}
    return None


seen = {}
tasks = {}     # name → what wait() saw
refusals = {}  # name → the ResourceException, or None
seen["tasks"], seen["refusals"] = tasks, refusals
pve = api(os.environ["PVE_TOKEN_VALUE"])
seen["version"] = pve.version.get()["version"]

vmid = int(pve.cluster.nextid.get())
seen["vmid"] = vmid
upid = pve.nodes(NODE).lxc.create(
    vmid=vmid, ostemplate=TEMPLATE, hostname="ct-proxmoxer", storage="local-zfs",
    rootfs="local-zfs:8", memory=512, cores=1, unprivileged=1,
    net0="name=eth0,bridge=vmbr0,ip=dhcp", tags="proxmoxer")
seen["create_upid"] = upid
tasks["create"] = wait(pve, upid)
seen["status_after_create"] = pve.nodes(NODE).lxc(vmid).status.current.get()["status"]
cfg = pve.nodes(NODE).lxc(vmid).config.get()
seen["config"] = {k: cfg.get(k) for k in ("hostname", "memory", "cores", "rootfs", "net0")}

# The same VMID again: a script that guesses IDs must see this refusal.
refusals["create_again"] = refused(lambda: pve.nodes(NODE).lxc.create(
    vmid=vmid, ostemplate=TEMPLATE, hostname="again", storage="local-zfs"))
refusals["create_on_vm_id"] = refused(lambda: pve.nodes(NODE).lxc.create(
    vmid=9000, ostemplate=TEMPLATE, storage="local-zfs"))
seen["create_log_tail"] = [l["t"] for l in pve.nodes(NODE).tasks(upid).log.get()][-1:]
refusals["create_bad_param"] = refused(lambda: pve.nodes(NODE).lxc.create(
    vmid=vmid + 1, ostemplate=TEMPLATE, memory="lots"))

tasks["start"] = wait(pve, pve.nodes(NODE).lxc(vmid).status.start.post())
seen["status_after_start"] = pve.nodes(NODE).lxc(vmid).status.current.get()["status"]
in_list = [g for g in pve.cluster.resources.get(type="vm") if g.get("vmid") == vmid]
seen["resources"] = in_list[0] if in_list else None

# LXC config PUT is synchronous: no UPID.
seen["config_put"] = pve.nodes(NODE).lxc(vmid).config.put(cores=2, description="set by proxmoxer")
seen["cores_after_put"] = pve.nodes(NODE).lxc(vmid).config.get().get("cores")

seen["delete_running"] = None
try:
    seen["delete_running"] = {"task": wait(pve, pve.nodes(NODE).lxc(vmid).delete())}
except ResourceException as e:
    seen["delete_running"] = {"status": e.status_code, "reason": e.content}

tasks["stop"] = wait(pve, pve.nodes(NODE).lxc(vmid).status.stop.post())
seen["status_after_stop"] = pve.nodes(NODE).lxc(vmid).status.current.get()["status"]
tasks["delete"] = wait(pve, pve.nodes(NODE).lxc(vmid).delete(purge=1))
refusals["config_after_delete"] = refused(lambda: pve.nodes(NODE).lxc(vmid).config.get())

# A VM cloned from the homelab's template 9000, started and destroyed.
clone_upid = pve.nodes(NODE).qemu(9000).clone.post(newid=vmid + 1, name="vm-proxmoxer")
tasks["clone"] = wait(pve, clone_upid)
seen["clone_config"] = {k: v for k, v in pve.nodes(NODE).qemu(vmid + 1).config.get().items()
                        if k in ("name", "scsi0", "template")}
tasks["vm_start"] = wait(pve, pve.nodes(NODE).qemu(vmid + 1).status.start.post())
tasks["vm_stop"] = wait(pve, pve.nodes(NODE).qemu(vmid + 1).status.stop.post())
tasks["vm_delete"] = wait(pve, pve.nodes(NODE).qemu(vmid + 1).delete())
refusals["delete_missing"] = refused(lambda: pve.nodes(NODE).lxc(555).delete())

refusals["wrong_token"] = refused(lambda: api("wrong").version.get())

json.dump(seen, sys.stdout, indent=1, default=str)
