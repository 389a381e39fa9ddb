# Sourced by the benchmark scripts. With ISOLATE=name set, the platform they
# start runs beside another one on the same servers: its ports 10000 above
# the defaults, its own databases (name_users, name_orders, name_catalog),
# RabbitMQ vhost (made with rabbitmqctl) and Redis key prefixes. It sets
# $gateway to the gateway's URL either way, and defines wait_ready.
gateway=http://localhost:8080
if [ -n "${ISOLATE:-}" ]; then
	ns=$ISOLATE
	isolate_pg=${PG:-postgres://postgres@localhost:5432}
	export USERS_ADDR=127.0.0.1:18081 PRODUCTS_ADDR=127.0.0.1:18082 ORDERS_ADDR=127.0.0.1:18083 \
		SEARCH_ADDR=127.0.0.1:18084 WEB_ADDR=127.0.0.1:18090 GATEWAY_ADDR=127.0.0.1:18080 \
		PUBLIC_URL=http://localhost:18081 AUTH_JWKS_URL=http://localhost:18081/.well-known/jwks.json \
		SEARCH_PRODUCTS_URL=http://localhost:18082 ORDERS_PRODUCTS_URL=http://localhost:18082 \
		WEB_API_URL=http://localhost:18080 \
		USERS_DATABASE_URL=$isolate_pg/${ns}_users?sslmode=disable ORDERS_DATABASE_URL=$isolate_pg/${ns}_orders?sslmode=disable \
		FERRETDB_POSTGRES_URL=$isolate_pg/${ns}_catalog?sslmode=disable \
		RABBITMQ_URL=amqp://guest:guest@localhost:5672/$ns \
		PRODUCTS_CACHE_PREFIX=$ns:products: GATEWAY_RATE_PREFIX=$ns:gateway:
	rabbitmqctl add_vhost "$ns" >/dev/null 2>&1 || true
	rabbitmqctl set_permissions -p "$ns" guest '.*' '.*' '.*' >/dev/null
	gateway=http://localhost:18080
fi

# wait_ready waits up to two minutes for the gateway's /readyz.
wait_ready() {
	for _ in $(seq 120); do
		curl -sf "$gateway/readyz" >/dev/null && return 0
		sleep 1
	done
	echo "the platform at $gateway did not become ready" >&2
	return 1
}
