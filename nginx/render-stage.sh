#!/bin/sh
# The compose nginx container's stage: render the config once, then switch
# stage by rewriting the files nginx reads per request (never a reload).
#
#   render-stage.sh nginx -g 'daemon off;'   entrypoint: render, write the stage, then run nginx
#   render-stage.sh set                      `make compose-set`: write the stage; nginx serves it at once
#
# compose.yaml mounts the whole nginx/ folder, so the templates are in the
# container and changing stage never recreates it (a recreate refused
# connections for ~3.9 s) nor reloads nginx (a reload's old workers close idle
# keep-alive connections, and a client already sending on one lost its
# request). The stage is files in STAGE_DIR that nginx/stage.conf.template
# tests on every request (`shadow`, `canary-a` or `canary-b` with its set of
# `a-bucket-NN`/`b-bucket-NN` files for each 1 % of a canary, and `stage.json`
# for /stage), written in the order of deploy/drivers/nginx.py's write_stage(): every
# switch takes effect in one atomic file operation. It judges NGINX_MODE and CANARY_PERCENT by the
# rules of deploy/rules/stages.py's stage() (tests/unit/test_compose_stage.py holds
# the two to the same verdicts and the same files): a canary at 0 % is the
# stable stage. The stage last set is kept in conf.d, so a container that
# restarts comes back in it. NGINX_CONF_DIR moves the output (the unit test
# renders outside a container); STAGE_DIR defaults to $NGINX_CONF_DIR/stage.
#
# After a switch it waits (up to 10 s) until nginx reports the new stage on
# /stage (/health is the stable service's own answer).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
conf=${NGINX_CONF_DIR:-/etc/nginx/conf.d}
STAGE_DIR=${STAGE_DIR:-$conf/stage}
saved=$conf/churn-stage.env
fail() { echo "render-stage: $*" >&2; exit 2; }

mode=${NGINX_MODE:-shadow}
percent=${CANARY_PERCENT:-5}
if [ "${1:-}" != set ] && [ -f "$saved" ]; then
  . "$saved"  # a restarted container keeps the stage `make compose-set` chose
fi

case $mode in
  stable | shadow | canary) ;;
  *) fail "NGINX_MODE must be one of stable, shadow, canary, not '$mode'" ;;
esac
case $percent in
  '' | *[!0-9]*) fail "CANARY_PERCENT must be a whole number 0..100, not '$percent'" ;;
esac
[ "$percent" -le 100 ] || fail "CANARY_PERCENT must be a whole number 0..100, not '$percent'"
percent=$(echo "$percent" | sed 's/^0*\([0-9]\)/\1/')  # 05 is 5 (as int() reads it), never octal
stage=$mode
[ "$mode" = canary ] && [ "$percent" -eq 0 ] && stage=stable

# The stage as files, in write_stage()'s order: a new canary share goes into the idle bucket set,
# then one touch or unlink makes it live (canary-b wins over canary-a, both over shadow).
buckets() {  # set NAME holds exactly buckets 00..N-1; no subshell per bucket, one rm for those to go
  set_name=$1 wanted=$2  # globals, as all of sh's: named apart from the rest of the script
  set --
  b=0
  while [ "$b" -lt 100 ]; do
    file=$STAGE_DIR/$set_name-bucket-$((b / 10))$((b % 10))
    if [ "$b" -lt "$wanted" ]; then
      [ -e "$file" ] || : >"$file"
    elif [ -e "$file" ]; then
      set -- "$@" "$file"
    fi
    b=$((b + 1))
  done
  [ $# -eq 0 ] || rm -f "$@"
}

write_stage() {
  mkdir -p "$STAGE_DIR"
  chmod 755 "$STAGE_DIR"
  live=
  [ -e "$STAGE_DIR/canary-a" ] && live=a
  [ -e "$STAGE_DIR/canary-b" ] && live=b
  if [ "$stage" = canary ]; then
    idle=a
    other=b
    [ "$live" = a ] && idle=b && other=a
    buckets "$idle" "$percent"
    [ -e "$STAGE_DIR/canary-$idle" ] || : >"$STAGE_DIR/canary-$idle"
    rm -f "$STAGE_DIR/canary-$other" "$STAGE_DIR/shadow"
    buckets "$other" 0
  else
    if [ "$stage" = shadow ]; then
      [ -e "$STAGE_DIR/shadow" ] || : >"$STAGE_DIR/shadow"
      rm -f "$STAGE_DIR/canary-a" "$STAGE_DIR/canary-b"
    else
      rm -f "$STAGE_DIR/canary-a" "$STAGE_DIR/canary-b" "$STAGE_DIR/shadow"
    fi
    buckets a 0
    buckets b 0
  fi
  if [ "$stage" = canary ]; then
    report="{\"mode\":\"canary\",\"candidate_percent\":$percent}"
  else
    report="{\"mode\":\"$stage\"}"
  fi
  printf '%s\n' "$report" >"$STAGE_DIR/.stage.json.new"
  chmod 644 "$STAGE_DIR/.stage.json.new"
  mv -f "$STAGE_DIR/.stage.json.new" "$STAGE_DIR/stage.json"
  printf 'mode=%s\npercent=%s\n' "$mode" "$percent" >"$saved.new"
  mv -f "$saved.new" "$saved"
}

mkdir -p "$conf"
if [ "${1:-}" = set ]; then
  write_stage
  want="\"mode\":\"$stage\""
  [ "$stage" = canary ] && want="$want,\"candidate_percent\":$percent[,}]"
  tries=0
  until wget -q -T 2 -O - "http://127.0.0.1:${NGINX_LISTEN:-8080}/stage" 2>/dev/null | grep -Eq "$want"; do
    tries=$((tries + 1))
    [ "$tries" -lt 50 ] || fail "nginx does not report the $stage stage on /stage after 10 s (STAGE_DIR=$STAGE_DIR)"
    sleep 0.2
  done
  echo "render-stage: nginx serves the $stage stage"
  exit 0
fi

export NGINX_MODE="$mode" CANARY_PERCENT="$percent" STAGE_DIR
defined=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
for name in 00-common stage; do
  envsubst "$defined" <"$here/$name.conf.template" >"$conf/.$name.conf.new"
  mv "$conf/.$name.conf.new" "$conf/$name.conf"
done
write_stage
echo "render-stage: rendered the config into $conf, the $stage stage into $STAGE_DIR"
[ $# -gt 0 ] && exec "$@"
exit 0
