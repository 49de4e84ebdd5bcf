#!/usr/bin/env bash
# Shared set-up for the README's two commands: a project virtual environment with Baoling and
# its test extra, plus the Debian packages the tests drive (oathtool, PostgreSQL, radclient,
# FreeRADIUS, OpenVPN, sshd with pam_radius_auth, ...).
# Idempotent: a second run only checks.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"

need_debs=()
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_debs+=(python3-venv)  # Debian splits it out
command -v oathtool >/dev/null 2>&1 || need_debs+=(oathtool)
command -v radclient >/dev/null 2>&1 || need_debs+=(freeradius-utils)
[ -x /usr/sbin/freeradius ] || need_debs+=(freeradius)  # tests/test_radius_freeradius_proxy.py
[ -x /usr/sbin/openvpn ] || need_debs+=(openvpn)  # tests/test_vpn_openvpn.py
command -v curl >/dev/null 2>&1 || need_debs+=(curl)  # docs/verifier.md's HTTP example
command -v systemd-analyze >/dev/null 2>&1 || need_debs+=(systemd)  # tests/test_deploy.py
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_debs+=(postgresql)
# labels in other scripts are rendered with it (provisioning/label_bitmap.py)
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need_debs+=(fonts-wqy-zenhei)
[ -x /usr/sbin/sshd ] || need_debs+=(openssh-server)  # tests/test_ssh_pam.py
ls /lib/*/security/pam_radius_auth.so >/dev/null 2>&1 || need_debs+=(libpam-radius-auth)
[ -x /usr/bin/sudo ] || need_debs+=(sudo)  # tests/test_ssh_pam.py runs sudo in a session
command -v /usr/sbin/slapd >/dev/null 2>&1 || need_debs+=(slapd)  # tests/fixtures_ldap.py
command -v ldapadd >/dev/null 2>&1 || need_debs+=(ldap-utils)  # seeds its entries
[ -x /usr/bin/chromium ] || need_debs+=(chromium)  # the console's browser tests
[ -x /usr/bin/chromedriver ] || need_debs+=(chromium-driver)  # Selenium drives it through this
if [ ${#need_debs[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${need_debs[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

stamp="$venv/.baoling-installed"
if [ ! -x "$venv/bin/python" ]; then
    echo "bootstrap: creating virtual environment in .venv" >&2
    python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
    echo "bootstrap: installing Baoling and its test extra into .venv" >&2
    "$venv/bin/python" -m pip install -q --upgrade pip >&2
    # setuptools' editable install prints a long banner that reads like an error: keep pip's
    # output in a log and show it only when the install fails.
    log="$venv/pip-install.log"
    if ! "$venv/bin/python" -m pip install -q -e "$root[test]" >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
    touch "$stamp"
fi

# mypy cannot follow the editable install's import hook: give it the package as folders.
tree="$venv/mypy-tree/baoling"
mkdir -p "$tree"
for part in core provisioning verifier host_tools; do
    ln -sfn "$root/$part" "$tree/$part"
done
