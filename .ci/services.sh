#!/usr/bin/env bash
# Install (Debian packages) and start on localhost the services of the cluster tests:
#   slurm     munge + slurmctld + slurmd, one node = this host (CPUs from nproc), no cgroups,
#             no accounting (tests/workflows/test_slurm.py)
#   postgres  PostgreSQL, with a role that may create the tests' databases
#   rabbitmq  RabbitMQ, consumer timeout off as AiiDA requires (tests/workflows/test_daemon_restart.py)
#
#   .ci/services.sh [slurm] [postgres] [rabbitmq]      (default: all three; run as root)
#
# Idempotent: a service that already answers is left alone.  It never fails the caller: a
# service that cannot be installed or started gets its reason written to
#   ${AIIDA_WIGNER_SERVICES:-/tmp/aiida-wigner-services}/<service>.unavailable
# (and printed); the tests that need it skip with that reason.  <service>.ok marks success.
# Logs of the daemons are in the same folder.  Connection settings for the tests:
#   PostgreSQL  localhost:5432, role aiida_wigner, password aiida_wigner (CREATEDB)
#   RabbitMQ    amqp://guest:guest@127.0.0.1:5672
set -uo pipefail

STATE=${AIIDA_WIGNER_SERVICES:-/tmp/aiida-wigner-services}
mkdir -p "$STATE"
services=("$@")
[ ${#services[@]} -eq 0 ] && services=(slurm postgres rabbitmq)

unavailable() {  # unavailable SERVICE REASON...
    local name=$1; shift
    rm -f "$STATE/$name.ok"
    echo "$*" > "$STATE/$name.unavailable"
    echo "services: $name unavailable: $*" >&2
}

available() {  # available SERVICE SECONDS
    rm -f "$STATE/$1.unavailable"
    echo "started in $2 s" > "$STATE/$1.ok"
    echo "services: $1 running (start: $2 s)"
}

wait_for() {  # wait_for SECONDS COMMAND...: true once COMMAND succeeds
    local limit=$1; shift
    for _ in $(seq "$limit"); do
        "$@" > /dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

install_packages() {  # install_packages SERVICE PACKAGE...: apt-get what is not installed yet
    local name=$1; shift
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get > /dev/null; then
        unavailable "$name" "Debian packages ${missing[*]} are not installed and this is not" \
                    "a root shell with apt-get: install them, or run .ci/services.sh as root"
        return 1
    fi
    local t0=$SECONDS
    if [ ! -e "$STATE/apt-updated" ]; then
        apt-get update -qq > "$STATE/apt.log" 2>&1 && touch "$STATE/apt-updated"
    fi
    # policy-rc.d-less images would start the packages' services here; we start them below.
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >> "$STATE/apt.log" 2>&1; then
        unavailable "$name" "apt-get install ${missing[*]} failed (log: $STATE/apt.log)"
        return 1
    fi
    echo "services: installed ${missing[*]} in $((SECONDS - t0)) s"
}

start_munge() {
    install_packages slurm munge || return 1
    if munge -n 2> /dev/null | unmunge > /dev/null 2>&1; then
        return 0
    fi
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key \
        || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2> /dev/null
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged > "$STATE/munged.log" 2>&1
    wait_for 10 sh -c "munge -n | unmunge"
}

write_slurm_conf() {
    local host cpus memory
    host=$(hostname -s)
    cpus=$(nproc)
    memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd
    cat > /etc/slurm/slurm.conf <<EOF
# Written by aiida-wigner's .ci/services.sh: one node (this host), no cgroups, no accounting.
ClusterName=localhost
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_slurm() {
    local t0=$SECONDS
    install_packages slurm slurm-wlm munge || return 0
    if ! start_munge; then
        unavailable slurm "munged does not start (log: $STATE/munged.log)"
        return 0
    fi
    if sinfo -h -o %T 2> /dev/null | grep -Eq '^(idle|mixed|allocated)'; then
        available slurm 0
        return 0
    fi
    write_slurm_conf
    pgrep -x slurmctld > /dev/null || /usr/sbin/slurmctld > "$STATE/slurmctld.out" 2>&1
    pgrep -x slurmd > /dev/null || /usr/sbin/slurmd > "$STATE/slurmd.out" 2>&1
    if ! wait_for 30 sh -c "sinfo -h -o %T | grep -Eq '^(idle|mixed|allocated)'"; then
        unavailable slurm "slurmctld/slurmd did not bring node $(hostname -s) up within 30 s:" \
                    "$(tail -n 2 "$STATE/slurmd.log" "$STATE/slurmctld.log" 2> /dev/null \
                       | tr '\n' ' ')"
        return 0
    fi
    # the real check: a batch job runs and writes its output
    local out="$STATE/sbatch-check.out"
    rm -f "$out"
    if ! sbatch --quiet --output="$out" --wrap hostname > /dev/null 2>&1 \
            || ! wait_for 30 test -s "$out"; then
        unavailable slurm "sbatch --wrap hostname produced no output within 30 s" \
                    "(logs: $STATE/slurmd.log, $STATE/slurmctld.log)"
        return 0
    fi
    available slurm $((SECONDS - t0))
}

start_postgres() {
    local t0=$SECONDS
    install_packages postgres postgresql || return 0
    local version
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    if ! pg_lsclusters -h 2> /dev/null | grep -q "^$version main"; then
        pg_createcluster "$version" main > "$STATE/postgres.log" 2>&1
    fi
    if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
        pg_ctlcluster "$version" main start >> "$STATE/postgres.log" 2>&1
    fi
    if ! wait_for 30 runuser -u postgres -- psql -qAtc "select 1"; then
        unavailable postgres "the PostgreSQL $version cluster does not start" \
                    "(log: $STATE/postgres.log, /var/log/postgresql/)"
        return 0
    fi
    runuser -u postgres -- psql -qAt > /dev/null 2>> "$STATE/postgres.log" <<'EOF'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aiida_wigner') THEN
    CREATE ROLE aiida_wigner LOGIN CREATEDB PASSWORD 'aiida_wigner';
  END IF;
END $$;
EOF
    available postgres $((SECONDS - t0))
}

start_rabbitmq() {
    local t0=$SECONDS
    install_packages rabbitmq rabbitmq-server || return 0
    if rabbitmq-diagnostics -q check_running > /dev/null 2>&1; then
        available rabbitmq 0
        return 0
    fi
    # AiiDA's processes may wait longer than RabbitMQ's default 30 min consumer timeout
    if ! grep -qs consumer_timeout /etc/rabbitmq/advanced.config; then
        echo "[{rabbit, [{consumer_timeout, undefined}]}]." > /etc/rabbitmq/advanced.config
    fi
    mkdir -p /var/lib/rabbitmq /var/log/rabbitmq
    chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
    runuser -u rabbitmq -- rabbitmq-server -detached > "$STATE/rabbitmq.log" 2>&1
    if ! wait_for 60 rabbitmq-diagnostics -q check_running; then
        unavailable rabbitmq "rabbitmq-server did not start within 60 s" \
                    "(log: $STATE/rabbitmq.log, /var/log/rabbitmq/)"
        return 0
    fi
    available rabbitmq $((SECONDS - t0))
}

for service in "${services[@]}"; do
    case "$service" in
        slurm) start_slurm ;;
        postgres) start_postgres ;;
        rabbitmq) start_rabbitmq ;;
        *) echo "services: unknown service '$service' (slurm, postgres, rabbitmq)" >&2; exit 2 ;;
    esac
done
exit 0
