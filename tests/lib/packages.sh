# tests/lib/packages.sh - installs what is missing of tests/packages, the
# one list of Debian packages. Sourced by tests/run and examples/quickstart
# (bash), so that both install the same way:
#
#   . tests/lib/packages.sh
#   sp_install_packages SECTION...    (run from the repository's root)
#
# Installs the packages of the named sections, and of [node] when there is
# no node or npm on PATH, that dpkg does not list as installed. Returns 0,
# or 1 with the reason on stderr (missing packages and not root, apt-get
# failed).

# The package names in the given sections of tests/packages, one a line.
sp_list_packages() {
  awk -v want=" $* " '
    /^\[.*\]/ { section = substr($1, 2, length($1) - 2); next }
    { sub(/#.*/, "") }
    index(want, " " section " ") { for (i = 1; i <= NF; i++) print $i }' tests/packages
}

sp_install_packages() {
  local sections=("$@") packages=() missing=() name st p
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || sections+=(node)
  mapfile -t packages < <(sp_list_packages "${sections[@]}")
  declare -A installed=()
  # One dpkg-query for all: a start with everything installed stays quick.
  while read -r name st; do
    [ "$st" = "install ok installed" ] && installed[$name]=1
  done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
  for p in "${packages[@]}"; do
    [ -n "${installed[$p]:-}" ] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  printf 'installing %s\n' "${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    printf 'missing packages; run as root to install them: %s\n' "${missing[*]}" >&2
    return 1
  fi
  # Debian starts a package's service when it installs it: nginx would
  # start on port 80 with the stock site (and where there is no init
  # system to start it, fail the install). Nothing here is meant to run as
  # a system service - the scripts start what they need in the foreground -
  # so for the time of the install a policy-rc.d refuses every start
  # (unless the machine has one already, as containers do), and a service
  # that the install added is disabled for the next boot too. PostgreSQL's
  # server package would also make a cluster of its own ("main", on port
  # 5432) for that service to start; the tests start theirs (tests/lib/pg),
  # so for the time of the install postgresql-common is told not to.
  (
    undo=() undo_dir=
    trap 'rm -f "${undo[@]}"; [ -z "$undo_dir" ] || rmdir "$undo_dir"' EXIT
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      undo+=("$policy")
      printf '#!/bin/sh\n# examples/quickstart, tests/run: no service starts while they install\nexit 101\n' >"$policy"
      chmod 755 "$policy"
    fi
    conf_dir=/etc/postgresql-common/createcluster.d
    if [[ " ${missing[*]}" == *" postgresql-"[0-9]* ]] && [ ! -e "$conf_dir/spaceport.conf" ]; then
      [ -d "$conf_dir" ] || { mkdir -p "$conf_dir" && undo_dir=$conf_dir; }
      undo+=("$conf_dir/spaceport.conf")
      printf '# examples/quickstart, tests/run: no cluster of its own while they install\ncreate_main_cluster = false\n' \
        >"$conf_dir/spaceport.conf"
    fi
    services_before=$(ls /etc/init.d 2>/dev/null || true)
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || exit 1
    for service in $(comm -13 <(printf '%s\n' "$services_before") <(ls /etc/init.d 2>/dev/null)); do
      update-rc.d "$service" disable >/dev/null 2>&1 || true
      if [ -d /run/systemd/system ]; then
        systemctl disable --quiet "$service" 2>/dev/null || true
      fi
    done
  ) || { printf 'apt-get could not install: %s\n' "${missing[*]}" >&2; return 1; }
}
