#!/usr/bin/env bash
# gpu-capture.sh writes, to standard output, the files and command output
# that berth's GPU detection reads on this host, as one txtar archive in the
# format of gpu/testdata/hosts (see gpu/gputest): sysfs PCI entries of the
# display controllers, /proc/driver/nvidia, /proc/devices, the GPU device
# nodes (as "c MAJOR:MINOR gid=GID" stand-ins), the dynamic linker's
# configuration, the NVIDIA libraries (names and links only, never their
# contents), CDI specs, the toolkit's hooks and
# nvidia-smi's answer to berth's query. Save it under gpu/testdata/hosts
# to make a real machine one of the golden tests:
#
#   scripts/gpu-capture.sh "A one-line description" >gpu/testdata/hosts/NAME.txtar
#
# Only the lines of /etc/group that name a GPU node's group are kept.
set -u
export LC_ALL=C

section() { printf -- '-- %s --\n' "$1"; }
file() { # file PATH: its content, ending in a newline
	[ -r "$1" ] || return 0
	section "$1"
	sed -e '$a\' "$1"
}
link_or_file() { # link_or_file PATH: a link as "PATH -> TARGET", else an empty stand-in
	if [ -L "$1" ]; then
		section "$1 -> $(readlink "$1")"
	elif [ -e "$1" ]; then
		section "$1"
	fi
}
node() { # node PATH: a device node's stand-in
	[ -c "$1" ] || return 0
	local maj min gid
	maj=$((16#$(stat -c %t "$1")))
	min=$((16#$(stat -c %T "$1")))
	gid=$(stat -c %g "$1")
	gids+=("$gid")
	section "$1"
	echo "c $maj:$min gid=$gid"
}

echo "${1:-A host captured by scripts/gpu-capture.sh} ($(uname -r), captured $(date -u +%F))"

for d in /sys/bus/pci/devices/*; do
	[ -e "$d/class" ] || continue
	case $(cat "$d/class") in 0x03*) ;; *) continue ;; esac
	file "$d/vendor"
	file "$d/device"
	file "$d/class"
	[ -L "$d/driver" ] && section "$d/driver -> $(readlink "$d/driver")"
	for n in "$d"/drm/card* "$d"/drm/renderD*; do
		[ -e "$n" ] && section "$n"
	done
done

file /proc/driver/nvidia/version
for f in /proc/driver/nvidia/gpus/*/information; do file "$f"; done
file /proc/devices

gids=()
shopt -s nullglob
for n in /dev/nvidia* /dev/nvidia-caps/* /dev/kfd /dev/dri/card* /dev/dri/renderD*; do
	node "$n"
done
if [ ${#gids[@]} -gt 0 ] && [ -r /etc/group ]; then
	section /etc/group
	for g in $(printf '%s\n' "${gids[@]}" | sort -u); do
		awk -F: -v g="$g" '$3 == g' /etc/group
	done
fi

file /etc/ld.so.conf
for f in /etc/ld.so.conf.d/*.conf; do file "$f"; done
for dir in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /lib/x86_64-linux-gnu /run/opengl-driver/lib /usr/lib/wsl/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
	[ -L "$dir" ] && continue # /lib -> usr/lib: listed once, under its target
	for f in "$dir"/libcuda.so* "$dir"/libnvidia-ml.so* "$dir"/libnvidia-ptxjitcompiler.so*; do
		link_or_file "$f"
	done
done

for f in /etc/cdi/*.yaml /etc/cdi/*.json /var/run/cdi/*.yaml /var/run/cdi/*.json; do file "$f"; done
for f in /usr/bin/nvidia-container-runtime-hook /usr/local/bin/nvidia-container-runtime-hook /usr/bin/nvidia-ctk /usr/bin/nvidia-cdi-hook; do
	link_or_file "$f"
done

if command -v nvidia-smi >/dev/null; then
	section cmd/nvidia-smi
	nvidia-smi --query-gpu=uuid,pci.bus_id,name,driver_version --format=csv,noheader
fi
