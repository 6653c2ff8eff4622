"""The host side of the linux-guest rig: one QEMU (TCG) guest booted from the cached Debian 12
image, its command agent (virtio-serial), its monitor (QMP) and the pads plugged into it.

Only the Python standard library: the rig runs on a fresh CI machine.
"""

import base64
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time


class RigError(Exception):
    pass


class Guest:
    def __init__(self, image_dir, work, memory_mb=1280, cpus=2):
        self.image_dir = image_dir
        self.work = work
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.proc = None
        self.agent = None
        self.qmp = None
        self._agent_buf = b""
        self._qmp_buf = b""

    # --- boot and power -----------------------------------------------------------------------

    def boot(self, payload_img, timeout=180):
        w = self.work
        for s in ("agent.sock", "qmp.sock", "padacm.sock", "con.sock"):
            try:
                os.unlink(os.path.join(w, s))
            except FileNotFoundError:
                pass
        img = self.image_dir
        cmd = [
            "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-machine", "q35",
            "-m", str(self.memory_mb), "-smp", str(self.cpus),
            "-kernel", f"{img}/vmlinuz", "-initrd", f"{img}/initrd.img",
            "-append", "root=/dev/vda rw console=ttyS0,115200 quiet systemd.show_status=0",
            "-drive", f"file={img}/root.img,if=virtio,format=raw,snapshot=on",
            "-drive", f"file={payload_img},if=virtio,format=raw,readonly=on",
            "-display", "none", "-no-reboot",
            "-serial", f"file:{w}/console.log",
            "-qmp", f"unix:{w}/qmp.sock,server=on,wait=off",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=ag,path={w}/agent.sock,server=on,wait=off",
            "-device", "virtserialport,chardev=ag,name=agent",
            "-chardev", f"socket,id=padacm,path={w}/padacm.sock,server=on,wait=off",
            "-device", "virtserialport,chardev=padacm,name=padacm",
            "-device", "qemu-xhci,id=xhci",
            "-nic", "none",
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(f"{w}/qemu.log", "wb"),
                                     stderr=subprocess.STDOUT, process_group=0)
        # A process group of its own, but NOT a new session: a session leader would get the
        # first pad pty it opens as its controlling terminal, and SIGHUP when that pad goes.
        deadline = time.monotonic() + timeout
        while not os.path.exists(f"{w}/qmp.sock"):
            if self.proc.poll() is not None:
                raise RigError(f"qemu exited: {open(f'{w}/qemu.log').read()[-2000:]}")
            if time.monotonic() > deadline:
                raise RigError("qemu did not create its monitor socket")
            time.sleep(0.1)
        self.qmp = socket.socket(socket.AF_UNIX)
        self.qmp.connect(f"{w}/qmp.sock")
        self._qmp_read()  # greeting
        self.monitor("qmp_capabilities")
        # The agent answers once systemd has started it.
        while True:
            if time.monotonic() > deadline:
                raise RigError(f"the guest agent did not answer in {timeout} s; console: {self.console_tail()}")
            try:
                self.agent = socket.socket(socket.AF_UNIX)
                self.agent.connect(f"{w}/agent.sock")
                self.agent.settimeout(3)
                self.agent.sendall(b"echo ready\n")
                out = self._agent_read(time.monotonic() + 3)
                if "ready" in out[0]:
                    return
            except (OSError, RigError):
                pass
            try:
                self.agent.close()
            except OSError:
                pass
            time.sleep(1)

    def console_tail(self, n=1500):
        try:
            return open(f"{self.work}/console.log", errors="replace").read()[-n:]
        except OSError:
            return ""

    def shutdown(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.monitor("quit")
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    # --- the agent ----------------------------------------------------------------------------

    def _agent_read(self, deadline):
        while True:
            m = re.search(rb"\n?__END__ rc=(\d+)\n", self._agent_buf)
            if m:
                out = self._agent_buf[: m.start()].decode(errors="replace")
                self._agent_buf = self._agent_buf[m.end():]
                return out, int(m.group(1))
            left = deadline - time.monotonic()
            if left <= 0:
                raise RigError("the guest agent did not answer in time")
            self.agent.settimeout(left)
            try:
                chunk = self.agent.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise RigError("the guest agent closed its port")
            self._agent_buf += chunk

    def sh(self, script, timeout=60, check=True):
        """Runs a bash script in the guest as root; returns (output, exit status)."""
        # The script goes to a file first: commands in it that read stdin must not eat the script.
        line = "echo " + base64.b64encode(script.encode()).decode() + " | base64 -d >/run/rig-cmd.sh && timeout " + \
            str(int(timeout)) + " bash /run/rig-cmd.sh"
        self.agent.sendall(line.encode() + b"\n")
        out, rc = self._agent_read(time.monotonic() + timeout + 15)
        if check and rc != 0:
            raise RigError(f"guest command failed (exit {rc}): {script.strip()[:300]}\n{out[-3000:]}")
        return out, rc

    # --- the monitor (QMP) --------------------------------------------------------------------

    def _qmp_read(self):
        while b"\n" not in self._qmp_buf:
            chunk = self.qmp.recv(65536)
            if not chunk:
                raise RigError("the QEMU monitor closed")
            self._qmp_buf += chunk
        line, self._qmp_buf = self._qmp_buf.split(b"\n", 1)
        return json.loads(line)

    def monitor(self, command, **arguments):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.qmp.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._qmp_read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise RigError(f"monitor {command}: {reply['error'].get('desc')}")
            return reply.get("return")


class HostPad:
    """`ngbridge sim pinpad` on the host, scripted; its pty is the far end of a QEMU usb-serial."""

    def __init__(self, ngbridge, work, name, serial, script):
        self.work = work
        self.name = name
        self.serial = serial
        self.link = f"{work}/{name}.pty"
        self.log = f"{work}/{name}.log"
        with open(f"{work}/{name}.pad", "w") as f:
            f.write(script)
        self.proc = subprocess.Popen(
            [ngbridge, "sim", "pinpad", "--link", self.link, "--serial", serial, "--no-interactive",
             "--script", f"{work}/{name}.pad"],
            stdin=subprocess.DEVNULL, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.link):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RigError(f"the pad simulator did not start: {self.transcript()[-1500:]}")
            time.sleep(0.05)

    def transcript(self):
        try:
            return open(self.log, errors="replace").read()
        except OSError:
            return ""

    def count(self, text):
        return self.transcript().count(text)

    def wait_for(self, text, n=1, timeout=60):
        deadline = time.monotonic() + timeout
        while self.count(text) < n:
            if time.monotonic() > deadline:
                raise RigError(f"pad {self.name}: no {text!r} (x{n}) in {timeout} s: {self.transcript()[-1500:]}")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class FTDIPlug:
    """The QEMU usb-serial adapter (FTDI 0403:6001) whose host end is a HostPad's pty."""

    def __init__(self, guest, pad, dev_id="uftdi"):
        self.guest = guest
        self.pad = pad
        self.dev_id = dev_id
        self.chardev = dev_id + "c"
        guest.monitor("chardev-add", id=self.chardev,
                      backend={"type": "serial", "data": {"device": os.path.realpath(pad.link)}})
        self.plugged = False

    def plug(self):
        self.guest.monitor("device_add", driver="usb-serial", bus="xhci.0", chardev=self.chardev,
                           id=self.dev_id, serial=self.pad.serial, **{"always-plugged": True})
        self.plugged = True

    def unplug(self):
        if self.plugged:
            self.guest.monitor("device_del", id=self.dev_id)
            self.plugged = False
            # device_del completes asynchronously: wait until the device is gone from the tree.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.dev_id not in json.dumps(self.guest.monitor("qom-list", path="/machine/peripheral")):
                    return
                time.sleep(0.05)
            raise RigError(f"device_del {self.dev_id} did not complete")

    def remove(self):
        self.unplug()
        # The chardev stays busy until the guest has let go of the device: retry for a while.
        deadline = time.monotonic() + 15
        while True:
            try:
                self.guest.monitor("chardev-remove", id=self.chardev)
                break
            except RigError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.pad.stop()


def quote(s):
    return shlex.quote(s)
