#!/bin/bash
# One-shot (compose service mssql-init): creates the gateway's database and its SQL login, once. The gateway creates
# and migrates its own tables at start (`xmpp-teams-gateway migrate` does it on demand).
set -euo pipefail
SA_PASSWORD="$(cat /run/secrets/mssql-sa-password)"
XTG_PASSWORD="$(cat /run/secrets/xtg-mssql-password)"
# sqlcmd -v substitutes $(name); the password is passed as a variable, quotes doubled for T-SQL.
XTG_PASSWORD_SQL="${XTG_PASSWORD//\'/\'\'}"
/opt/mssql-tools18/bin/sqlcmd -C -b -S mssql -U sa -P "$SA_PASSWORD" -v XTG_PASSWORD="$XTG_PASSWORD_SQL" -Q "
IF DB_ID('xtg') IS NULL CREATE DATABASE xtg;
IF SUSER_ID('xtg') IS NULL CREATE LOGIN xtg WITH PASSWORD = '\$(XTG_PASSWORD)', CHECK_POLICY = ON;
"
/opt/mssql-tools18/bin/sqlcmd -C -b -S mssql -U sa -P "$SA_PASSWORD" -d xtg -Q "
IF USER_ID('xtg') IS NULL CREATE USER xtg FOR LOGIN xtg;
ALTER ROLE db_owner ADD MEMBER xtg;
"
echo "database xtg and login xtg ready"
