#!/bin/bash
# Runs once, after influxdb:2.7 has set up the org and bucket (/docker-entrypoint-initdb.d).
# Maps database "ansai" / retention policy "autogen" to the bucket, so InfluxQL over /query
# (Grafana's dashboards, ANSAI's reads) reaches the same data as the v2 write API.
set -euo pipefail

influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db ansai \
  --rp autogen \
  --default
