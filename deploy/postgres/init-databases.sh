#!/bin/bash
# One role and one database per service (portal_<service>, owned by the role <service>), as
# `make run` names them. The PostgreSQL image runs this once, when its data volume is new.
# Passwords come from <SERVICE>_DB_PASSWORD (deploy/.env); they go into database URLs, so use
# URL-safe ones (letters and digits: `openssl rand -hex 32`).
#
# No service may connect to another's database: CONNECT is revoked from PUBLIC and granted to the
# owner only. Each database's owner may create the trusted extensions its migrations ask for
# (unaccent, pg_trgm for the catalogue).
set -euo pipefail

for service in identity catalogue dossier payment sync feedback notification; do
    variable="${service^^}_DB_PASSWORD"
    password="${!variable:-}"
    if [[ -z "$password" ]]; then
        echo "init-databases: $variable is not set" >&2
        exit 1
    fi
    psql --no-psqlrc --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=role="$service" --set=database="portal_$service" --set=password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";
SQL
done
