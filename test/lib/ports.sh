# shellcheck shell=bash
# free_ports N: prints N distinct TCP ports (one a line) that nothing on this
# machine listens on or uses right now, picked at random from 20000-59999,
# so that runs side by side never meet. A port can still be taken between
# the pick and the bind: callers retry with new ports when a bind fails.
free_ports() {
    local n=$1 used="" port picked=() i tries=0 local_addr
    # local ports of every TCP socket (any state), IPv4 and IPv6, from /proc
    while read -r _ local_addr _; do
        [[ $local_addr == *:* ]] && used+="$((16#${local_addr##*:}))"$'\n'
    done < <(tail -q -n +2 /proc/net/tcp /proc/net/tcp6 2>/dev/null)
    while [ "${#picked[@]}" -lt "$n" ] && [ "$tries" -lt 1000 ]; do
        tries=$((tries + 1))
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        grep -qx "$port" <<<"$used" && continue
        for i in "${picked[@]+"${picked[@]}"}"; do [ "$i" = "$port" ] && continue 2; done
        picked+=("$port")
    done
    printf '%s\n' "${picked[@]}"
}
