#!/bin/sh
# Start RabbitMQ with a config file written from the environment, so the password never
# appears in argv (`ps`, `docker inspect`) and no `rabbitmqctl add_user` call is needed: a fresh
# node creates `default_user` itself. The default `guest` user is not created at all (it could
# only log in from inside the container anyway). `exec` keeps the server as PID 1.
set -eu
: "${RABBITMQ_USER:?RABBITMQ_USER must be set (see docker/celery/overrides/amqp.env)}"
: "${RABBITMQ_PASSWORD:?RABBITMQ_PASSWORD must be set (see docker/celery/overrides/amqp.env)}"
home=/var/lib/rabbitmq
umask 077
# A fresh Erlang cookie per container: the image must not carry one shared by every copy.
rm -f "$home/.erlang.cookie"
od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$home/.erlang.cookie"
chmod 0400 "$home/.erlang.cookie"
cat >"$home/jobcheck.conf" <<CONF
listeners.tcp.default = 5672
default_user = ${RABBITMQ_USER}
default_pass = ${RABBITMQ_PASSWORD}
default_vhost = /
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
log.console = true
log.console.level = info
log.file = false
vm_memory_high_watermark.absolute = ${RABBITMQ_MEMORY:-256MiB}
disk_free_limit.absolute = 50MB
CONF
export RABBITMQ_CONFIG_FILE="$home/jobcheck.conf" HOME="$home"
# Debian's /usr/sbin/rabbitmq-server wraps the real script and sends its output to a log file;
# the real one logs to the console. The public image has only the one in PATH.
if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    exec /usr/lib/rabbitmq/bin/rabbitmq-server
fi
exec rabbitmq-server
