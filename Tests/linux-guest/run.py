#!/usr/bin/env python3
"""The bridge on a real kernel: boots the cached Debian 12 guest under QEMU (TCG), installs the
.deb, and runs the named scenarios against real systemd 252, real udevd and the kernel's USB
drivers. Each scenario prints one PASS/FAIL/XFAIL line with its time.

Usage: Tests/linux-guest/run.py --deb PKG.deb --old-deb OLDER.deb --ngbridge HOST-NGBRIDGE [--image DIR]
       [--rounds N] [--only a,c,...]
OLDER.deb is installed first and upgraded to PKG.deb after the scenarios (guest-test.sh makes it by
repacking PKG.deb as version 0.0.9).
ROUNDS=N in the environment is the same as --rounds N (hotplug rounds in scenario e).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import FTDIPlug, Guest, HostPad, RigError  # noqa: E402

APP_KEY = "881E674F-7891-4C20-AFD8-56FE2624C4B5"
SECRET = ("YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIz"
          "MH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A=")
PHONE = "8223281"          # the simulator's customer who accepts
APP_CODE = "5000041234"    # confirms at once
PERSONAL = [PHONE, APP_CODE, "1111111119"]
UNIT = "ngbridge.service"


class Expected(Exception):
    """A known gap: the scenario is reported XFAIL, not FAIL."""


class Rig:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="ngbridge-guest-")
        self.guest = Guest(args.image, self.work)
        self.results = []
        self.pad_no = 0

    # --- helpers ------------------------------------------------------------------------------

    def sh(self, script, timeout=60, check=True):
        return self.guest.sh(script, timeout=timeout, check=check)

    def pad(self, serial, script):
        self.pad_no += 1
        return HostPad(self.args.ngbridge, self.work, f"pad{self.pad_no}", serial, script)

    def wait_guest(self, condition, timeout=30, what="condition"):
        """Polls a shell condition inside the guest (one agent call); returns the seconds it took."""
        out, rc = self.sh(f"""
            t0=$(date +%s%N)
            for _ in $(seq {int(timeout * 20)}); do
                if {condition}; then echo "took-ms $(( ($(date +%s%N) - t0) / 1000000 ))"; exit 0; fi
                sleep 0.05
            done
            exit 1""", timeout=timeout + 10, check=False)
        if rc != 0:
            raise RigError(f"timed out after {timeout} s waiting for {what}")
        m = re.search(r"took-ms (\d+)", out)
        return int(m.group(1)) / 1000 if m else 0.0

    def linked(self, serial):
        return f"ngbridge terminals 2>/dev/null | grep -q '^{serial}  online'"

    def pay(self, amount, ref, serial, user=None, confirmation=None, timeout=90):
        who = f"runuser -u {user} -- " if user else ""
        conf = f" --confirmation {confirmation}" if confirmation else ""
        return self.sh(f"{who}ngbridge pay --amount {amount} --reference {ref} --terminal {serial}{conf} 2>&1",
                       timeout=timeout, check=False)

    def ftdi(self, serial, script):
        pad = self.pad(serial, script)
        plug = FTDIPlug(self.guest, pad, dev_id="u" + serial.lower())
        plug.plug()
        return pad, plug

    def journal_id(self):
        out, _ = self.sh(f"journalctl -u {UNIT} -o cat --no-pager | grep 'payment started' | tail -1")
        m = re.search(r"payment=([0-9a-fA-F-]{36})", out)
        if not m:
            raise RigError(f"no 'payment started' line in the journal: {out[-500:]}")
        return m.group(1)

    def final_state(self, pid, timeout=60):
        out, rc = self.sh(f"""
            for _ in $(seq {timeout * 5}); do
                s=$(ngbridge payment {pid} 2>/dev/null | sed -n 's/^state *\\([a-z-]*\\).*/\\1/p')
                case "$s" in paid|declined|cancelled|failed|unknown) echo "state=$s"; exit 0;; esac
                sleep 0.2
            done
            echo "state=${{s:-none}}"; exit 1""", timeout=timeout + 10, check=False)
        return re.search(r"state=(\S+)", out).group(1), rc == 0

    def ledger_count(self, ref):
        out, _ = self.sh("""exec 3<>/dev/tcp/127.0.0.1/8089
            printf 'GET /_sim/ledger HTTP/1.0\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' >&3; timeout 5 cat <&3""", check=False)
        return len(re.findall(r'"reference"\s*:\s*"' + re.escape(ref) + '"', out))

    # --- setup --------------------------------------------------------------------------------

    def make_payload(self):
        p = os.path.join(self.work, "payload")
        os.makedirs(p)
        shutil.copy(self.args.deb, p)
        shutil.copy(self.args.old_deb, p)
        with open(os.path.join(p, "netgiro-secret"), "w") as f:
            f.write(SECRET)
        img = os.path.join(self.work, "payload.img")
        size = (os.path.getsize(self.args.deb) + os.path.getsize(self.args.old_deb)) // (1 << 20) + 32
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "payload", "-d", p, img, f"{size}M"], check=True)
        return img

    def install(self):
        # The release before (the built package repacked with a lower version): the upgrade
        # scenario takes the guest from it, configured and running, to the built one.
        deb = os.path.basename(self.args.old_deb)
        out, _ = self.sh(f"""
            set -e
            mkdir -p /mnt/p && mount -o ro /dev/vdb /mnt/p
            dpkg -i /mnt/p/{deb}
            getent passwd ngbridge >/dev/null && getent group netgiro-pinpad | grep -q ngbridge
            stat -c '%a %U:%G' /etc/ngbridge | grep -qx '750 root:ngbridge'
            # What the integrator does next (README): the secret, the settings, the pad's ID.
            install -m 0640 -g ngbridge /mnt/p/netgiro-secret /etc/ngbridge/netgiro-secret
            cat >>/etc/ngbridge/ngbridge.env <<'EOF'
NGBRIDGE_NETGIRO_BASE_URL=http://127.0.0.1:8089/v1/
NGBRIDGE_NETGIRO_APP_KEY={APP_KEY}
NGBRIDGE_NETGIRO_SECRET_FILE=/etc/ngbridge/netgiro-secret
NGBRIDGE_DEVICE_MATCH=1209:0001,0403:6001
EOF
            # The QEMU adapter is an FTDI 0403:6001 with serial numbers PAD*: added to a copy of
            # the rule in /etc/udev/rules.d/, as udev/README.md tells an integrator to.
            sed '/ATTRS{{idVendor}}=="1209", ATTRS{{idProduct}}=="0001"/a SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="0403", ATTRS{{idProduct}}=="6001", ATTRS{{serial}}=="PAD*", ENV{{NETGIRO_PINPAD}}="1"' \\
                /usr/lib/udev/rules.d/70-netgiro-pinpad.rules >/etc/udev/rules.d/70-netgiro-pinpad.rules
            udevadm control --reload
            # Netgíró's simulator, on the guest's loopback.
            systemd-run --quiet --unit=netgiro-sim -p DynamicUser=yes /usr/bin/ngbridge sim netgiro --port 8089 --accept-delay-ms 4000
            for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/8089) 2>/dev/null && break; sleep 0.1; done
            systemctl enable --now {UNIT}
            systemctl is-active {UNIT}
            """, timeout=120)
        return out

    # --- scenarios ----------------------------------------------------------------------------

    def scenario_a(self):
        notes = []
        # 1. FTDI usb-serial, host end = `ngbridge sim pinpad` on the host.
        pad, plug = self.ftdi("PADF0001", f"timeout 120s\non prompt customer-id type {PHONE} ok after 300ms\nwait 3600s\n")
        t = self.wait_guest("[ -e /dev/netgiro-pinpad/PADF0001 ]", 20, "/dev/netgiro-pinpad/PADF0001")
        notes.append(f"ftdi node {t:.2f}s")
        self.check_node("PADF0001", "ttyUSB")
        t = self.wait_guest(self.linked("PADF0001"), 30, "the daemon to link PADF0001")
        notes.append(f"linked +{t:.2f}s")
        out, rc = self.pay(4990, "A-FTDI-1", "PADF0001")
        if rc != 0 or not re.search(r"state *paid", out):
            raise RigError(f"FTDI payment not paid (exit {rc}): {out[-800:]}")
        plug.remove()
        # 2. CDC-ACM gadget 1209:0001 in the guest; its device end ttyGS0 relayed to a host pad.
        acm = self.pad("ACMPAD01", f"timeout 120s\non prompt customer-id type {PHONE} ok after 300ms\nwait 3600s\n")
        self.sh("""
            set -e
            modprobe dummy_hcd; modprobe libcomposite
            mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
            G=/sys/kernel/config/usb_gadget/pad; mkdir -p $G; cd $G
            echo 0x1209 > idVendor; echo 0x0001 > idProduct
            mkdir -p strings/0x409; echo Netgiro > strings/0x409/manufacturer
            echo "Reference pad" > strings/0x409/product; echo ACMPAD01 > strings/0x409/serialnumber
            mkdir -p configs/c.1 functions/acm.usb0; ln -sf $G/functions/acm.usb0 configs/c.1/
            for _ in $(seq 50); do [ -e /dev/ttyGS0 ] && break; sleep 0.1; done
            systemd-run --quiet --unit=acm-relay socat /dev/ttyGS0,raw,echo=0 /dev/virtio-ports/padacm
            """)
        relay = subprocess.Popen(["socat", f"UNIX-CONNECT:{self.work}/padacm.sock", f"{os.path.realpath(acm.link)},raw,echo=0"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(f"{self.work}/relay.log", "wb"))
        try:
            self.sh("echo $(ls /sys/class/udc | head -1) > /sys/kernel/config/usb_gadget/pad/UDC")
            t = self.wait_guest("[ -e /dev/netgiro-pinpad/ACMPAD01 ]", 20, "/dev/netgiro-pinpad/ACMPAD01")
            notes.append(f"acm node {t:.2f}s")
            self.check_node("ACMPAD01", "ttyACM")
            t = self.wait_guest(self.linked("ACMPAD01"), 30, "the daemon to link ACMPAD01")
            notes.append(f"linked +{t:.2f}s")
            out, rc = self.pay(2990, "A-ACM-1", "ACMPAD01")
            if rc != 0 or not re.search(r"state *paid", out):
                raise RigError(f"CDC-ACM payment not paid (exit {rc}): {out[-800:]}")
        finally:
            self.sh("echo '' > /sys/kernel/config/usb_gadget/pad/UDC; systemctl stop acm-relay", check=False)
            relay.terminate()
            acm.stop()
        return ", ".join(notes)

    def check_node(self, serial, kind):
        out, _ = self.sh(f"""
            d=$(readlink -f /dev/netgiro-pinpad/{serial}); echo "dev=$d"
            stat -c 'mode=%a owner=%U:%G' "$d"
            udevadm info -q property -n "$d" | grep -E '^(ID_MM_DEVICE_IGNORE|NETGIRO_PINPAD)='""")
        if f"/dev/{kind}" not in out or "mode=660 owner=root:netgiro-pinpad" not in out \
                or "ID_MM_DEVICE_IGNORE=1" not in out:
            raise RigError(f"pad node for {serial} wrong: {out}")

    def scenario_b(self):
        out, _ = self.sh("systemctl is-active ModemManager.service; pgrep -x ModemManager; pgrep -x brltty || true", check=False)
        mm = "active" in out.splitlines()[0]
        if not mm:
            raise RigError(f"ModemManager is not running: {out}")
        brl = len(out.strip().splitlines()) >= 3
        if not brl:
            # brltty.service exits when no braille display is configured; start it as the udev
            # path would, scanning USB for displays.
            self.sh("systemd-run --quiet --unit=brltty-scan brltty -n -b auto -d usb: -q || true", check=False)
            self.wait_guest("pgrep -x brltty >/dev/null", 10, "brltty to run")
        # Watch both neighbours' open files while a pad is plugged and a payment is taken.
        self.sh("""cat >/run/watch-neighbours.sh <<'EOF'
while :; do
  for p in $(pgrep -x ModemManager) $(pgrep -x brltty); do
    ls -l /proc/$p/fd 2>/dev/null | grep -E 'tty(USB|ACM)' | sed "s|^|pid $p ($(cat /proc/$p/comm)): |"
  done
  sleep 0.05
done
EOF
            systemd-run --quiet --unit=watch-neighbours bash -c 'bash /run/watch-neighbours.sh >/run/neighbours.log 2>&1'""")
        pad, plug = self.ftdi("PADF0002", f"timeout 120s\non prompt customer-id type {PHONE} ok after 300ms\nwait 3600s\n")
        try:
            self.wait_guest(self.linked("PADF0002"), 30, "the daemon to link PADF0002")
            out, rc = self.pay(1990, "B-1", "PADF0002")
            if rc != 0 or not re.search(r"state *paid", out):
                raise RigError(f"payment beside ModemManager and brltty not paid (exit {rc}): {out[-800:]}")
            opened, _ = self.sh("systemctl stop watch-neighbours; cat /run/neighbours.log; mmcli -L 2>&1 | head -3; "
                                "pgrep -x brltty >/dev/null && echo brltty-running; pgrep -x ModemManager >/dev/null && echo mm-running")
        finally:
            plug.remove()
        if "pid " in opened:
            raise RigError(f"a neighbour opened the pad: {opened[:800]}")
        if "brltty-running" not in opened or "mm-running" not in opened:
            raise RigError(f"a neighbour stopped during the test: {opened}")
        return "ModemManager and brltty running, neither opened ttyUSB/ttyACM (/proc/PID/fd sampled every 50 ms); paid"

    def scenario_c(self):
        pad, plug = self.ftdi("PADF0003", f"timeout 120s\non prompt customer-id type {PHONE} ok after 300ms\nwait 3600s\n")
        try:
            self.sh("id till >/dev/null 2>&1 || useradd -m -G ngbridge till; id stranger >/dev/null 2>&1 || useradd -m stranger")
            self.wait_guest(self.linked("PADF0003"), 30, "the daemon to link PADF0003")
            out, rc = self.pay(1200, "C-TILL-1", "PADF0003", user="till")
            if rc != 0 or not re.search(r"state *paid", out):
                raise RigError(f"the till user's payment was not paid (exit {rc}): {out[-800:]}")
            out, rc = self.pay(1300, "C-STRANGER-1", "PADF0003", user="stranger", timeout=30)
        finally:
            plug.remove()
        if rc == 0:
            raise RigError(f"a user outside the group ngbridge could pay: {out[-500:]}")
        if "Permission denied" not in out and "permission" not in out.lower():
            raise RigError(f"the refusal does not say the kernel refused: {out[-500:]}")
        if "group ngbridge" not in out:
            raise RigError(f"the refusal does not say what to do (join group ngbridge): {out[-500:]}")
        return f"till (group ngbridge) paid; stranger refused, exit {rc}: {out.strip().splitlines()[-1][:160]}"

    def scenario_d(self):
        notes = []
        # Type=notify: `systemctl restart` returns at READY, and the socket answers then.
        out, _ = self.sh(f"""systemctl show -p Type --value {UNIT}
            t0=$(date +%s%N); systemctl restart {UNIT}; t1=$(date +%s%N)
            ngbridge terminals >/dev/null && echo "answers-at-ready $(( (t1 - t0) / 1000000 ))ms" """)
        if not out.startswith("notify") or "answers-at-ready" not in out:
            raise RigError(f"not Type=notify, or not answering when start returned: {out}")
        notes.append("notify, ready in " + out.split("answers-at-ready ")[1].strip())
        # systemd-analyze security of the installed unit.
        out, _ = self.sh(f"systemd-analyze security {UNIT} --no-pager | tail -1")
        m = re.search(r"exposure level for \S+: ([0-9.]+)", out)
        if not m or float(m.group(1)) > 2.0:
            raise RigError(f"systemd-analyze security: {out.strip()} (want <= 2.0)")
        notes.append(f"security {m.group(1)}")
        # The watchdog restarts a frozen daemon. WatchdogSec is shortened by a drop-in so the test
        # waits seconds, not the unit's 30 s; the mechanism is the same.
        pad, plug = self.ftdi("PADF0004", f"""timeout 300s
on prompt customer-id type {PHONE} ok after 300ms
on prompt customer-id
wait 3600s
""")
        try:
            out, _ = self.sh(f"""
                mkdir -p /run/systemd/system/{UNIT}.d
                printf '[Service]\\nWatchdogSec=5s\\n' >/run/systemd/system/{UNIT}.d/watchdog-test.conf
                systemctl daemon-reload; systemctl restart {UNIT}
                pid=$(systemctl show -p MainPID --value {UNIT}); n0=$(systemctl show -p NRestarts --value {UNIT})
                kill -STOP $pid; t0=$(date +%s)
                for _ in $(seq 300); do
                    new=$(systemctl show -p MainPID --value {UNIT})
                    [ "$new" != "$pid" ] && [ "$new" != 0 ] && systemctl is-active -q {UNIT} && break
                    sleep 0.1
                done
                echo "restarted after $(( $(date +%s) - t0 ))s pid $pid -> $new restarts $n0 -> $(systemctl show -p NRestarts --value {UNIT})"
                journalctl --no-pager -o cat | grep -i 'ngbridge.service: watchdog timeout' | tail -1
                rm /run/systemd/system/{UNIT}.d/watchdog-test.conf; systemctl daemon-reload""", timeout=90)
            m = re.search(r"restarts (\d+) -> (\d+)", out)
            if not m or int(m.group(2)) <= int(m.group(1)) or "pid" not in out:
                raise RigError(f"the watchdog did not restart the frozen daemon: {out}")
            notes.append("watchdog " + re.search(r"restarted after (\d+s)", out).group(1))
            # The daemon restarts into a normal unit, then links the pad again.
            self.sh(f"systemctl restart {UNIT}")
            self.wait_guest(self.linked("PADF0004"), 30, "the daemon to link PADF0004")
            # kill -9 while the customer decides in the app; systemd restarts it; the payment
            # ends in a final state from the journal, with one cart at Netgíró.
            before = self.sh(f"journalctl -u {UNIT} -o cat --no-pager | grep -c 'phase=awaitingCustomer' || true")[0].strip()
            self.sh(f"systemd-run --quiet --unit=pay-d1 ngbridge pay --amount 1500 --reference D-KILL-1 --terminal PADF0004")
            self.wait_guest(f"[ $(journalctl -u {UNIT} -o cat --no-pager | grep -c 'phase=awaitingCustomer') -gt {int(before or 0)} ]", 60,
                            "the customer to be deciding (phase=awaitingCustomer)")
            pid_pay = self.journal_id()
            out, _ = self.sh(f"""pid=$(systemctl show -p MainPID --value {UNIT}); kill -9 $pid
                for _ in $(seq 200); do new=$(systemctl show -p MainPID --value {UNIT})
                  [ "$new" != "$pid" ] && [ "$new" != 0 ] && systemctl is-active -q {UNIT} && break; sleep 0.1; done
                systemctl show -p NRestarts --value {UNIT}""")
            state, ok = self.final_state(pid_pay, 60)
            carts = self.ledger_count("D-KILL-1")
            if not ok or carts > 1:
                raise RigError(f"after kill -9 the payment {pid_pay} ended '{state}', {carts} carts at Netgíró")
            notes.append(f"kill -9 -> {state}, {carts} cart")
            # systemctl stop while the customer is asked: stops cleanly, the payment ends.
            self.wait_guest(self.linked("PADF0004"), 30, "the daemon to link PADF0004 again")
            self.sh(f"systemd-run --quiet --unit=pay-d2 ngbridge pay --amount 1600 --reference D-STOP-1 --terminal PADF0004")
            pad.wait_for("prompt   customer-id opened", 2, 60)
            pid_pay = self.journal_id()
            out, _ = self.sh(f"""t0=$(date +%s%N); systemctl stop {UNIT}; echo "stop $(( ($(date +%s%N) - t0) / 1000000 ))ms"
                systemctl show -p Result -p ExecMainStatus {UNIT}; systemctl start {UNIT}""")
            if "Result=success" not in out or "ExecMainStatus=0" not in out:
                raise RigError(f"systemctl stop during a payment was not clean: {out}")
            state, ok = self.final_state(pid_pay, 60)
            if not ok:
                raise RigError(f"the payment stopped with the daemon has no final state ({state})")
            notes.append(f"stop mid-prompt clean ({out.split()[1]}) -> {state}")
        finally:
            plug.remove()
        return ", ".join(notes)

    def scenario_e(self):
        rounds = self.args.rounds
        script = ["timeout 300s"]
        for _ in range(rounds):
            script += ["on prompt customer-id", f"on prompt customer-id type {PHONE} ok after 300ms"]
        script.append("wait 3600s")
        pad, plug = self.ftdi("PADF0005", "\n".join(script) + "\n")
        times = []
        try:
            self.wait_guest(self.linked("PADF0005"), 30, "the daemon to link PADF0005")
            for r in range(rounds):
                ref = f"E-HOTPLUG-{r + 1}"
                self.sh(f"systemctl reset-failed pay-e 2>/dev/null; systemd-run --quiet --unit=pay-e -p StandardOutput=file:/run/pay-e.out "
                        f"ngbridge pay --amount {2000 + r} --reference {ref} --terminal PADF0005")
                pad.wait_for("prompt   customer-id opened", 2 * r + 1, 60)
                plug.unplug()
                self.wait_guest("! [ -e /dev/netgiro-pinpad/PADF0005 ]", 10, "the pad's node to go")
                time.sleep(0.5)
                plug.plug()
                t = self.wait_guest(self.linked("PADF0005"), 40, "the daemon to link PADF0005 after the replug")
                times.append(t)
                out, _ = self.sh("for _ in $(seq 600); do systemctl is-active -q pay-e || break; sleep 0.1; done; "
                                 "cat /run/pay-e.out; systemctl show -p ExecMainStatus --value pay-e", timeout=90)
                if "state" not in out or not re.search(r"state *(paid|cancelled|declined|failed)", out):
                    raise RigError(f"round {r + 1}: the payment did not end cleanly: {out[-800:]}")
                if self.ledger_count(ref) > 1:
                    raise RigError(f"round {r + 1}: more than one cart for {ref}")
        finally:
            plug.remove()
        return f"{rounds} round(s), 0 lost, replug -> link up {', '.join(f'{t:.2f}s' for t in times)}"

    def scenario_f(self):
        leaked = []
        for p in PERSONAL:
            _, rc = self.sh(f"journalctl -u {UNIT} --no-pager -o cat | grep -c {p}", check=False)
            if rc == 0:
                leaked.append(p)
        if leaked:
            raise RigError(f"personal data in the journal: {len(leaked)} identifier(s) in clear")
        # An error an operator must see: a bad setting. The daemon refuses to start (78) with a line
        # naming the key; `journalctl -p err` must show that line.
        out, _ = self.sh(f"""
            mkdir -p /run/systemd/system/{UNIT}.d
            printf '[Service]\\nEnvironment=NGBRIDGE_API_SOCKET_MODE=bogus\\n' >/run/systemd/system/{UNIT}.d/bad.conf
            systemctl daemon-reload; systemctl restart {UNIT}; echo "restart=$?"
            sleep 1
            echo "--- err"; journalctl -u {UNIT} -p err --no-pager -o cat SYSLOG_IDENTIFIER=ngbridge | grep socket-mode | tail -2
            echo "--- all"; journalctl -u {UNIT} --no-pager -o json SYSLOG_IDENTIFIER=ngbridge | grep socket-mode | grep -o '"PRIORITY":"[0-9]"' | tail -1
            rm /run/systemd/system/{UNIT}.d/bad.conf; systemctl daemon-reload; systemctl reset-failed {UNIT}; systemctl start {UNIT}""",
            timeout=90)
        err = out.split("--- err")[1].split("--- all")[0].strip()
        if "restart=0" in out:
            raise RigError("the daemon started with api.socket-mode=bogus")
        if err:
            return "bad setting shown at -p err: " + err.splitlines()[-1][:140] + "; no personal data in the journal"
        prio = re.search(r'"PRIORITY":"(\d)"', out.split("--- all")[1])
        if prio and prio.group(1) == "6":
            raise Expected("no personal data in the journal; the daemon's error line (api.socket-mode) has "
                           "priority 6 (info): journald priorities are not in this build, so -p err misses it")
        raise RigError(f"journalctl -p err does not show the refused setting: {out[-600:]}")

    # --- running ------------------------------------------------------------------------------

    def run_scenario(self, name, title, fn):
        t0 = time.monotonic()
        try:
            detail = fn()
            status = "PASS"
        except Expected as e:
            status, detail = "XFAIL", str(e)
        except Exception as e:  # noqa: BLE001 - every failure is reported, the rig goes on
            status, detail = "FAIL", f"{e}"
            if os.environ.get("GUEST_DEBUG"):
                traceback.print_exc()
                try:
                    print(self.sh(f"journalctl -u {UNIT} -n 40 --no-pager -o short-monotonic; ngbridge terminals", check=False)[0])
                except Exception:  # noqa: BLE001
                    pass
        dt = time.monotonic() - t0
        print(f"{status:5} {name}. {title} ({dt:.1f} s): {detail}", flush=True)
        self.results.append((name, status))

    def main(self):
        t0 = time.monotonic()
        try:
            img = self.make_payload()
            self.guest.boot(img)
            print(f"guest booted in {time.monotonic() - t0:.1f} s", flush=True)
            t1 = time.monotonic()
            self.install()
            print(f"PASS  install: dpkg -i (0.0.9), users, /etc/ngbridge, daemon started ({time.monotonic() - t1:.1f} s)", flush=True)
            plan = [("a", "plug: FTDI usb-serial and CDC-ACM gadget", self.scenario_a),
                    ("c", "permissions: till user pays, stranger refused", self.scenario_c),
                    ("d", "systemd: notify, security, watchdog, kill -9, stop", self.scenario_d),
                    ("e", "hotplug mid-prompt", self.scenario_e),
                    ("b", "neighbours: ModemManager and brltty", self.scenario_b),
                    ("f", "logs: priorities, no personal data", self.scenario_f)]
            for name, title, fn in plan:
                if self.args.only and name not in self.args.only:
                    continue
                self.run_scenario(name, title, fn)
            self.run_scenario("upgrade", "upgrade from 0.0.9, edited conffile, daemon running", self.upgrade)
            self.run_scenario("purge", "remove and purge", self.purge)
        except Exception as e:  # noqa: BLE001
            print(f"FAIL  rig: {e}", flush=True)
            print(self.guest.console_tail(), file=sys.stderr)
            self.results.append(("rig", "FAIL"))
        finally:
            self.guest.shutdown()
            if not os.environ.get("GUEST_KEEP"):
                shutil.rmtree(self.work, ignore_errors=True)
            else:
                print(f"kept {self.work}")
        failed = [n for n, s in self.results if s == "FAIL"]
        print(f"linux-guest: {len(self.results) - len(failed)} of {len(self.results)} passed or expected-failed "
              f"in {time.monotonic() - t0:.1f} s" + (f"; failed: {' '.join(failed)}" if failed else ""))
        return 1 if failed else 0

    def upgrade(self):
        """0.0.9 installed, its conffile edited by the integrator (install()), the daemon running
        with the payments of the scenarios before in its journal: `dpkg -i` of the built package,
        non-interactive, as an unattended upgrade would run it."""
        deb = os.path.basename(self.args.deb)
        facts = f"""
            echo "version=$(dpkg-query -W -f '${{Version}} ${{db:Status-Status}}' netgiro-pos-bridge)"
            echo "active=$(systemctl is-active {UNIT})"
            pid=$(systemctl show -p MainPID --value {UNIT}); echo "pid=$pid"
            echo "exe=$(readlink /proc/$pid/exe) inode=$(stat -L -c %i /proc/$pid/exe 2>/dev/null) file=$(stat -c %i /usr/bin/ngbridge)"
            echo "env=$(sha256sum </etc/ngbridge/ngbridge.env | cut -c1-16) edited=$(grep -c '^NGBRIDGE_NETGIRO_APP_KEY=' /etc/ngbridge/ngbridge.env)"
            echo "leftovers=$(ls /etc/ngbridge | grep -c 'dpkg-' || true)"
            echo "accounts=$(getent passwd ngbridge | cut -d: -f1,3,4) $(getent group ngbridge netgiro-pinpad | tr '\\n' ' ')"
            echo "etc=$(stat -c '%a %U:%G' /etc/ngbridge) secret=$(stat -c '%a %U:%G' /etc/ngbridge/netgiro-secret)"
            echo "rules=$(ls /usr/lib/udev/rules.d/70-netgiro-pinpad.rules /etc/udev/rules.d/70-netgiro-pinpad.rules 2>/dev/null | wc -l) ftdi=$(grep -c 'ATTRS{{serial}}=="PAD\\*"' /etc/udev/rules.d/70-netgiro-pinpad.rules)"
            echo "sysusers=$(ls /usr/lib/sysusers.d/netgiro-pos-bridge.conf)"
            echo "journal=$(stat -c '%i %U' /var/lib/ngbridge/journal.sqlite)"
            # The first and the last payment of the journal (each lookup starts the CLI: slow
            # under TCG, so not all of them).
            ids=$(journalctl -u {UNIT} -o cat --no-pager | sed -n 's/.*payment started.*payment=\\([0-9a-fA-F-]\\{{36\\}}\\).*/\\1/p' | awk '!seen[$0]++')
            echo "started=$(echo "$ids" | grep -c .)"
            for id in $( (echo "$ids" | head -1; echo "$ids" | tail -1) | awk 'NF && !seen[$0]++'); do
                echo "payment $id $(ngbridge payment $id 2>&1 | sed -n 's/^state *\\([a-z-]*\\).*/\\1/p')"
            done"""
        before, _ = self.sh(facts)
        out, rc = self.sh(f"""
            t0=$(date +%s%N)
            # No --force-conf*: what Debian does by default. stdin is not a terminal, so a
            # conffile question would end dpkg with an error rather than hang.
            dpkg -i /mnt/p/{deb} </dev/null >/run/upgrade.log 2>&1; echo "dpkg-rc=$?"
            echo "took-ms $(( ($(date +%s%N) - t0) / 1000000 ))"
            for _ in $(seq 100); do systemctl is-active -q {UNIT} && break; sleep 0.1; done
            echo "--- verify"; dpkg --verify netgiro-pos-bridge
            echo "--- log"; cat /run/upgrade.log""", timeout=400, check=False)
        after, _ = self.sh(facts)
        f0 = dict(re.findall(r"^(\w+)=(.*)$", before, re.M))
        f1 = dict(re.findall(r"^(\w+)=(.*)$", after, re.M))
        log = out.split("--- log")[1]
        if "dpkg-rc=0" not in out:
            raise RigError("dpkg -i of the new version failed: " + " | ".join(log.strip().splitlines()[-14:]))
        if re.search(r"Configuration file|\*\*\* ngbridge\.env", log):
            raise RigError("dpkg asked about the conffile: " + " | ".join(log.strip().splitlines()[-14:]))
        if not f0.get("version", "").startswith("0.0.9 installed"):
            raise RigError(f"not the old version before the upgrade: {f0.get('version')}")
        new_version = f1.get("version", "")
        if new_version.startswith("0.0.9") or not new_version.endswith(" installed"):
            raise RigError(f"after the upgrade dpkg-query -W says {new_version!r}")
        if f0.get("active") != "active" or f1.get("active") != "active":
            raise RigError(f"the daemon was not running before and after: {f0.get('active')} -> {f1.get('active')}")
        if f1.get("pid") == f0.get("pid"):
            raise RigError(f"the daemon was not restarted (MainPID {f0.get('pid')} before and after)")
        exe = re.match(r"(\S+) inode=(\d+) file=(\d+)", f1.get("exe", ""))
        if not exe or exe.group(1) != "/usr/bin/ngbridge" or exe.group(2) != exe.group(3):
            raise RigError(f"the daemon does not run the installed /usr/bin/ngbridge: {f1.get('exe')}")
        if exe.group(3) == re.search(r"file=(\d+)", f0.get("exe", "")).group(1):
            raise RigError("/usr/bin/ngbridge is the same file as before the upgrade")
        if f1.get("env") != f0.get("env") or not f1.get("env", "").endswith("edited=1"):
            raise RigError(f"the edited conffile changed: {f0.get('env')} -> {f1.get('env')}")
        if f1.get("leftovers") != "0":
            raise RigError(f"dpkg left a .dpkg-new/.dpkg-dist beside the conffile: {f1.get('leftovers')}")
        for key in ("accounts", "etc", "rules", "sysusers", "journal", "started"):
            if f1.get(key) != f0.get(key):
                raise RigError(f"{key} changed in the upgrade: {f0.get(key)!r} -> {f1.get(key)!r}")
        if "netgiro-pinpad" not in f1.get("accounts", "") or f1.get("rules", "").split()[0] != "2" \
                or f1.get("etc") != "750 root:ngbridge secret=640 root:ngbridge":
            raise RigError(f"users, rules or /etc/ngbridge wrong: {f1}")
        verify = out.split("--- verify")[1].split("--- log")[0].strip().splitlines()
        if [v for v in verify if not v.endswith(" c /etc/ngbridge/ngbridge.env")]:
            raise RigError(f"dpkg --verify: files differ from the package: {verify}")
        p0 = re.findall(r"^payment (\S+) (\S*)$", before, re.M)
        p1 = re.findall(r"^payment (\S+) (\S*)$", after, re.M)
        if p1 != p0 or any(not s for _, s in p1):
            raise RigError(f"the journal's payments changed in the upgrade: {p0} -> {p1}")
        took = int(re.search(r"took-ms (\d+)", out).group(1)) / 1000
        return (f"0.0.9 -> {new_version.split()[0]} in {took:.1f}s, no prompt; restarted (pid {f0['pid']} -> "
                f"{f1['pid']}, new /usr/bin/ngbridge); conffile edit kept, dpkg --verify clean; users, groups, "
                f"udev rules kept; journal kept ({f1['started']} payments, first and last looked up: "
                f"{', '.join(st for _, st in p1) or 'none'})")

    def purge(self):
        out, _ = self.sh(f"""set -e
            dpkg -r netgiro-pos-bridge
            ! systemctl is-active -q {UNIT}
            [ ! -e /usr/bin/ngbridge ] && [ ! -e /usr/lib/udev/rules.d/70-netgiro-pinpad.rules ]
            [ -e /etc/ngbridge/ngbridge.env ]   # a conffile stays until purge
            dpkg --purge netgiro-pos-bridge
            [ ! -e /etc/ngbridge ] && [ ! -e /var/lib/ngbridge ]
            ! dpkg-statoverride --list /etc/ngbridge
            dpkg -i /mnt/p/{os.path.basename(self.args.deb)} >/dev/null
            echo reinstalled""", timeout=400)
        return "removed (conffile kept), purged (/etc/ngbridge, /var/lib/ngbridge gone), installed again"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deb", required=True)
    ap.add_argument("--old-deb", required=True, help="an older version of the package, installed first")
    ap.add_argument("--ngbridge", required=True, help="ngbridge on the host (the pad simulator)")
    ap.add_argument("--image", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.cache/guest"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "1")))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    args.deb = os.path.abspath(args.deb)
    args.old_deb = os.path.abspath(args.old_deb)
    args.ngbridge = os.path.abspath(args.ngbridge)
    args.image = os.path.abspath(args.image)
    args.only = [s for s in args.only.split(",") if s]
    return Rig(args).main()


if __name__ == "__main__":
    sys.exit(main())
