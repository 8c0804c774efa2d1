#!/usr/bin/env bash
# failfast_config.sh: the two shipped copies of the Open MPI fail-fast
# settings (jobs/ompi-failfast.env, cluster/mca-params.conf) agree, name only
# parameters this Open MPI knows, and actually reach Open MPI (ompi_info shows
# the values with source "environment" / "file").
# Skips (77) without ompi_info.
set -u
SRC=${LLMPI_SOURCE_DIR:?}
command -v ompi_info >/dev/null || { echo "SKIP: ompi_info not installed"; exit 77; }
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
env_pairs=$(env -i bash -c ". '$SRC/jobs/ompi-failfast.env'; env" | sed -n 's/^OMPI_MCA_//p' | sort)
conf_pairs=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]*=[[:space:]]*/=/' "$SRC/cluster/mca-params.conf" | sort)
[ -n "$env_pairs" ] || fail "no settings in ompi-failfast.env"
[ "$env_pairs" = "$conf_pairs" ] && echo "ok: env file and mca-params.conf agree ($(wc -l <<<"$env_pairs") settings)" \
  || fail "env file and mca-params.conf differ: $(diff <(echo "$env_pairs") <(echo "$conf_pairs") | tr '\n' ' ')"
all=$(env -i PATH="$PATH" bash -c ". '$SRC/jobs/ompi-failfast.env'; ompi_info --all --parsable" 2>/dev/null)
while IFS='=' read -r key value; do
  line=$(grep -E "^mca:[a-z]+:[a-z]+:param:$key:value:" <<<"$all" | head -1)
  [ -n "$line" ] || { fail "$key: not a parameter of this Open MPI"; continue; }
  got=${line##*:value:}
  [ "$got" = "$value" ] || [ "$got:$value" = "true:1" ] && echo "ok: $key=$got from the environment" || fail "$key: ompi_info says '$got', want '$value'"
done <<<"$env_pairs"
# the conf file, loaded as a parameter file
line=$(env -i PATH="$PATH" OMPI_MCA_mca_param_files="$SRC/cluster/mca-params.conf" ompi_info --all --parsable 2>/dev/null \
       | grep "oob_tcp_keepalive_time:value:")
[ "${line##*:value:}" = 3 ] && echo "ok: mca-params.conf loads as a parameter file" || fail "mca-params.conf not applied: $line"
[ $fails -eq 0 ] && echo "failfast_config: all passed" || { echo "failfast_config: $fails failed"; exit 1; }
