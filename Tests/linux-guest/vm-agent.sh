#!/bin/bash
# Guest side of the rig's command channel: reads one shell command a line from the virtio-serial
# port "agent", runs it, answers its output and then "__END__ rc=N". The host end is a unix socket
# (Tests/linux-guest/guest.py).
PORT=/dev/virtio-ports/agent
echo "vm-agent: up at $(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
while true; do
    [ -e "$PORT" ] || { sleep 0.2; continue; }
    exec 3<>"$PORT"
    while IFS= read -r line <&3; do
        # 3>&-: a background job must not inherit the port, or the next open of it fails.
        out=$(bash -c "$line" 2>&1 </dev/null 3>&-); rc=$?
        printf '%s\n__END__ rc=%d\n' "$out" "$rc" >&3
    done
    exec 3>&-
    sleep 0.2
done
