#!/bin/sh
# The compose nginx container's stage switch: render 00-common + one stage
# template into conf.d, the way the official image's envsubst step does (only
# variables set in the environment are replaced; nginx's own $names stay).
#
#   render-stage.sh nginx -g 'daemon off;'   entrypoint: render, then run nginx
#   render-stage.sh reload                   `make compose-set`: render, nginx -t, nginx -s reload
#
# compose.yaml mounts the whole nginx/ folder, so every stage's template is in
# the container and changing stage never recreates it (a recreate refused
# connections for ~3.9 s). It judges NGINX_MODE and CANARY_PERCENT by the rules
# of deploy/nginx.py's stage() (tests/unit/test_compose_stage.py holds the two
# to the same verdicts): a canary at 0 % is the stable stage, since nginx
# rejects "0%" in split_clients. The stage last set is kept in conf.d, so a
# container that restarts comes back in it. NGINX_CONF_DIR moves the output
# (the unit test renders outside a container).
#
# After a reload it waits (up to 10 s) until nginx reports the new stage on
# /stage (/health is the stable service's own answer).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
conf=${NGINX_CONF_DIR:-/etc/nginx/conf.d}
saved=$conf/churn-stage.env
fail() { echo "render-stage: $*" >&2; exit 2; }

mode=${NGINX_MODE:-shadow}
percent=${CANARY_PERCENT:-5}
if [ "${1:-}" != reload ] && [ -f "$saved" ]; then
  . "$saved"  # a restarted container keeps the stage `make compose-set` chose
fi

modes=$(cd "$here" && ls -- *.conf.template | sed -n 's/\.conf\.template$//p' | grep -vx 00-common | tr '\n' ' ')
case " $modes" in
  *" $mode "*) ;;
  *) fail "NGINX_MODE must be one of ${modes% }, not '$mode'" ;;
esac
case $percent in
  '' | *[!0-9]*) fail "CANARY_PERCENT must be a whole number 0..100, not '$percent'" ;;
esac
[ "$percent" -le 100 ] || fail "CANARY_PERCENT must be a whole number 0..100, not '$percent'"
stage=$mode
[ "$mode" = canary ] && [ "$percent" -eq 0 ] && stage=stable

export NGINX_MODE="$mode" CANARY_PERCENT="$percent"
defined=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
mkdir -p "$conf"
envsubst "$defined" <"$here/00-common.conf.template" >"$conf/.00-common.conf.new"
envsubst "$defined" <"$here/$stage.conf.template" >"$conf/.stage.conf.new"

if [ "${1:-}" = reload ]; then
  # Keep the running config until nginx -t accepts the new one.
  cp "$conf/00-common.conf" "$conf/.00-common.conf.old"
  cp "$conf/stage.conf" "$conf/.stage.conf.old"
fi
mv "$conf/.00-common.conf.new" "$conf/00-common.conf"
mv "$conf/.stage.conf.new" "$conf/stage.conf"

if [ "${1:-}" = reload ]; then
  if ! nginx -t -q; then
    mv "$conf/.00-common.conf.old" "$conf/00-common.conf"
    mv "$conf/.stage.conf.old" "$conf/stage.conf"
    fail "nginx -t rejected the $stage stage; nginx still serves the previous one"
  fi
  rm -f "$conf/.00-common.conf.old" "$conf/.stage.conf.old"
  printf 'mode=%s\npercent=%s\n' "$mode" "$percent" >"$saved"
  nginx -s reload
  path=/stage
  want="\"mode\":\"$stage\""
  [ "$stage" = canary ] && want="$want,\"candidate_percent\":$percent[,}]"
  tries=0
  until wget -q -T 2 -O - "http://127.0.0.1:${NGINX_LISTEN:-8080}$path" 2>/dev/null | grep -Eq "$want"; do
    tries=$((tries + 1))
    [ "$tries" -lt 50 ] || fail "nginx reloaded but $path does not report the $stage stage after 10 s"
    sleep 0.2
  done
  echo "render-stage: nginx serves the $stage stage"
  exit 0
fi
printf 'mode=%s\npercent=%s\n' "$mode" "$percent" >"$saved"
echo "render-stage: rendered the $stage stage into $conf"
[ $# -gt 0 ] && exec "$@"
exit 0
